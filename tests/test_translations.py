"""The Chinese catalogue is complete, free of fuzzy entries, and its committed .mo matches the .po."""

import ast
import gettext
from pathlib import Path

from django.conf import settings

PO = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def parse_po(path: Path) -> list[dict]:
    """Just enough of the PO format for our catalogue: msgctxt, msgid, msgid_plural, msgstr[n], flags."""
    entries, entry, field = [], {}, None
    for raw in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = raw.strip()
        if not line:
            if entry:
                entries.append(entry)
            entry, field = {}, None
        elif line.startswith("#,"):
            entry["flags"] = line[2:]
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[field] += ast.literal_eval(line)
        else:
            field, _, value = line.partition(" ")
            entry[field] = ast.literal_eval(value)
    return [e for e in entries if e.get("msgid")]


def test_every_message_is_translated_and_none_is_fuzzy():
    entries = parse_po(PO)
    assert entries, "the catalogue is empty"
    untranslated = [e["msgid"] for e in entries if not (e.get("msgstr") or e.get("msgstr[0]"))]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e.get("flags", "")]
    assert untranslated == []
    assert fuzzy == []


def test_compiled_catalogue_matches_the_source():
    with PO.with_suffix(".mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for entry in parse_po(PO):
        if "msgid_plural" in entry or "msgctxt" in entry:
            continue
        assert compiled.gettext(entry["msgid"]) == entry["msgstr"], entry["msgid"]
