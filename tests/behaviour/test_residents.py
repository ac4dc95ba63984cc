"""The resident's side: signing up with a resident identity number (one account per person), the account's
page seen only by its owner, donating grams to an event (the balance and the event's dates), the donation
certificate and its public verification.

A resident's grams come, in these tests, from a GramEntry and the balance written directly in the set-up
(`credit`), as a platform's period close would write them; closing a real period is covered with the
platforms' tests."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from offsets.behaviour.models import Donation, DonationEvent, GramEntry, GramEntryKind, PersonalAccount
from offsets.behaviour.reconcile import donations_without_certificate
from registry.models import AuditEvent, User
from tests.behaviour.world import make_resident
from tests.factories import identity_number

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
ZH = {"accept-language": "zh-hans"}


def credit(account: PersonalAccount, grams: int) -> PersonalAccount:
    """Grams in the account, as a platform's period close credits them (entry and balance)."""
    GramEntry.objects.create(account=account, kind=GramEntryKind.AGGREGATION, grams=grams)
    PersonalAccount.objects.filter(pk=account.pk).update(balance_g=account.balance_g + grams)
    account.refresh_from_db()
    return account


def make_event(*, open_now: bool = True, **fields) -> DonationEvent:
    today = timezone.localdate()
    dates = (
        (today - timedelta(days=5), today + timedelta(days=5))
        if open_now
        else (
            today - timedelta(days=30),
            today - timedelta(days=1),
        )
    )
    defaults = {
        "name_zh": "2025武汉马拉松碳中和",
        "name_en": "Wuhan Marathon 2025 carbon neutrality",
        "opens_on": dates[0],
        "closes_on": dates[1],
        "target_g": 10_000_000,
    }
    return DonationEvent.objects.create(**{**defaults, **fields})


def sign_up_data(**overrides) -> dict:
    data = {
        "email": "resident@example.com",
        "full_name": "李小红",
        "identity_number": identity_number(),
        "language": "en",
        "password1": "long-enough-Pass-42",
        "password2": "long-enough-Pass-42",
    }
    data.update(overrides)
    return data


@pytest.fixture
def resident():
    return credit(make_resident(), 5_000)


@pytest.fixture
def other_resident():
    return credit(make_resident(), 3_000)


def donate(client, event, grams, **extra):
    return client.post(reverse("behaviour:donate", args=[event.pk]), {"grams": grams, **extra}, headers=EN)


# --- Signing up -------------------------------------------------------------------------------------------


