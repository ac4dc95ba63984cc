"""Issue 13's words: what a Chinese (or English) reader sees in every select, in the admin, and as the
names of organisations on public pages, in the inbox and in e-mails."""

import re
from pathlib import Path

import django
import polib
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import translation

from offsets import retirements
from offsets.models import BeneficiaryKind, Issuance
from registry import notifications
from registry.admin_words import permission_label
from registry.apps import RegistryConfig
from registry.forms import SignUpForm
from registry.models import AuditEvent, Delivery, Organisation, OrganisationKind
from tests.factories import (
    admin_of,
    enrol_authenticator,
    make_bureau,
    make_organisation,
    make_user,
    registered_phase,
    reviewers,
)

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
ZH = {"accept-language": "zh-CN,zh;q=0.9"}
DJANGOS_EMPTY_CHOICES = ("- Select an option -", "---------")


# --- The empty choice of every select ------------------------------------------------------------------


def test_a_forms_empty_choice_is_ours():
    with translation.override("en"):
        assert SignUpForm().fields["district"].choices[0] == ("", "Choose…")


@pytest.mark.parametrize("headers", [EN, ZH], ids=["en", "zh-hans"])
def test_no_select_shows_djangos_empty_choice(client, headers):
    officer = make_bureau("intake_officer")
    pages = [
        client.get(reverse("registry:sign_up"), headers=headers),  # a form's model choices
        client.get(reverse("offsets:registry"), headers=headers),  # the public registry's filters
    ]
    client.force_login(officer)
    pages.append(
        client.get(reverse("projects:office_queue", args=["declarations", "intake"]), headers=headers)
    )
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert '<option value=""' in html
        for label in DJANGOS_EMPTY_CHOICES:
            assert label not in html, page.request["PATH_INFO"]
    if headers is EN:
        assert re.search(r'<option value=""[^>]*>Choose…</option>', pages[0].content.decode())
        assert re.search(r'<option value=""[^>]*>All</option>', pages[1].content.decode())
        # The overdue filter offers all cases or the overdue ones, not django-filter's "Unknown".
        queue = pages[2].content.decode()
        assert "Unknown" not in queue and re.search(r'<option value=""[^>]*>All</option>', queue)


# --- The admin --------------------------------------------------------------------------------------------


def test_every_model_names_itself_in_singular_and_plural():
    """Without verbose_name_plural, Django adds an "s" to the translated name: "心跳s"."""
    labels = {"registry", "projects", "offsets", "behaviour"}
    ours = [m for m in apps.get_models() if m._meta.app_label in labels]
    missing = [
        m._meta.label
        for m in {*ours, *admin.site._registry}
        if not {"verbose_name", "verbose_name_plural"} <= set(m._meta.original_attrs)
    ]
    assert missing == []


def test_registry_keeps_its_own_app_config():
    """registry/apps.py holds other apps' configurations too; "registry" must still get its own (its ready()
    connects the role permissions), not Django's bare default."""
    assert type(apps.get_app_config("registry")) is RegistryConfig
    with translation.override("en"):
        assert str(apps.get_app_config("axes").verbose_name) == "Login attempts"


def test_the_admin_speaks_of_the_registry_and_its_roles(client):
    superuser = make_user(is_staff=True, is_superuser=True)
    enrol_authenticator(superuser)
    officer = make_bureau("intake_officer")
    client.force_login(superuser)
    index = client.get("/admin/", headers=EN).content.decode()
    assert "Carbon Inclusion Registry administration" in index and "Django administration" not in index
    assert "Login attempts" in index  # django-axes' section, "Axes" by itself
    user_page = client.get(f"/admin/registry/user/{officer.pk}/change/", headers=EN).content.decode()
    assert ">Intake officer<" in user_page and ">intake_officer<" not in user_page
    assert "Registry | organisation | Can verify, reject and suspend organisations" in user_page


def test_a_permission_is_named_in_the_readers_language():
    permission = Permission.objects.get(codename="verify_organisation")
    with translation.override("zh-hans"):
        expected = " | ".join(
            str(x)
            for x in (
                apps.get_app_config("registry").verbose_name,
                Organisation._meta.verbose_name,
                dict(Organisation._meta.permissions)["verify_organisation"],
            )
        )
        assert permission_label(permission) == expected
        assert "Can verify" not in expected  # translated, unlike Permission.name, stored in English


# The admin's words that our catalogue translates differently from Django's own, on purpose.
REWORDED_ON_PURPOSE = {
    "Log out": "注销 is a retirement in this registry",
    "Search": "检索, the registry's word for a search",
    "Filter": "筛选",
    "Action": "操作",
    "History": "历史记录",
    "Remove": "移除",
    "Page not found": "页面不存在",
    "active": "启用, of a user",
    ", ": "、 between listed items",
}


