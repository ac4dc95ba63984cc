"""Every URL pattern, as every role, against another organisation's objects.

Two enterprises, A and B, hold everything the registry keeps: filed and draft projects, declarations at
several stages, documents, a letter, findings with answers, a registered phase (blocks, certificates, an
announcement), a phase in notice with an objection and its answer, an invitation and an inbox entry.
B's objects are the targets. The patterns are walked from config.urls (tests/urls_walk.py); each
path segment that names an object gets B's object, from the table in `_targets` (by URL name) or, on the
admin site, from the model the path names. A new pattern with a segment and no entry fails the test with
"no object for <name>", so a new view is covered as soon as it exists.

Each pattern is asked by GET and by POST (with a plausible form body) as: the anonymous visitor; A's
admin, declarant and viewer; a household; the verification body that serves A (the strangers to B); each
bureau role and a superuser (who may see B's cases, and are refused what their role doesn't do: 403 is
fine for them); and B's own admin, declarant and viewer (the owners, who show the test is not blind).

A stranger must never:
- see one of B's private details (B's contacts, members, invitee, draft project, meters, findings and
  answers, letter, objector's contacts and reasons) in any response, on any page (public ones included);
- be answered differently about B's object than about an object that does not exist, on a page that is
  not public (a 403 or a 200 there tells them it exists; a 302 after a POST means something was done);
- change anything of B's (no audit event is recorded by their request).
Public pages (notices, the registry, verification, open data) are the ones the anonymous visitor is
answered 200 on. Links that carry a secret token (e-mail confirmation, invitation, password reset) show
their holder's details by design and are exempt from the leak check.

Two guards keep the test honest: each of B's objects is reached by an owner or the superuser (else its
target is wrong), and each marker of B's private data is seen by someone allowed to see it (else the
leak check is blind to it). All violations are collected and printed, one a line:
"role, method, url, status, what leaked".
"""

from dataclasses import dataclass, field
from datetime import date
from urllib.parse import quote

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client

from tests.urls_walk import Route, discover_routes

pytestmark = pytest.mark.django_db

ROUTES = discover_routes()

STRANGERS = (
    "anonymous",
    "a_admin",
    "a_declarant",
    "a_viewer",
    "household",
    "verifier_of_a",
    "a_platform",
    "a_resident",
)
BUREAU = ("intake_officer", "technical_reviewer", "expert", "approver", "registry_admin", "superuser")
OWNERS = ("b_admin", "b_declarant", "b_viewer", "b_platform", "b_resident")
IDENTITIES = STRANGERS + BUREAU + OWNERS

# Segments that name an object; the others (kind, decision, action, dataset, …) keep their value when the
# object is swapped for one that does not exist.
NO_SUCH = {
    "pk": "2147483000",
    "object_id": "2147483000",
    "id": "2147483000",
    "code": "ZZ9999P99",
    "number": "ZZ-NO-SUCH-000000",
    "token": "no-such-token",
    "uidb64": "MjE0NzQ4MzAwMA",
    "receipt": "no-such-receipt",
    "reference": "WHCER-T-2099-999999",
    "batch_id": "no-such-batch",
}
# What is everyone's to use, though not public: an event the bureau lists for residents' donations.
SHARED = {"behaviour:donate"}
# Bearer links: whoever holds the token is its addressee.
BEARER = {
    "registry:confirm_email",
    "registry:accept_invitation",
    "password_reset_confirm",
    "offsets:objection_received",
}
# What a person might send to any form: enough for most actions to go through if the view lets them.
BODY = {
    "answer": "We answer this.",
    "note": "A note.",
    "reasons": "Some reasons.",
    "reason": "A reason.",
    "role": "viewer",
    "email": "stranger@example.com",
    "outcome": "dismissed",
    "opinion": "An opinion.",
    "question": "A question?",
    "recommendation": "approve",
    "verified_t": "1",
    "claimed_t": "1",
    "is_covered_emitter": "on",
}


# --- The world --------------------------------------------------------------------------------------


@dataclass
class World:
    users: dict
    b: dict  # B's objects by name
    markers: dict[str, str]  # a unique string of B's private data → what it is
    sessions: dict[str, str] = field(default_factory=dict)


