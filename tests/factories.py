"""Plain factory functions. Later states are reached through the real services, so the audit trail is real."""

import itertools

from django.contrib.auth.models import Group
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

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
    """A bureau user with an authenticator set up, as every bureau user must have (registry.mfa)."""
    user = make_user(is_staff=True, **fields)
    user.groups.add(*Group.objects.filter(name__in=roles))
    enrol_authenticator(user)
    return user


def enrol_authenticator(user: User) -> TOTPDevice:
    """A confirmed authenticator app for the user. client.force_login(user) then counts as a whole login,
    password and code (tests/conftest.py); a login through the form still asks for the code."""
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def totp_code(user: User) -> str:
    """The code the user's authenticator shows now, or the next one if this one was used already (a code
    works once), as a person would type it."""
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    clock = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{hotp(device.bin_key, max(clock.t(), device.last_t + 1), digits=device.digits):06d}"


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
        # One of its own: a verification body with the same legal representative is a related one.
        "legal_representative": f"张三{n}",
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


# --- Methodologies, projects, declarations -------------------------------------------------------

from datetime import date  # noqa: E402
from decimal import Decimal  # noqa: E402

from django.core.files.base import ContentFile  # noqa: E402

from registry.models import DocumentType, FactorScope, GridEmissionFactor, Methodology, Sector  # noqa: E402
from tests.hostile_files import valid_pdf  # noqa: E402

# A real one-page PDF: uploads are opened as PDFs, so a header and %%EOF alone no longer pass.
PDF = valid_pdf()


def make_pv_methodology(**overrides) -> Methodology:
    data = {
        "code": "PV",
        "version": "1.0",
        "title_zh": "分布式光伏",
        "title_en": "Distributed PV",
        "sector": Sector.ENERGY,
        "effective_date": date(2023, 11, 30),
        "calculator": "pv",
        "factor_scope": FactorScope.NATIONAL,
        "max_point_capacity_kw": Decimal("6000"),
        "project_documents": [DocumentType.PROJECT_DESCRIPTION, DocumentType.GRID_CONNECTION_ACCEPTANCE],
        "declaration_documents": [DocumentType.MONITORING_REPORT, DocumentType.VERIFICATION_REPORT],
    }
    data.update(overrides)
    methodology, _ = Methodology.objects.get_or_create(
        code=data["code"], version=data["version"], defaults=data
    )
    return methodology


def make_factor(
    year: int = 2022, value: str = "0.5703", scope: str = FactorScope.NATIONAL
) -> GridEmissionFactor:
    factor, _ = GridEmissionFactor.objects.get_or_create(
        year=year,
        scope=scope,
        defaults={"value": Decimal(value), "source": "test", "published_on": date(year + 1, 2, 1)},
    )
    return factor


def pdf_upload(name: str = "doc.pdf") -> ContentFile:
    return ContentFile(PDF, name=name)


def make_project(
    organisation=None, *, by=None, methodology=None, meters=(("M-1", "500"),), docs=True, **data
):
    from projects import services

    organisation = organisation or make_organisation()
    by = by or admin_of(organisation)
    methodology = methodology or make_pv_methodology()
    fields = {
        "methodology": methodology,
        "title": "屋顶光伏测试项目",
        "site_address": "武汉市测试路",
        "district": "xinzhou",
        "crediting_start": date(2021, 1, 1),
        "crediting_end": date(2030, 12, 31),
        "not_registered_elsewhere": True,
        "outside_covered_boundary": True,
    }
    fields.update(data)
    meters = [services.Point(f"{m}-{next(_seq)}" if m.startswith("M-") else m, Decimal(c)) for m, c in meters]
    project = services.create_project(organisation, by=by, data=fields, points=meters)
    if docs:
        for doc_type in methodology.project_documents:
            services.upload_document(project, by=by, doc_type=doc_type, upload=pdf_upload())
    return project


def reviewers() -> dict:
    return {
        role: make_bureau(role)
        for role in ("intake_officer", "technical_reviewer", "expert", "approver", "registry_admin")
    }


def file_project(project, people=None):
    """Through the real workflow: submitted, accepted, forwarded and approved."""
    from projects import workflow

    people = people or reviewers()
    workflow.submit(project, by=admin_of(project.organisation))
    workflow.accept(project, by=people["intake_officer"])
    workflow.forward(project, by=people["technical_reviewer"], recommendation="approve")
    project = workflow.approve(project, by=people["approver"])
    return project


def make_verification_body():
    return make_organisation(kind="verification_body")


def make_declaration(project=None, *, start=date(2022, 1, 1), end=date(2022, 12, 31), body=None, months=None):
    """A draft declaration of a filed project, with monitoring data for every month (10 MWh each)."""
    from projects import services

    make_factor()
    project = project or file_project(make_project())
    body = body if body is not None else make_verification_body()
    declaration = services.create_declaration(
        project, by=admin_of(project.organisation), period_start=start, period_end=end, verification_body=body
    )
    values = months or {m: Decimal("10") for m in services.expected_months(declaration)}
    return services.save_monitoring_data(declaration, by=admin_of(project.organisation), values=values)


def complete_declaration(declaration):
    """Upload every required document (the verification body its report)."""
    from projects import services

    applicant = admin_of(declaration.project.organisation)
    verifier = admin_of(declaration.verification_body)
    for doc_type in services.required_documents(declaration):
        by = verifier if doc_type == DocumentType.VERIFICATION_REPORT else applicant
        services.upload_document(declaration, by=by, doc_type=doc_type, upload=pdf_upload())
    return declaration


# --- Phases and the ledger ------------------------------------------------------------------------


def approved_declaration(people=None, **kwargs):
    """A declaration approved through the real workflow, verified at its claim."""
    from projects import workflow

    people = people or reviewers()
    declaration = complete_declaration(make_declaration(**kwargs))
    declaration = workflow.submit(declaration, by=admin_of(declaration.project.organisation))
    workflow.accept(declaration, by=people["intake_officer"])
    declaration = workflow.forward(
        declaration,
        by=people["technical_reviewer"],
        recommendation="approve",
        verified_t=declaration.claimed_t,
    )
    return workflow.approve(declaration, by=people["approver"])


def phase_in_notice(declarations, people, *, code: str = "2023P01", today=None):
    from offsets import issuing

    phase = issuing.create_phase(
        code=code, title_zh="测试批次", title_en="Test phase", by=people["registry_admin"]
    )
    issuing.add_to_phase(phase, by=people["registry_admin"], declarations=declarations)
    issuing.submit_phase(phase, by=people["registry_admin"])
    issuing.approve_for_notice(phase, by=people["approver"])
    return issuing.publish_notice(phase, by=people["registry_admin"], today=today)


def closed_phase(declarations, people, *, code: str = "2023P01"):
    from datetime import date, datetime

    from django.utils import timezone

    from offsets import issuing

    phase = phase_in_notice(declarations, people, code=code, today=date(2023, 12, 7))
    issuing.close_notice(phase, now=timezone.make_aware(datetime(2023, 12, 16, 9)))
    phase.refresh_from_db()
    return phase


def registered_phase(people, count: int = 2, *, code: str = "2023P01"):
    """A phase of `count` declarations registered through the real services (ledger and audit trail)."""
    from offsets import issuing

    phase = closed_phase([approved_declaration(people) for _ in range(count)], people, code=code)
    return issuing.register_phase(phase, by=people["approver"])