def test_our_catalogue_does_not_reword_the_admin():
    """Our catalogue comes first for every app: a word we translate for our own screens (“Add” to a
    phase as 纳入) also changed the admin's Add button. Such words carry a context of ours."""
    ours = polib.pofile(str(Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    ours = {e.msgid: e.msgstr for e in ours if not e.msgctxt and e.msgstr}
    django_dir = Path(django.__file__).parent
    reworded = []
    for part in ("contrib/admin", "contrib/auth", "conf"):
        for entry in polib.pofile(
            str(django_dir / part / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")
        ):
            theirs, mine = entry.msgstr, ours.get(entry.msgid)
            if (
                not entry.msgctxt
                and theirs
                and mine
                and mine != theirs
                and entry.msgid not in REWORDED_ON_PURPOSE
            ):
                reworded.append(f"{entry.msgid!r}: Django {theirs}, ours {mine}")
    assert reworded == []


# --- Names in the reader's language -------------------------------------------------------------------------


def test_display_name_is_english_for_an_english_reader_and_masks_persons():
    company = Organisation(kind=OrganisationKind.ENTERPRISE, name="格林美有限公司", name_en="GEM Co., Ltd.")
    person = Organisation(kind=OrganisationKind.HOUSEHOLD, name="张伟", name_en="Zhang Wei")
    without = Organisation(kind=OrganisationKind.ENTERPRISE, name="武汉某公司", name_en="")
    with translation.override("en"):
        assert (company.display_name, person.display_name, without.display_name) == (
            "GEM Co., Ltd.",
            "张*",
            "武汉某公司",
        )
        assert person.localized_name == "Zhang Wei"  # its own people and the bureau read it whole
    with translation.override("zh-hans"):
        assert (company.display_name, person.display_name) == ("格林美有限公司", "张*")
    # What published records keep does not depend on who published them.
    with translation.override("en"):
        assert (company.public_name, company.public_name_en, person.public_name_en) == (
            "格林美有限公司",
            "GEM Co., Ltd.",
            "",
        )


@pytest.fixture
def world():
    """A registered phase; its owner retired some credits voluntarily."""
    people = reviewers()
    phase = registered_phase(people, count=1)
    issuance = Issuance.objects.get(phase=phase)
    account = issuance.account
    retirements.retire_voluntarily(
        account,
        by=admin_of(account.organisation),
        quantity=3,
        beneficiary_kind=BeneficiaryKind.EVENT,
        beneficiary="武汉马拉松",
        purpose="赛事碳中和",
    )
    return phase, issuance, account.organisation


def test_public_pages_name_the_owner_in_the_readers_language(client, world):
    phase, issuance, owner = world
    pages = {
        "registry": reverse("offsets:registry"),
        "project page": reverse("offsets:project", args=[issuance.project.code]),
        "notice": reverse("offsets:notice", args=[phase.code]),
        "verification": reverse("offsets:verify") + f"?q={issuance.serial}",
        "retirements": reverse("offsets:public_retirements"),
    }
    for name, url in pages.items():
        english = client.get(url, headers=EN).content.decode()
        assert owner.name_en in english and owner.name not in english, name
        chinese = client.get(url, headers=ZH).content.decode()
        assert owner.name in chinese and owner.name_en not in chinese, name


def test_inbox_and_email_subjects_name_the_organisation_in_the_readers_language(client):
    organisation = make_organisation()
    event = AuditEvent.objects.get(action="organisation.verified", subject_id=str(organisation.pk))
    notifications.deliver(event.pk)
    admin_user = admin_of(organisation)
    assert Delivery.objects.filter(event=event, user=admin_user, channel=Delivery.Channel.INBOX).exists()

    for language, name in (("en", organisation.name_en), ("zh-hans", organisation.name)):
        recipient = notifications.Recipient(admin_user.email, language, admin_user)
        subject, _body = notifications.render_email(event, recipient)
        assert name in subject, language
    client.force_login(admin_user)
    inbox = client.get(reverse("registry:inbox"), headers=EN).content.decode()
    assert organisation.name_en in inbox and organisation.name not in inbox
    assert organisation.name in client.get(reverse("registry:inbox"), headers=ZH).content.decode()


def test_the_inbox_names_a_declaration_in_the_readers_language():
    from tests.factories import make_declaration

    declaration = make_declaration()
    event = AuditEvent.objects.filter(
        subject_type="projects.declaration", subject_id=str(declaration.pk)
    ).first()
    assert event.subject_repr.endswith("2022-01-01 to 2022-12-31")  # recorded by an English reader
    with translation.override("zh-hans"):
        label = notifications.subject_labels([event])[event.pk]
        assert label == str(declaration) and label != event.subject_repr
