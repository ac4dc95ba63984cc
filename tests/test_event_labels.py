"""Every action the code can record has a label a person reads, in English and in Chinese."""

import re
from pathlib import Path

import pytest
from django.utils import translation

from registry.audit import ACTION_LABELS

ROOT = Path(__file__).resolve().parent.parent
APPS = ("registry", "projects", "offsets")
# action="x.y" or "action": "x.y" (a literal), and action=f"x.{…}" (a family whose suffixes are the
# model's statuses).
LITERAL = re.compile(r"""action["']?\s*[=:]\s*["']([a-z_]+\.[a-z_]+)["']""")
FAMILY = re.compile(r"""action\s*=\s*f["']([a-z_]+)\.\{""")


def recorded_actions() -> set[str]:
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            found.update(LITERAL.findall(text))
            for prefix in FAMILY.findall(text):
                found.update(a for a in ACTION_LABELS if a.startswith(prefix + "."))
                found.add(prefix + ".*")
    return found


def test_the_scan_finds_the_actions_of_every_app():
    actions = recorded_actions()
    assert {"organisation.verified", "case.assigned", "phase.registered"} <= actions


@pytest.mark.parametrize("action", sorted(a for a in recorded_actions() if not a.endswith(".*")))
def test_every_recorded_action_has_a_label_in_both_languages(action):
    assert action in ACTION_LABELS, f"{action} has no label: timelines would show the raw key"
    english = str(ACTION_LABELS[action])
    with translation.override("zh-hans"):
        chinese = str(ACTION_LABELS[action])
    assert chinese != english, f"{action} ({english!r}) has no Chinese translation"
    assert re.search(r"[\u4e00-\u9fff]", chinese), f"{action}: {chinese!r} is not Chinese"
