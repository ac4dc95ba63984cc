"""Personal carbon account numbers and the resident identity number's keyed hash.

An account number is CA and ten digits, the last a Luhn check digit over the nine before it, so a platform's
typing error finds no account rather than someone else's. The identity number (GB 11643, validated by its
check character) is never stored: an HMAC-SHA256 under IDENTITY_HASH_KEY makes one account per person, and a
masked form (the first four and last four characters) is shown to the person.
"""

import hashlib
import hmac

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "CA"
LENGTH = 12


def luhn_digit(digits: str) -> str:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def make_account_number(sequence: int) -> str:
    body = f"{sequence:09d}"
    if len(body) != 9:
        raise ValueError("account numbers are used up")
    return PREFIX + body + luhn_digit(body)


def is_account_number(value: str) -> bool:
    """Shaped like an account number (CA and ten digits), whatever its check digit: such a value is never
    taken for a platform's pseudonym."""
    return len(value) == LENGTH and value.startswith(PREFIX) and value[2:].isascii() and value[2:].isdigit()


def check_digit_fits(value: str) -> bool:
    return is_account_number(value) and luhn_digit(value[2:11]) == value[11]


def identity_hash(identity_number: str) -> str:
    key = settings.IDENTITY_HASH_KEY
    if not key:
        raise ImproperlyConfigured("IDENTITY_HASH_KEY is not set (ADR 0017).")
    return hmac.new(key.encode(), identity_number.encode(), hashlib.sha256).hexdigest()


def mask_identity(identity_number: str) -> str:
    return identity_number[:4] + "*" * (len(identity_number) - 8) + identity_number[-4:]
