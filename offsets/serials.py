"""Serial numbers of credit blocks: WHCER-<phase code>-<project code>-<vintage>-<first unit>-<last unit>.

Units are 9-digit, zero-padded. The project code itself contains hyphens (WH-PV-0001), so a serial is
parsed from the end: the last two fields are the units, the one before them the vintage, the first
two fields are WHCER and the phase code, and everything between is the project code.
"""

import re
from dataclasses import dataclass

PREFIX = "WHCER"
UNIT_DIGITS = 9
_UNIT = re.compile(rf"^\d{{{UNIT_DIGITS}}}$")
_VINTAGE = re.compile(r"^(19|20)\d\d$")


@dataclass(frozen=True)
class Serial:
    phase_code: str
    project_code: str
    vintage: int
    first_unit: int
    last_unit: int

    @property
    def quantity(self) -> int:
        return self.last_unit - self.first_unit + 1


def format_serial(phase_code: str, project_code: str, vintage: int, first_unit: int, last_unit: int) -> str:
    return (
        f"{PREFIX}-{phase_code}-{project_code}-{vintage}-"
        f"{first_unit:0{UNIT_DIGITS}d}-{last_unit:0{UNIT_DIGITS}d}"
    )


def parse_serial(text: str) -> Serial | None:
    """The parts of a block serial, or None when the text is not one."""
    parts = text.strip().upper().split("-")
    if len(parts) < 6 or parts[0] != PREFIX:
        return None
    first, last, vintage = parts[-2], parts[-1], parts[-3]
    if not (_UNIT.match(first) and _UNIT.match(last) and _VINTAGE.match(vintage)):
        return None
    phase_code, project_code = parts[1], "-".join(parts[2:-3])
    if not phase_code or not project_code or int(first) < 1 or int(last) < int(first):
        return None
    return Serial(phase_code, project_code, int(vintage), int(first), int(last))