def _organisation(tag: str, people: dict) -> dict:
    """An enterprise with every kind of object; its private details carry the tag, to be looked for."""
    from projects import workflow
    from registry import services as registry_services
    from registry.models import AuditEvent, Delivery, OrgRole
    from tests.factories import (
        admin_of,
        approved_declaration,
        complete_declaration,
        file_project,
        make_declaration,
        make_member,
        make_organisation,
        make_project,
        make_verification_body,
        pdf_upload,
    )

    low = tag.lower()
    organisation = make_organisation(
        admin_email=f"admin-{low}@private.example",
        contact_email=f"contact-{low}@private.example",
        contact_phone=f"027-8800{ord(tag):04d}",
        contact_name=f"Contact{tag} Person",
        legal_representative=f"Legalrep{tag}",
        address=f"Secret Street {tag} No. 1",
    )
    organisation.business_licence = pdf_upload(f"licence-{low}.pdf")
    organisation.save(update_fields=["business_licence"])
    admin = admin_of(organisation)
    declarant = make_member(
        organisation, OrgRole.DECLARANT, email=f"declarant-{low}@private.example", full_name=f"Declarant{tag}"
    )
    viewer = make_member(
        organisation, OrgRole.VIEWER, email=f"viewer-{low}@private.example", full_name=f"Viewer{tag}"
    )
    verifier = make_verification_body()
    filed = file_project(make_project(organisation, meters=((f"SECRETMETER-{tag}-1", "500"),)), people)
    draft = make_project(
        organisation, title=f"Secret draft project {tag}", meters=((f"SECRETMETER-{tag}-2", "300"),)
    )
    registered = approved_declaration(people, project=filed, body=verifier)
    noticed = approved_declaration(
        people, project=filed, body=verifier, start=date(2023, 1, 1), end=date(2023, 6, 30)
    )
    at_intake = complete_declaration(
        make_declaration(filed, start=date(2023, 7, 1), end=date(2023, 12, 31), body=verifier)
    )
    workflow.submit(at_intake, by=admin)
    returned = complete_declaration(
        make_declaration(filed, start=date(2024, 1, 1), end=date(2024, 6, 30), body=verifier)
    )
    workflow.submit(returned, by=admin)
    workflow.return_case(returned, by=people["intake_officer"], findings=[f"Secret finding {tag}."])
    finding = returned.findings.get()
    workflow.answer_finding(finding, by=admin, answer=f"Secret answer {tag}.")
    invitation = registry_services.invite_member(
        organisation, by=admin, email=f"invitee-{low}@private.example", role=OrgRole.VIEWER
    )
    from projects import letters

    returned_event = AuditEvent.objects.filter(action="case.returned").latest("seq")
    letter = letters.ensure_letter(returned_event)
    delivery = Delivery.objects.create(
        event=returned_event, channel=Delivery.Channel.INBOX, email=admin.email, user=admin
    )
    return {
        "organisation": organisation,
        "admin": admin,
        "declarant": declarant,
        "viewer": viewer,
        "membership": declarant.membership,
        "verifier": admin_of(verifier),
        "filed": filed,
        "draft": draft,
        "registered": registered,
        "noticed": noticed,
        "at_intake": at_intake,
        "returned": returned,
        "document": returned.documents.first(),
        "finding": finding,
        "letter": letter,
        "invitation": invitation,
        "delivery": delivery,
        "event": returned_event,
    }