class TestSignUp:
    def test_a_resident_signs_up_confirms_and_sees_the_account(
        self, client, mailoutbox, django_capture_on_commit_callbacks
    ):
        data = sign_up_data()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("behaviour:sign_up"), data, headers=EN)
        assert response.status_code == 302 and response["Location"] == reverse("behaviour:sign_up_done")
        user = User.objects.get(email="resident@example.com")
        account = user.personal_account
        assert not user.is_active
        assert (
            account.identity_masked == data["identity_number"][:4] + "*" * 10 + data["identity_number"][-4:]
        )
        assert data["identity_number"] not in str(
            AuditEvent.objects.filter(subject_id=str(account.pk)).values()
        )
        assert AuditEvent.objects.filter(action="resident.signed_up", subject_id=str(account.pk)).exists()
        assert mailoutbox[-1].to == ["resident@example.com"] and account.number in mailoutbox[-1].body
        link = next(line for line in mailoutbox[-1].body.splitlines() if "/signup/confirm/" in line)
        confirmed = client.get(link.replace("http://127.0.0.1:8000", ""), headers=EN)
        assert confirmed.status_code == 200 and "personal carbon account" in confirmed.text
        logged_in = client.post(
            reverse("login"), {"username": "resident@example.com", "password": data["password1"]}
        )
        assert logged_in.status_code == 302
        page = client.get(reverse("behaviour:my_account"), follow=True, headers=EN)
        assert page.status_code == 200 and account.number in page.text
        assert "My carbon account" in page.text  # the header's menu names it

    @pytest.mark.parametrize(
        ("number", "english", "chinese"),
        [
            ("4201021980", "18 characters", "18位"),
            ("42010219800101001A", "digits in its first 17 positions", None),
            (
                identity_number(5)[:17] + ("1" if identity_number(5)[17] != "1" else "2"),
                "check character",
                None,
            ),
        ],
    )
    def test_a_bad_identity_number_is_explained_and_creates_nothing(self, client, number, english, chinese):
        response = client.post(reverse("behaviour:sign_up"), sign_up_data(identity_number=number), headers=EN)
        assert response.status_code == 200
        assert english in " ".join(response.context["form"].errors["identity_number"])
        if chinese:
            answer = client.post(
                reverse("behaviour:sign_up"), sign_up_data(identity_number=number), headers=ZH
            )
            assert chinese in " ".join(answer.context["form"].errors["identity_number"])
        assert not User.objects.filter(email="resident@example.com").exists()
        assert not PersonalAccount.objects.exists()
        assert not AuditEvent.objects.filter(action__startswith="personal_account.").exists()

    def test_a_second_account_for_the_same_identity_number_is_refused(self, client, mailoutbox):
        number = identity_number()
        make_resident_with(number)
        response = client.post(
            reverse("behaviour:sign_up"), sign_up_data(identity_number=f" {number.lower()} "), headers=EN
        )
        assert response.status_code == 200
        assert "open already for this identity number" in " ".join(
            response.context["form"].errors["identity_number"]
        )
        assert not User.objects.filter(email="resident@example.com").exists()
        assert PersonalAccount.objects.count() == 1
        assert not mailoutbox

    def test_a_registered_email_address_gets_the_same_answer_and_nothing(
        self, client, resident, mailoutbox, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("behaviour:sign_up"), sign_up_data(email=resident.user.email.upper()), headers=EN
            )
        assert response.status_code == 302 and response["Location"] == reverse("behaviour:sign_up_done")
        assert PersonalAccount.objects.count() == 1
        assert mailoutbox[-1].to == [resident.user.email]  # its owner hears someone tried
        assert "/signup/confirm/" not in mailoutbox[-1].body

    def test_passwords_that_differ_create_nothing(self, client):
        response = client.post(
            reverse("behaviour:sign_up"), sign_up_data(password2="other-Pass-4242"), headers=EN
        )
        assert "differ" in " ".join(response.context["form"].errors["password2"])
        assert not User.objects.filter(email="resident@example.com").exists()


def make_resident_with(number: str) -> PersonalAccount:
    from offsets.behaviour import services
    from tests.factories import make_user

    return services.open_personal_account(make_user(full_name="张三"), identity_number=number)


class TestOpenAccount:
    def test_a_logged_in_user_opens_an_account(self, client):
        from tests.factories import make_user

        user = make_user(full_name="赵六")
        client.force_login(user)
        assert client.get(reverse("behaviour:my_account"))["Location"] == reverse("behaviour:open_account")
        response = client.post(
            reverse("behaviour:open_account"), {"identity_number": identity_number()}, headers=EN
        )
        account = PersonalAccount.objects.get(user=user)
        assert response["Location"] == reverse("behaviour:account", args=[account.number])
        assert client.get(reverse("behaviour:open_account"))["Location"] == response["Location"]

    def test_an_identity_number_with_an_account_is_refused(self, client, resident):
        from offsets.behaviour import services
        from tests.factories import make_user

        number = identity_number()
        services.open_personal_account(make_user(), identity_number=number)
        client.force_login(make_user())
        response = client.post(reverse("behaviour:open_account"), {"identity_number": number}, headers=EN)
        assert response.status_code == 200
        assert "open already for this identity number" in response.text
        assert PersonalAccount.objects.count() == 2


# --- The account page ------------------------------------------------------------------------------------


