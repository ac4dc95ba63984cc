"""The README's screenshots (docs/screenshots.py, `make screenshots`): every picture the README shows is one
the script takes, and is there, at the promised size, within the size budget."""

import re
from importlib.util import module_from_spec, spec_from_file_location

from django.conf import settings
from PIL import Image

README = settings.BASE_DIR / "README.md"
FOLDER = settings.BASE_DIR / "docs" / "screenshots"


def load_script():
    spec = spec_from_file_location("screenshots", settings.BASE_DIR / "docs" / "screenshots.py")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_screenshot_the_readme_shows_is_taken_by_the_script():
    shown = re.findall(r"\]\(docs/screenshots/([\w-]+)\.png\)", README.read_text())
    assert len(shown) >= 10
    taken = {shot.name for shot in load_script().SHOTS}
    assert set(shown) - taken == set(), "the README shows a picture `make screenshots` does not take"


def test_the_screenshots_are_there_at_1366_by_768_and_small():
    script = load_script()
    names = sorted(path.stem for path in FOLDER.glob("*.png"))
    assert names == sorted(shot.name for shot in script.SHOTS), "run `make screenshots`"
    for path in FOLDER.glob("*.png"):
        with Image.open(path) as image:
            assert image.size == (1366, 768), path.name
    assert sum(path.stat().st_size for path in FOLDER.glob("*.png")) < 3_000_000
