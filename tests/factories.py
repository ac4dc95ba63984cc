"""Plain factory functions. Later states are reached through the real services, so the audit trail is real."""

import itertools

from django.contrib.auth.models import Group

from registry import services
from registry.identifiers import make_credit_code, make_identity_number
from registry.models import (
    District,
    Membership,
    Organisation,
    OrganisationKind,
    OrganisationStatus,
    OrgRole,
    User,
)

_seq = itertools.count(1)

PASSWORD = "correct-horse-battery-9"


def make_user(
    *, email: str | None = None, full_name: str = "Test User", password: str = PASSWORD, **fields
) -> User:
    n = next(_seq)
    return User.objects.create_user(
        email=email or f"user{n}@example.com", password=password, full_name=full_name, **fields
    )


def make_bureau(*roles: str, **fields) -> User:
    user = make_user(is_staff=True, **fields)
    user.groups.add(*Group.objects.filter(name__in=roles))
    return user


def credit_code(n: int | None = None) -> str:
    n = next(_seq) if n is None else n
    return make_credit_code(f"91420100MA{n:07d}")


def identity_number(n: int | None = None) -> str:
    n = next(_seq) if n is None else n
    return make_identity_number(f"420102198001{n % 28 + 1:02d}{n % 1000:03d}")


def organisation_data(**overrides) -> dict:
    n = next(_seq)
    data = {
        "kind": OrganisationKind.ENTERPRISE,
        "name": f"测试企业{n}有限公司",
        "name_en": f"Test Enterprise {n} Co., Ltd.",
        "identifier": credit_code(n),
        "legal_representative": "张三",
        "address": "武汉市江岸区测试路1号",
        "district": District.JIANGAN,
        "contact_name": "李四",
        "contact_phone": "027-12345678",
        "contact_email": f"contact{n}@example.com",
    }
    data.update(overrides)
    return data


def make_organisation(*, status: str = OrganisationStatus.VERIFIED, admin_email: str | None = None, **fields):
    """Signed up through the real service; then verified (or as `status` says) by a registry admin."""
    organisation = Organisation(**organisation_data(**fields))
    admin = services.sign_up(
        organisation=organisation,
        email=admin_email or f"admin{next(_seq)}@example.com",
        full_name="Org Admin",
        password=PASSWORD,
        language="en",
    )
    services.confirm_email(admin)
    if status != OrganisationStatus.PENDING:
        registrar = make_bureau("registry_admin")
        if status == OrganisationStatus.REJECTED:
            services.reject_organisation(organisation, by=registrar, reasons="Licence unreadable")
        else:
            services.verify_organisation(organisation, by=registrar)
            if status == OrganisationStatus.SUSPENDED:
                services.suspend_organisation(organisation, by=registrar, reasons="Audit pending")
    organisation.refresh_from_db()
    return organisation


def admin_of(organisation: Organisation) -> User:
    return Membership.objects.get(organisation=organisation, role=OrgRole.ADMIN).user


def make_member(organisation: Organisation, role: str = OrgRole.DECLARANT, **fields) -> User:
    user = make_user(**fields)
    Membership.objects.create(user=user, organisation=organisation, role=role)
    return user