class TestAccountPage:
    def test_the_owner_sees_the_account_masked(self, client, resident):
        client.force_login(resident.user)
        response = client.get(reverse("behaviour:account", args=[resident.number]), headers=EN)
        assert response.status_code == 200
        text = response.text
        assert resident.number in text and resident.identity_masked in text
        assert "5,000 g" in text and "5.000 kg" in text
        assert "Beyond the platform" in text  # the credit's entry

    def test_another_resident_gets_404(self, client, resident, other_resident):
        client.force_login(other_resident.user)
        assert client.get(reverse("behaviour:account", args=[resident.number])).status_code == 404
        assert client.get(reverse("behaviour:account", args=["CA0000000000"])).status_code == 404
        own = client.get(reverse("behaviour:my_account"))
        assert own["Location"] == reverse("behaviour:account", args=[other_resident.number])

    @pytest.mark.parametrize("name", ["my_account", "open_account", "events"])
    def test_the_anonymous_visitor_is_sent_to_log_in(self, client, name):
        response = client.get(reverse(name if ":" in name else f"behaviour:{name}"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))

    def test_the_anonymous_visitor_is_sent_to_log_in_from_an_account(self, client, resident):
        response = client.get(reverse("behaviour:account", args=[resident.number]))
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
        assert resident.number not in response.text

    def test_a_bad_page_parameter_is_not_an_error(self, client, resident):
        client.force_login(resident.user)
        url = reverse("behaviour:account", args=[resident.number])
        assert client.get(url, {"days_page": "zz"}).status_code == 200
        assert client.get(url, {"entries_after": "nonsense"}).status_code == 400


# --- Donating ----------------------------------------------------------------------------------------