def _behaviour_of(a: dict, b: dict) -> dict:
    """A platform operator and a resident on each side; B's platform has a batch, a key and a closed month,
    B's resident a donation."""
    from datetime import timedelta

    from django.utils import timezone

    from offsets.behaviour import documents, processing, services
    from offsets.behaviour.models import BatchChunk, DonationEvent, GramEntry, PersonalAccount
    from tests.behaviour.world import make_platform, make_resident, row, send
    from tests.factories import make_bureau

    a_platform, platform = make_platform(), make_platform()
    a_resident, resident = make_resident(), make_resident()
    rows = [row("r1", resident.number), row("SECRET-RECORD-B", "x", quantity="?")]
    batch, _new = send(platform, "batch-b-1", rows)
    for chunk in BatchChunk.objects.filter(batch=batch):
        processing.process_chunk(chunk.pk)
    credential, _token = services.issue_credential(
        platform, by=make_bureau("registry_admin"), label="Secret key label B"
    )
    today = timezone.localdate()
    event = DonationEvent.objects.create(
        name_zh="测试活动",
        name_en="Test event",
        opens_on=today - timedelta(days=1),
        closes_on=today,
        target_g=10**6,
    )
    for account in (a_resident, resident):
        GramEntry.objects.create(account=account, kind="aggregation", grams=5_000)
        PersonalAccount.objects.filter(pk=account.pk).update(balance_g=5_000)
        account.refresh_from_db()
    donation = services.donate(resident, event, grams=1_000, by=resident.user)
    documents.make_donation_certificate(donation.pk)  # its job waits for a commit this world never makes
    return {
        "a_platform": a_platform,
        "a_resident": a_resident,
        "platform": platform,
        "resident": resident,
        "batch": batch,
        "credential": credential,
        "donation_event": event,
        "donation": donation,
        "month": (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m"),
    }


def _ledger_of_b(people: dict, a: dict, b: dict) -> dict:
    """B's ledger objects: a transfer to A awaiting confirmation; B on the covered-emitter list, with the
    2022 policy, its record and an offset awaiting confirmation."""
    from decimal import Decimal

    from offsets import compliance, retirements, transfers
    from registry.services import set_covered_emitter

    b_account, a_account = b["registered"].issuance.account, a["registered"].issuance.account
    transfer = transfers.request_transfer(b_account, by=b["admin"], to_number=a_account.number, quantity=1)
    set_covered_emitter(b["organisation"], flag=True, by=people["registry_admin"], reason="On the list.")
    b["organisation"].refresh_from_db()
    compliance.save_policy(
        by=people["registry_admin"],
        year=2022,
        first_vintage=2022,
        last_vintage=2022,
        conversion=Decimal("1"),
        cap_basis="emissions",
        cap_percent=Decimal("10"),
        window_opens=date(2000, 1, 1),
        window_closes=date(2099, 12, 31),
    )
    record = compliance.save_record(
        by=people["registry_admin"],
        organisation=b["organisation"],
        year=2022,
        verified_emissions_t=1000,
        allowance_t=1000,
    )
    b_account.refresh_from_db(fields=["organisation"])  # the emitter as it is now, on the list
    offset = retirements.request_offset(b_account, by=b["admin"], year=2022, quantity=1)
    return {"account": b_account, "transfer": transfer, "record": record, "offset": offset}


def _account_pages_of_b(b: dict) -> dict:
    """What B's account pages show only to B (offsets.account_views): a transfer to an organisation that
    is none of the strangers, with a note, and a voluntary retirement with its certificate's PDF."""
    from django.core.files.base import ContentFile

    from offsets import ledger, retirements, transfers
    from offsets.models import Certificate
    from tests.factories import PDF, make_organisation

    third = ledger.open_account(make_organisation())
    transfer = transfers.request_transfer(
        b["account"], by=b["admin"], to_number=third.number, quantity=1, note="Secret transfer note B."
    )
    retirement = retirements.retire_voluntarily(
        b["account"],
        by=b["admin"],
        quantity=1,
        beneficiary_kind="event",
        beneficiary="B's event",
        purpose="B",
    )
    Certificate.objects.get(retirement=retirement).file.save("retirement.pdf", ContentFile(PDF))
    return {"transfer_out": transfer, "retirement": retirement}


def _build_world() -> World:
    from offsets import documents, issuing
    from offsets.models import Announcement, Certificate, NoticeVersion
    from tests.factories import (
        admin_of,
        closed_phase,
        enrol_authenticator,
        identity_number,
        make_bureau,
        make_organisation,
        make_user,
        pdf_upload,
        phase_in_notice,
    )

    people = {role: make_bureau(role) for role in BUREAU if role != "superuser"}
    superuser = make_user(is_staff=True, is_superuser=True)
    enrol_authenticator(superuser)
    a, b = _organisation("A", people), _organisation("B", people)
    registered = closed_phase([a["registered"], b["registered"]], people, code="2023P01")
    issuing.register_phase(registered, by=people["approver"])
    in_notice = phase_in_notice([a["noticed"], b["noticed"]], people, code="2024P01")
    objection = issuing.file_objection(
        in_notice,
        declaration=b["noticed"],
        name="Objectorb Secret",
        organisation="",
        email="objector-b@private.example",
        phone="027-66001234",
        reasons="Secret objection reasons B.",
        attachment=pdf_upload("evidence.pdf"),
    )
    issuing.answer_objection(objection, by=b["admin"], answer="Secret objection answer B.")
    # What the on-commit jobs would make (the fixture's transaction never commits): the PDFs, made once.
    for version in NoticeVersion.objects.all():
        documents.make_notice_pdf(version.pk)
    for announcement in Announcement.objects.all():
        documents.make_announcement_pdf(announcement.pk)
    for certificate in Certificate.objects.all():
        documents.make_certificate(certificate.pk)
    household = make_organisation(kind="household", name="张伟", identifier=identity_number())
    behaviour = _behaviour_of(a, b)
    ledger = _ledger_of_b(people, a, b)
    ledger |= _account_pages_of_b({**b, **ledger})
    b.update(
        **ledger,
        objection=objection,
        certificate=Certificate.objects.get(issuance__declaration=b["registered"]),
        registered_phase=registered,
        notice_phase=in_notice,
    )
    users = {
        "anonymous": None,
        "a_admin": a["admin"],
        "a_declarant": a["declarant"],
        "a_viewer": a["viewer"],
        "household": admin_of(household),
        "verifier_of_a": a["verifier"],
        **people,
        "superuser": superuser,
        "b_admin": b["admin"],
        "b_declarant": b["declarant"],
        "b_viewer": b["viewer"],
        "a_platform": admin_of(behaviour["a_platform"]),
        "a_resident": behaviour["a_resident"].user,
        "b_platform": admin_of(behaviour["platform"]),
        "b_resident": behaviour["resident"].user,
    }
    b.update(behaviour)
    organisation = b["organisation"]
    markers = {
        organisation.contact_email: "B's contact e-mail",
        organisation.contact_phone: "B's contact telephone",
        organisation.contact_name: "B's contact person",
        organisation.legal_representative: "B's legal representative",
        organisation.address: "B's address",
        b["admin"].email: "B's admin's e-mail",
        b["declarant"].email: "B's declarant's e-mail",
        b["viewer"].full_name: "B's viewer's name",
        b["invitation"].email: "B's invitee's e-mail",
        b["draft"].title: "B's draft project",
        "SECRETMETER-B-": "B's meter numbers",
        "Secret finding B": "a finding on B's declaration",
        "Secret answer B": "B's answer to a finding",
        b["letter"].number: "the number of B's letter",
        objection.email: "the objector's e-mail",
        objection.phone: "the objector's telephone",
        objection.reasons: "the objection's reasons",
        "Secret objection answer B": "B's answer to the objection",
        "Secret transfer note B": "the note of B's transfer",
        "SECRET-RECORD-B": "a record id in B's platform's batch",
        behaviour["resident"].identity_masked: "B's resident's masked identity number",
        "Secret key label B": "the label of B's platform's API key",
    }
    return World(users=users, b=b, markers=markers)


def _log_in(users: dict) -> dict[str, str]:
    """A session per identity. A bureau user passes the second factor, as tests/conftest.py's stand-in for
    a whole login does (that fixture is per test; this world is made once for the module)."""
    from django_otp import DEVICE_ID_SESSION_KEY, devices_for_user

    sessions = {}
    for identity, user in users.items():
        if user is None:
            continue
        client = Client()
        client.force_login(user)
        device = next(devices_for_user(user, confirmed=True), None)
        if device is not None:
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
        sessions[identity] = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return sessions


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Made once, inside a transaction rolled back after the module."""
    with django_db_blocker.unblock(), transaction.atomic():
        world = _build_world()
        world.sessions = _log_in(world.users)
        yield world
        transaction.set_rollback(True)


# --- B's object for each pattern --------------------------------------------------------------------


class NoObject(Exception):
    pass


def _admin_object(route: Route, b: dict):
    """The object an admin path names: B's own where the model is B's, else any row of the model."""
    _, app_label, model_name, *_rest = route.key.split("/")
    model = apps.get_model(app_label, model_name)
    own = {
        "registry.organisation": b["organisation"],
        "registry.user": b["admin"],
        "registry.auditevent": b["event"],
        "projects.project": b["filed"],
        "projects.declaration": b["returned"],
        "projects.document": b["document"],
    }
    return own.get(model._meta.label_lower) or model.objects.order_by("pk").first()


def _targets(route: Route, world: World) -> list[dict[str, str]]:
    """B's objects for the pattern's segments, one dict per request; NoObject if the pattern has none."""
    from django.contrib.auth.tokens import default_token_generator
    from django.contrib.contenttypes.models import ContentType
    from django.core import signing
    from django.core.signing import TimestampSigner
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from offsets.views import OBJECTION_RECEIPT_SALT
    from registry.notifications import EMAIL_CONFIRMATION_SALT

    b = world.b
    if not route.params:
        return [{}]
    projects = [{"pk": b["draft"].pk}, {"pk": b["filed"].pk}]
    declarations = [{"pk": b["returned"].pk}, {"pk": b["noticed"].pk}]
    organisation = [{"pk": b["organisation"].pk}]
    member = [{"pk": b["membership"].pk}]
    objection = [{"pk": b["objection"].pk}]
    notice, registered = b["notice_phase"].code, b["registered_phase"].code
    by_name = {
        "registry:confirm_email": [
            {"token": TimestampSigner(salt=EMAIL_CONFIRMATION_SALT).sign(str(b["admin"].pk))}
        ],
        "registry:accept_invitation": [{"token": b["invitation"].token}],
        "password_reset_confirm": [
            {
                "uidb64": urlsafe_base64_encode(force_bytes(b["admin"].pk)),
                "token": default_token_generator.make_token(b["admin"]),
            }
        ],
        "registry:inbox_open": [{"pk": b["delivery"].pk}],
        "registry:licence": organisation,
        "registry:member_role": member,
        "registry:member_remove": member,
        "registry:member_hand_over": member,
        "registry:office_organisation": organisation,
        "registry:office_organisation_kind": organisation,
        "registry:office_organisation_covered_emitter": organisation,
        "registry:office_organisation_decide": [{"pk": b["organisation"].pk, "decision": "suspend"}],
        "projects:project": projects,
        "projects:project_edit": projects,
        "projects:project_upload": projects,
        "projects:project_submit": projects,
        "projects:project_withdraw": projects,
        "projects:project_resubmit": projects,
        "projects:declaration_create": projects,
        "projects:declaration": declarations,
        "projects:declaration_edit": declarations,
        "projects:declaration_data": declarations,
        "projects:declaration_sheet": declarations,
        "projects:declaration_template": declarations,
        "projects:declaration_upload": declarations,
        "projects:declaration_submit": declarations,
        "projects:declaration_withdraw": declarations,
        "projects:declaration_resubmit": declarations,
        "projects:document": [{"pk": b["document"].pk}],
        "projects:letter": [{"pk": b["letter"].pk}],
        "projects:answer_finding": [{"pk": b["finding"].pk}],
        "projects:office_queue": [{"kind": "declarations", "name": "intake"}],
        "projects:office_case": [
            {"kind": "projects", "pk": b["filed"].pk},
            {"kind": "declarations", "pk": b["returned"].pk},
        ],
        "projects:office_decide": [{"kind": "declarations", "pk": b["at_intake"].pk, "decision": "accept"}],
        "offsets:notice": [{"code": notice}, {"code": registered}],
        "offsets:notice_pdf": [{"code": notice, "version": "1"}],
        "offsets:announcement_pdf": [{"code": registered}],
        "offsets:object": [{"code": notice}],
        "offsets:objection_received": [
            {"code": notice, "receipt": signing.dumps(b["objection"].pk, salt=OBJECTION_RECEIPT_SALT)}
        ],
        "offsets:project": [{"code": b["filed"].code}],
        "registry:methodology": [{"code": b["filed"].methodology.code}],
        "offsets:open_data_file": [
            {"dataset": "projects", "fmt": "json"},
            {"dataset": "issuances", "fmt": "csv"},
        ],
        "offsets:certificate": [{"number": b["certificate"].number}],
        "offsets:answer_objection": objection,
        "offsets:office_phase": [{"code": notice}],
        "offsets:office_phase_act": [{"code": notice, "action": "register"}],
        "offsets:rule": objection,
        "offsets:objection_attachment": objection,
        "offsets:office_transfer": [{"reference": b["transfer"].reference}],
        "offsets:office_transfer_decide": [{"reference": b["transfer"].reference, "decision": "confirm"}],
        "offsets:office_offset": [{"reference": b["offset"].reference}],
        "offsets:office_offset_decide": [{"reference": b["offset"].reference, "decision": "confirm"}],
        "offsets:office_account": [{"number": b["account"].number}],
        "offsets:office_account_cancel": [{"number": b["account"].number}],
        "offsets:office_account_statement": [
            {"number": b["account"].number, "fmt": "csv"},
            {"number": b["account"].number, "fmt": "xlsx"},
        ],
        "offsets:office_policy": [{"year": "2022"}],
        "offsets:office_record": [{"pk": b["record"].pk}],
        "offsets:office_boundary": organisation,
        "offsets:office_link_boundary": [{"pk": b["filed"].pk}],
        "offsets:transfer": [{"reference": b["transfer_out"].reference}],
        "offsets:transfer_cancel": [{"reference": b["transfer_out"].reference}],
        "offsets:retirement": [
            {"reference": b["retirement"].reference},
            {"reference": b["offset"].reference},
        ],
        "offsets:offset_withdraw": [{"reference": b["offset"].reference}],
        "offsets:retirement_certificate": [{"reference": b["retirement"].reference}],
        "offsets:statement_export": [{"fmt": "csv"}, {"fmt": "xlsx"}],
        "behaviour:api_batch": [{"batch_id": b["batch"].batch_id}],
        "behaviour:api_rejected": [{"batch_id": b["batch"].batch_id}],
        "behaviour:platform_batch": [{"batch_id": b["batch"].batch_id}],
        "behaviour:platform_batch_rejected": [{"batch_id": b["batch"].batch_id}],
        "behaviour:platform_batch_original": [{"batch_id": b["batch"].batch_id}],
        "behaviour:platform_close_month": [{"month": b["month"]}],
        "behaviour:office_platform": [{"pk": b["platform"].pk}],
        "behaviour:office_platform_agreement": [{"pk": b["platform"].pk}],
        "behaviour:office_platform_issue_key": [{"pk": b["platform"].pk}],
        "behaviour:office_platform_new_key": [{"pk": b["platform"].pk, "key_id": b["credential"].key_id}],
        "behaviour:office_platform_revoke_key": [{"pk": b["platform"].pk, "key_id": b["credential"].key_id}],
        "behaviour:account": [{"number": b["resident"].number}],
        "behaviour:donate": [{"pk": b["donation_event"].pk}],
        "behaviour:donation_certificate": [{"number": b["donation"].number}],
        "admin:view_on_site": [
            {"content_type_id": ContentType.objects.get_for_model(b["filed"]).pk, "object_id": b["filed"].pk}
        ],
    }
    if route.name in by_name:
        found = by_name[route.name]
    elif route.key.startswith("admin/") and set(route.params) <= {"object_id", "id"}:
        row = _admin_object(route, b)
        found = [dict.fromkeys(route.params, row.pk if row else NO_SUCH["pk"])]
    elif route.key.startswith("admin/") and route.params == ("url",):
        found = [{"url": "no-such-page/"}]
    elif route.key.startswith("admin/") and route.params == ("app_label",):
        found = [{"app_label": "projects"}]
    else:
        raise NoObject(f"no object for {route.name or route}: add B's object for it to _targets")
    return [{name: str(value) for name, value in kwargs.items()} for kwargs in found]


def _path(route: Route, segments: dict[str, str]) -> str:
    return "/" + route.template % {name: quote(value, safe="") for name, value in segments.items()}


# --- Asking ----------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    text: str
    acted: bool  # an audit event was recorded


def _text(response) -> str:
    # Reading a streamed body to its end closes it the test client's way; response.close() would send
    # request_finished, which closes the database connection in the middle of the module's transaction.
    body = b"".join(response.streaming_content) if response.streaming else response.content
    kind = response.get("Content-Type", "")
    if not any(t in kind for t in ("html", "json", "text", "xml", "csv")):
        return ""
    return body.decode(errors="replace")


def ask(world: World, identity: str, method: str, path: str) -> Answer:
    """One request in a savepoint rolled back afterwards: every request meets the same world."""
    from registry.models import AuditEvent

    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en")
    if identity in world.sessions:
        client.cookies[django_settings.SESSION_COOKIE_NAME] = world.sessions[identity]
    with transaction.atomic():
        cache.clear()
        last = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
        response = client.get(path) if method == "GET" else client.post(path, BODY)
        acted = AuditEvent.objects.filter(seq__gt=last or 0).exists()
        answer = Answer(response.status_code, _text(response), acted)
        transaction.set_rollback(True)
    return answer


# --- The test ---------------------------------------------------------------------------------------

WITNESSES = ("b_admin", "superuser", "b_platform", "b_resident")
BOTH = ("GET", "POST")


def plan(route: Route, names_object: bool, deep: bool, turn: int = 0) -> list[tuple[str, str]]:
    """Who asks the pattern, and how. The deep profile (CI): everyone, both ways, on every pattern. The
    everyday one, a sample that keeps the loop under its time: the anonymous visitor and two of the other
    strangers (A's declarant acts as A's admin does), taking turns over the patterns (`turn`, the pattern's
    place), both ways where the path names B's object and by GET elsewhere, with B's admin by GET; the owner
    and the superuser (the witnesses) by GET, and by POST where GET is refused (see check_every_pattern); on
    the admin site, whose one gate (staff only) comes before any model, the anonymous visitor and A's admin
    by GET."""
    if deep:
        return [(who, method) for who in IDENTITIES for method in BOTH]
    if route.key.startswith("admin/"):
        return [("anonymous", "GET"), ("a_admin", "GET")] + ([("superuser", "GET")] if names_object else [])
    others = [who for who in STRANGERS if who not in ("anonymous", "a_declarant")]
    strangers = ["anonymous", others[turn % len(others)], others[(turn + len(others) // 2) % len(others)]]
    if names_object:
        return [(who, method) for who in strangers for method in BOTH] + [(who, "GET") for who in WITNESSES]
    return [(who, "GET") for who in (*strangers, "b_admin")]


def check_every_pattern(world: World, *, deep: bool) -> None:
    violations: list[str] = []
    seen: set[str] = set()

    def violation(identity, method, path, status, what):
        violations.append(f"{identity}, {method}, {path}, {status}, {what}")

    for turn, route in enumerate(ROUTES):
        try:
            targets = _targets(route, world)
        except NoObject as missing:
            violations.append(str(missing))
            continue
        for segments in targets if deep else targets[:1]:
            path = _path(route, segments)
            ghost = _path(route, {k: NO_SUCH.get(k, v) for k, v in segments.items()})
            names_object = any(name in NO_SUCH for name in segments)
            answers = {(who, m): ask(world, who, m, path) for who, m in plan(route, names_object, deep, turn)}
            for who in WITNESSES:
                if answers.get((who, "GET")) and answers[who, "GET"].status in (404, 405):
                    answers.setdefault((who, "POST"), ask(world, who, "POST", path))
            public = answers["anonymous", "GET"].status == 200
            for (who, method), answer in answers.items():
                if answer.status >= 500:
                    violation(who, method, path, answer.status, "a server error")
                if who not in STRANGERS:
                    seen |= {marker for marker in world.markers if marker in answer.text}
                    continue
                if route.name not in BEARER:
                    for marker, what in world.markers.items():
                        if marker in answer.text:
                            violation(who, method, path, answer.status, what)
                if not names_object or public or route.name in BEARER or route.name in SHARED:
                    continue
                if answer.acted:
                    violation(who, method, path, answer.status, "changed something (an audit event)")
                if answer.status != 404:
                    absent = ask(world, who, method, ghost).status
                    if absent != answer.status:
                        violation(
                            who,
                            method,
                            path,
                            answer.status,
                            f"B's object exists (a missing one answers {absent})",
                        )
            witnessed = [a.status for (who, _m), a in answers.items() if who in WITNESSES]
            if names_object and witnessed and all(status in (404, 405) for status in witnessed):
                violations.append(
                    f"nobody reaches {path} ({route.name or route.key}): fix its target in _targets"
                )

    blind = [what for marker, what in world.markers.items() if marker not in seen]
    assert not blind, f"no page showed these to anyone allowed to see them; the check is blind to: {blind}"
    assert not violations, "\n".join(["role, method, url, status, what leaked", *violations])


def test_no_stranger_sees_or_touches_another_organisations_objects(world):
    check_every_pattern(world, deep=False)


@pytest.mark.fuzz
@pytest.mark.timeout(900)  # every role both ways on every pattern: several minutes on a shared 2-core machine
def test_no_role_sees_or_touches_another_organisations_objects(world):
    check_every_pattern(world, deep=True)
