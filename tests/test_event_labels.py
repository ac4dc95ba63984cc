"""Every action the code can record has a label a person reads, in English and in Chinese, in the one
place for them (registry/events.py)."""

import re
from pathlib import Path

import pytest
from django.utils import translation

from registry.events import LABELS

ROOT = Path(__file__).resolve().parent.parent
APPS = ("registry", "projects", "offsets")
# action="x.y" or "action": "x.y" (a literal), and action=f"x.{…}" (a family whose suffixes are the
# model's statuses).
LITERAL = re.compile(r"""action["']?\s*[=:]\s*["']([a-z_]+\.[a-z_]+)["']""")
FAMILY = re.compile(r"""action\s*=\s*f["']([a-z_]+)\.\{""")
# "x.y" given as a plain argument (the ledger's `_record(by, "credits.reserved", …)`): any literal whose
# subject is one the events already know, so a misspelt verb of a known subject is caught too.
SUBJECTS = "|".join(sorted({action.split(".")[0] for action in LABELS}))
KNOWN_SUBJECT = re.compile(rf"""["']((?:{SUBJECTS})\.[a-z_]+)["']""")


def recorded_actions() -> set[str]:
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts or path == ROOT / "registry" / "events.py":
                continue
            text = path.read_text(encoding="utf-8")
            found.update(LITERAL.findall(text))
            found.update(KNOWN_SUBJECT.findall(text))
            for prefix in FAMILY.findall(text):
                found.update(a for a in LABELS if a.startswith(prefix + "."))
                found.add(prefix + ".*")
    return found


def test_the_scan_finds_the_actions_of_every_app():
    actions = recorded_actions()
    assert {"organisation.verified", "case.assigned", "phase.registered", "objection.upheld"} <= actions


@pytest.mark.parametrize("action", sorted(a for a in recorded_actions() if not a.endswith(".*")))
def test_every_recorded_action_has_a_label_in_both_languages(action):
    assert action in LABELS, f"{action} has no label: timelines would show the raw key"
    english = str(LABELS[action])
    with translation.override("zh-hans"):
        chinese = str(LABELS[action])
    assert chinese != english, f"{action} ({english!r}) has no Chinese translation"
    assert re.search(r"[\u4e00-\u9fff]", chinese), f"{action}: {chinese!r} is not Chinese"


# "x.y": _("…") anywhere but the one place: an app keeping labels of its own again.
LABEL_ELSEWHERE = re.compile(r"""["'][a-z_]+\.[a-z_]+["']\s*:\s*_\(""")


def test_labels_live_in_one_place_only():
    elsewhere = [
        str(path.relative_to(ROOT))
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if path != ROOT / "registry" / "events.py"
        and "migrations" not in path.parts
        and LABEL_ELSEWHERE.search(path.read_text(encoding="utf-8"))
    ]
    assert elsewhere == [], "event labels belong in registry/events.py"
    with pytest.raises(TypeError):
        LABELS["phase.created"] = "no app adds or changes labels at start-up"


def test_every_name_is_subject_dot_verb_and_every_label_tells_its_event_apart():
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+", action) for action in LABELS)
    english = [str(label) for label in LABELS.values()]
    assert len(set(english)) == len(english), "two events read the same on a timeline"