class TestDonation:
    def test_more_than_the_balance_is_refused_and_nothing_changes(self, client, resident):
        event = make_event()
        client.force_login(resident.user)
        response = donate(client, event, 5_001)
        assert response.status_code == 200
        assert "You can donate at most 5,000 g, your balance." in response.text
        resident.refresh_from_db()
        event.refresh_from_db()
        assert (resident.balance_g, event.donated_g) == (5_000, 0)
        assert not Donation.objects.exists()
        assert not GramEntry.objects.filter(kind=GramEntryKind.DONATION).exists()
        assert not AuditEvent.objects.filter(action="resident.donated").exists()

    @pytest.mark.parametrize("grams", ["0", "-5", "1.5", "lots"])
    def test_a_bad_quantity_is_explained(self, client, resident, grams):
        client.force_login(resident.user)
        response = donate(client, make_event(), grams)
        assert response.status_code == 200 and response.context["form"].errors["grams"]
        assert not Donation.objects.exists()

    def test_a_closed_event_is_refused(self, client, resident):
        event = make_event(open_now=False)
        client.force_login(resident.user)
        page = client.get(reverse("behaviour:donate", args=[event.pk]), headers=EN)
        assert "This event takes donations from" in page.text and 'name="grams"' not in page.text
        response = donate(client, event, 100)
        assert response.status_code == 200 and "This event takes donations from" in response.text
        resident.refresh_from_db()
        assert resident.balance_g == 5_000 and not Donation.objects.exists()

    def test_a_donation_makes_its_certificate_and_verifies(
        self, client, resident, other_resident, django_capture_on_commit_callbacks
    ):
        event = make_event()
        client.force_login(resident.user)
        with django_capture_on_commit_callbacks(execute=True):
            response = donate(client, event, 1_200)
        donation = Donation.objects.get()
        assert response["Location"] == reverse("behaviour:account", args=[resident.number]) + "#donations"
        assert donation.number.startswith(f"WHCER-D-{timezone.localdate().year}-")
        resident.refresh_from_db()
        event.refresh_from_db()
        assert (resident.balance_g, event.donated_g, donation.grams) == (3_800, 1_200, 1_200)
        assert GramEntry.objects.get(donation=donation).grams == -1_200
        # The certificate: made once, after commit, its hash kept.
        assert donation.file and len(donation.sha256) == 64
        with donation.file.open("rb") as handle:
            assert handle.read(5) == b"%PDF-"
        assert not donations_without_certificate(timezone.now() + timedelta(hours=1)).exists()

        page = client.get(reverse("behaviour:account", args=[resident.number]), headers=EN)
        assert donation.number in page.text and "3,800 g" in page.text
        download = client.get(reverse("behaviour:donation_certificate", args=[donation.number]))
        assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
        assert b"".join(download.streaming_content).startswith(b"%PDF-")

        # Anyone verifies it: the event, the grams, the date, the name masked; never the account's numbers.
        client.logout()
        verified = client.get(reverse("offsets:verify"), {"q": donation.number.lower()}, headers=EN)
        assert verified.status_code == 200
        text = verified.text
        assert "Genuine" in text and event.name_en in text and "1,200 g" in text
        assert "王**" in text  # make_resident's 王小明, masked
        assert "王小明" not in text and resident.number not in text and resident.identity_masked not in text
        missing = client.get(reverse("offsets:verify"), {"q": "WHCER-D-2020-999999"}, headers=EN)
        assert "Not found." in missing.text

        # The other resident neither downloads it nor sees the donor's account.
        client.force_login(other_resident.user)
        assert (
            client.get(reverse("behaviour:donation_certificate", args=[donation.number])).status_code == 404
        )

    def test_a_donation_sent_twice_is_made_once(self, client, resident, django_capture_on_commit_callbacks):
        event = make_event()
        client.force_login(resident.user)
        token = "ab" * 16
        with django_capture_on_commit_callbacks(execute=True):
            first = donate(client, event, 700, _once=token)
            second = donate(client, event, 700, _once=token)
        assert first.status_code == second.status_code == 302
        assert second["Location"] == first["Location"]
        assert Donation.objects.count() == 1
        resident.refresh_from_db()
        assert resident.balance_g == 4_300

    def test_without_an_account_a_donation_leads_to_opening_one(self, client):
        from tests.factories import make_user

        client.force_login(make_user())
        response = donate(client, make_event(), 10)
        assert response["Location"] == reverse("behaviour:open_account")
        assert not Donation.objects.exists()

    def test_a_certificate_not_made_is_owed_and_made_on_download(self, client, resident):
        from offsets.behaviour import services

        event = make_event()
        donation = services.donate(resident, event, grams=300, by=resident.user)  # its job never ran
        later = timezone.now() + timedelta(minutes=10)
        assert list(donations_without_certificate(later)) == [donation.pk]
        client.force_login(resident.user)
        assert (
            client.get(reverse("behaviour:donation_certificate", args=[donation.number])).status_code == 200
        )
        donation.refresh_from_db()
        assert donation.file and not donations_without_certificate(later).exists()

    def test_the_events_list_shows_what_is_open(self, client, resident):
        open_event, closed = make_event(), make_event(open_now=False, name_en="Closed run")
        client.force_login(resident.user)
        response = client.get(reverse("behaviour:events"), headers=EN)
        assert reverse("behaviour:donate", args=[open_event.pk]) in response.text
        assert reverse("behaviour:donate", args=[closed.pk]) not in response.text
        assert "Closed run" in response.text


class TestAdmin:
    def test_events_are_edited_and_accounts_only_read(self, client):
        from tests.factories import enrol_authenticator, make_user

        superuser = make_user(is_staff=True, is_superuser=True)
        enrol_authenticator(superuser)
        client.force_login(superuser)
        admin_client = client
        assert admin_client.get(reverse("admin:behaviour_donationevent_add")).status_code == 200
        assert admin_client.get(reverse("admin:behaviour_scenariofactor_add")).status_code == 200
        assert admin_client.get(reverse("admin:behaviour_personalaccount_changelist")).status_code == 200
        assert admin_client.get(reverse("admin:behaviour_personalaccount_add")).status_code == 403
        assert admin_client.get(reverse("admin:behaviour_donation_add")).status_code == 403
        assert admin_client.get(reverse("admin:behaviour_gramentry_add")).status_code == 403
