"""The demo data of `manage.py seed_demo`: known logins, for demonstration only.

Each builder is idempotent (get_or_create on natural keys), so running the command twice changes nothing.
"""

from django.db import transaction

from registry.models import User

DEMO_PASSWORD = "demo-pass-2023"  # noqa: S105 (a published demo password, refused with DEBUG off)
DEMO_DOMAIN = "demo.example"

# (e-mail local part, name, what the login is for)
BUREAU_LOGINS = [
    ("admin", "Registry superuser (demo)", "superuser: Django admin"),
]


def demo_logins() -> list[tuple[str, str]]:
    emails = [f"{local}@{DEMO_DOMAIN}" for local, _, _ in BUREAU_LOGINS]
    existing = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
    return [
        (f"{local}@{DEMO_DOMAIN}", role)
        for local, _, role in BUREAU_LOGINS
        if f"{local}@{DEMO_DOMAIN}" in existing
    ]


def _user(local: str, name: str, **fields) -> User:
    user, created = User.objects.get_or_create(
        email=f"{local}@{DEMO_DOMAIN}", defaults={"full_name": name, **fields}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


@transaction.atomic
def seed() -> None:
    _user("admin", "Registry superuser (demo)", is_staff=True, is_superuser=True)
