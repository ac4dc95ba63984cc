"""The 18-character identifiers of Chinese organisations and people: validation and normalisation.

- Unified Social Credit Code (统一社会信用代码, GB 32100-2015), for organisations.
- Resident identity number (居民身份证号码, GB 11643-1999), for households and individuals.

The validators return the normalised value or raise a ValidationError with one specific, translatable
message and a `code` (length, character, authority, division, birth_date, checksum).
"""

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

# GB 32100-2015: 31 characters, the letters I, O, Z, S and V left out (easily confused with 1, 0, 2, 5, U).
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# Weight of position i (1-based) is 3^(i-1) mod 31.
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# Registration authority codes: GB 32100-2015 table 1 (1 机构编制, 5 民政, 9 工商, Y 其他) and the
# authorities given codes since (e.g. 3 司法行政 for law firms, 8 工会, A 中央军委, N 农业农村).
CREDIT_CODE_AUTHORITIES = frozenset("123456789ANY")

# GB 11643-1999: weight of position i (1-based) is 2^(18-i) mod 11; the sum mod 11 indexes this string.
IDENTITY_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
IDENTITY_CHECK_CHARACTERS = "10X98765432"
DIGITS = "0123456789"
LENGTH = 18
EARLIEST_BIRTH_YEAR = 1900


def normalise(value: str) -> str:
    """Remove all whitespace (surrounding and inner, e.g. "9142 0100 …") and upper-case."""
    return "".join(value.split()).upper()


def credit_code_check_character(first17: str) -> str:
    """The check character of a credit code whose first 17 characters are given (upper-case)."""
    if len(first17) != LENGTH - 1 or any(char not in CREDIT_CODE_ALPHABET for char in first17):
        raise ValueError(f"expected 17 characters of {CREDIT_CODE_ALPHABET!r}, got {first17!r}")
    total = sum(
        CREDIT_CODE_ALPHABET.index(char) * weight
        for char, weight in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def identity_check_character(first17: str) -> str:
    """The check character (0-9 or X) of an identity number whose first 17 digits are given."""
    if len(first17) != LENGTH - 1 or any(char not in DIGITS for char in first17):
        raise ValueError(f"expected 17 digits, got {first17!r}")
    total = sum(int(char) * weight for char, weight in zip(first17, IDENTITY_WEIGHTS, strict=True))
    return IDENTITY_CHECK_CHARACTERS[total % 11]


def make_credit_code(first17: str) -> str:
    return first17 + credit_code_check_character(first17)


def make_identity_number(first17: str) -> str:
    return first17 + identity_check_character(first17)


def _checksum_error() -> ValidationError:
    return ValidationError(
        _(
            "The check character (the last one) does not match the first 17 characters: "
            "please look for a typing error."
        ),
        code="checksum",
    )


def validate_credit_code(value: str) -> str:
    code = normalise(value)
    if len(code) != LENGTH:
        raise ValidationError(
            _("A Unified Social Credit Code has 18 characters; this one has %(count)d."),
            code="length",
            params={"count": len(code)},
        )
    for position, char in enumerate(code, start=1):
        if char not in CREDIT_CODE_ALPHABET:
            raise ValidationError(
                _(
                    "The character “%(char)s” at position %(position)d is not used in Unified Social "
                    "Credit Codes (the letters I, O, Z, S and V never appear)."
                ),
                code="character",
                params={"char": char, "position": position},
            )
    if code[0] not in CREDIT_CODE_AUTHORITIES:
        raise ValidationError(
            _("The first character (registration authority) must be a digit from 1 to 9, A, N or Y."),
            code="authority",
        )
    if any(char not in DIGITS for char in code[2:8]):
        raise ValidationError(
            _("Positions 3 to 8 (administrative division code) must be digits."), code="division"
        )
    if code[17] != credit_code_check_character(code[:17]):
        raise _checksum_error()
    return code


def validate_identity_number(value: str) -> str:
    number = normalise(value)
    if len(number) != LENGTH:
        raise ValidationError(
            _("A resident identity number has 18 characters; this one has %(count)d."),
            code="length",
            params={"count": len(number)},
        )
    if any(char not in DIGITS for char in number[:17]) or number[17] not in DIGITS + "X":
        raise ValidationError(
            _(
                "A resident identity number has digits in its first 17 positions, "
                "and a digit or X in the last."
            ),
            code="character",
        )
    try:
        birth = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        birth = None
    if birth is None or birth.year < EARLIEST_BIRTH_YEAR or birth > timezone.localdate():
        raise ValidationError(
            _("Positions 7 to 14 must be a real date of birth (YYYYMMDD)."), code="birth_date"
        )
    if number[17] != identity_check_character(number[:17]):
        raise _checksum_error()
    return number
