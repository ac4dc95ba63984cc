"""Plain factory functions. Later states are reached through the real services."""

import itertools

from registry.models import User

_seq = itertools.count(1)

PASSWORD = "correct-horse-battery-9"


def make_user(
    *, email: str | None = None, full_name: str = "Test User", password: str = PASSWORD, **fields
) -> User:
    n = next(_seq)
    return User.objects.create_user(
        email=email or f"user{n}@example.com", password=password, full_name=full_name, **fields
    )
