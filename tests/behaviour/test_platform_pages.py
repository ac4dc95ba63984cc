"""The platform operator's pages, the bureau's platform screen and the public behaviour aggregates (HTTP)."""

from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from offsets.behaviour import office_views
from offsets.behaviour.models import (
    AggregationPeriod,
    ApiCredential,
    Batch,
    BatchChunk,
    BatchFailure,
    BatchStatus,
    PeriodStatus,
    PlatformAgreement,
    Scenario,
)
from offsets.behaviour.reference import ensure_aggregation_methodology
from registry.models import AuditEvent, OrgRole
from tests.behaviour.world import gz_csv, make_platform, make_resident, recent, row, send
from tests.factories import (
    admin_of,
    file_project,
    make_bureau,
    make_member,
    make_organisation,
    make_project,
    reviewers,
)

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}


@pytest.fixture
def client():
    """A browser asking for English: the pages' words are asserted in English (the default is Chinese)."""
    from django.test import Client

    return Client(HTTP_ACCEPT_LANGUAGE="en")


def _upload(client, batch_id, body, fmt="csv"):
    return client.post(
        reverse("behaviour:platform_upload"),
        {"batch_id": batch_id, "format": fmt, "file": SimpleUploadedFile(f"{batch_id}.csv.gz", body)},
    )


def _stored(platform, batch_id, fmt="csv") -> bool:
    return default_storage.exists(
        f"behaviour/batches/{timezone.now():%Y/%m}/{platform.pk}-{batch_id}.{fmt}.gz"
    )


# --- Isolation -------------------------------------------------------------------------------------------


def test_another_platforms_batch_and_its_downloads_are_not_found(client, django_capture_on_commit_callbacks):
    mine, theirs = make_platform(), make_platform()
    with django_capture_on_commit_callbacks(execute=True):
        send(theirs, "their-1", [row("r1", "user-1"), row("r2", "user-2", "no_such")])
    names = ("platform_batch", "platform_batch_rejected", "platform_batch_original")
    urls = [reverse(f"behaviour:{name}", args=["their-1"]) for name in names]
    client.force_login(admin_of(mine))
    assert [client.get(url).status_code for url in urls] == [404, 404, 404]
    assert "their-1" not in client.get(reverse("behaviour:platform_batches")).text
    client.force_login(admin_of(theirs))  # the owner reaches them: the 404s above are not blind
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]


def test_a_member_of_an_organisation_that_is_no_platform_finds_no_platform_pages(client):
    client.force_login(admin_of(make_organisation()))
    for name in ("behaviour:platform_batches", "behaviour:platform_upload", "behaviour:platform_months"):
        assert client.get(reverse(name)).status_code == 404
    assert client.get(reverse("behaviour:platform_api")).status_code == 404


# --- Upload --------------------------------------------------------------------------------------------


def test_a_viewer_cannot_upload_and_nothing_is_stored(client):
    platform = make_platform()
    client.force_login(make_member(platform, role=OrgRole.VIEWER))
    page = client.get(reverse("behaviour:platform_batches"))
    assert page.status_code == 200
    assert reverse("behaviour:platform_upload") not in page.text
    response = _upload(client, "viewer-1", gz_csv([row("r1", "user-1")]))
    assert response.status_code == 403
    assert not Batch.objects.exists()
    assert not _stored(platform, "viewer-1")


def test_a_file_that_is_not_gzip_is_refused_with_its_reason_and_nothing_is_kept(client):
    platform = make_platform()
    client.force_login(admin_of(platform))
    plain = (
        "record_id,person,scenario,started_at,ended_at,quantity\n" + ",".join(row("r1", "u1")) + "\n"
    ).encode()
    response = _upload(client, "plain-1", plain)
    assert response.status_code == 400
    assert str(BatchFailure.NOT_GZIP.label) in response.text
    assert not Batch.objects.exists() and not BatchChunk.objects.exists()
    assert not _stored(platform, "plain-1")
    assert not AuditEvent.objects.filter(action="batch.received").exists()


def test_a_bad_batch_id_is_refused_on_the_form(client):
    platform = make_platform()
    client.force_login(admin_of(platform))
    response = _upload(client, "../etc", gz_csv([row("r1", "user-1")]))
    assert response.status_code == 400
    assert not Batch.objects.exists()


def test_a_good_file_becomes_a_batch_and_its_page_shows_the_counts(
    client, django_capture_on_commit_callbacks
):
    platform = make_platform()
    account = make_resident()
    user = admin_of(platform)
    client.force_login(user)
    body = gz_csv(
        [
            row("r1", account.number, quantity="10.5"),  # 472 g
            row("r2", "user-77", "bicycle", start=recent(1, 9), quantity="3"),  # 150 g
            row("r3", account.number, "no_such_scenario"),
        ]
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, "portal-1", body)
    assert response.status_code == 302
    assert response["Location"] == reverse("behaviour:platform_batch", args=["portal-1"])
    batch = Batch.objects.get(platform=platform, batch_id="portal-1")
    assert (batch.status, batch.rows, batch.accepted, batch.rejected, batch.grams) == (
        BatchStatus.DONE,
        3,
        2,
        1,
        622,
    )
    assert batch.sent_by == user
    page = client.get(response["Location"])
    assert page.status_code == 200
    counts = [c.split("<")[0] for c in page.text.split('class="figure-value">')[1:]]
    assert counts == ["3", "2", "1", "622"]
    assert "<code>r3</code>" in page.text  # the rejected row is listed by its id, with its reason
    rejected = client.get(reverse("behaviour:platform_batch_rejected", args=["portal-1"]))
    assert b"".join(rejected.streaming_content).decode().splitlines()[1].startswith("4,r3,scenario,")
    original = client.get(reverse("behaviour:platform_batch_original", args=["portal-1"]))
    assert b"".join(original.streaming_content) == body
    assert original["Content-Type"] == "application/gzip"
    listing = client.get(reverse("behaviour:platform_batches"))
    assert "portal-1" in listing.text
    # The same file under the same id again changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        again = _upload(client, "portal-1", body)
    assert again.status_code == 302
    assert Batch.objects.filter(platform=platform).count() == 1
    # Another file under the same id is refused with the reason, and kept nowhere.
    other = _upload(client, "portal-1", gz_csv([row("r9", "user-9")]))
    assert other.status_code == 400
    assert "portal-1" in other.text and "another file" in other.text


# --- Months -------------------------------------------------------------------------------------------


def test_this_month_cannot_be_closed_and_the_refusal_is_shown(client):
    platform = make_platform()
    client.force_login(admin_of(platform))
    this_month = f"{timezone.localdate():%Y-%m}"
    response = client.post(reverse("behaviour:platform_close_month", args=[this_month]), follow=True)
    assert response.status_code == 200
    assert "A month can be closed once it has ended." in response.text
    assert not AuditEvent.objects.filter(action="platform.period_closed").exists()


def test_closing_an_ended_month_files_its_declaration_and_links_it(
    client, django_capture_on_commit_callbacks
):
    platform = make_platform(threshold_g=10_000_000, codes=("second_hand",))
    file_project(make_project(platform, methodology=ensure_aggregation_methodology(), meters=()), reviewers())
    last_month = timezone.localdate().replace(day=1) - timedelta(days=1)
    when = timezone.make_aware(datetime(last_month.year, last_month.month, last_month.day, 10))
    # 42 phones traded at 25 kg each: 1.05 t, one whole tonne to declare and 50 kg carried.
    rows = [
        row(
            f"r{p}-{n}",
            f"user-{p}",
            "second_hand",
            start=when + timedelta(minutes=n),
            minutes=None,
            quantity="1",
        )
        for p in range(14)
        for n in range(3)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        send(platform, "phones-1", rows)
    client.force_login(admin_of(platform))
    key = f"{last_month:%Y-%m}"
    page = client.get(reverse("behaviour:platform_months"))
    assert reverse("behaviour:platform_close_month", args=[key]) in page.text
    with django_capture_on_commit_callbacks(execute=True):  # the worker's task runs after the request
        response = client.post(reverse("behaviour:platform_close_month", args=[key]), follow=True)
        assert "has begun" in response.text
        assert 'class="small mb-0 closing"' in response.text  # the month shows its close under way
        assert reverse("behaviour:platform_close_month", args=[key]) not in response.text
    period = AggregationPeriod.objects.get(platform=platform, month=last_month.replace(day=1))
    assert (period.declared_t, period.carried_out_g) == (1, 50_000)
    page = client.get(reverse("behaviour:platform_months"))
    assert period.declaration.get_absolute_url() in page.text
    assert reverse("behaviour:platform_close_month", args=[key]) not in page.text


@pytest.mark.django_db(transaction=True)
def test_where_tasks_run_in_the_web_process_the_close_is_done_when_the_page_comes_back(client):
    """make run: no broker, the task runs at the commit, inside the request; the page says what was done."""
    platform = make_platform(threshold_g=10_000_000, codes=("second_hand",))
    file_project(make_project(platform, methodology=ensure_aggregation_methodology(), meters=()), reviewers())
    last_month = timezone.localdate().replace(day=1) - timedelta(days=1)
    when = timezone.make_aware(datetime(last_month.year, last_month.month, last_month.day, 10))
    send(platform, "phones-1", [row("r1", "user-1", "second_hand", start=when, minutes=None, quantity="1")])
    client.force_login(admin_of(platform))
    response = client.post(
        reverse("behaviour:platform_close_month", args=[f"{last_month:%Y-%m}"]), follow=True, headers=EN
    )
    assert "less than a tonne to declare; 25,000 g carried to the next month" in response.text
    assert AggregationPeriod.objects.get(platform=platform).status == PeriodStatus.CLOSED


def test_a_viewer_cannot_close_a_month(client):
    platform = make_platform()
    client.force_login(make_member(platform, role=OrgRole.VIEWER))
    last_month = f"{timezone.localdate().replace(day=1) - timedelta(days=1):%Y-%m}"
    assert client.get(reverse("behaviour:platform_months")).status_code == 200
    assert client.post(reverse("behaviour:platform_close_month", args=[last_month])).status_code == 403
    assert client.post(reverse("behaviour:platform_close_month", args=["2024-13"])).status_code == 404


# --- The bureau's screen -------------------------------------------------------------------------------


def test_only_the_registry_administrator_reaches_the_platform_screen(client):
    platform = make_platform()
    urls = [reverse("behaviour:office_platforms"), reverse("behaviour:office_platform", args=[platform.pk])]
    assert client.get(urls[0]).status_code == 302  # anonymous: to the login
    client.force_login(admin_of(make_organisation()))
    assert [client.get(url).status_code for url in urls] == [403, 403]
    response = client.post(reverse("behaviour:office_platform_issue_key", args=[platform.pk]), {"label": "x"})
    assert response.status_code == 403
    client.force_login(make_bureau("approver"))
    assert [client.get(url).status_code for url in urls] == [403, 403]
    assert not ApiCredential.objects.exists()
    client.force_login(make_bureau("registry_admin"))
    assert [client.get(url).status_code for url in urls] == [200, 200]


def test_the_registry_administrator_records_the_agreement(client):
    platform = make_platform(codes=("metro",))
    client.force_login(make_bureau("registry_admin"))
    metro, bus = Scenario.objects.get(code="metro"), Scenario.objects.get(code="bus")
    response = client.post(
        reverse("behaviour:office_platform_agreement", args=[platform.pk]),
        {"threshold_g": "12000", "scenarios": [metro.pk, bus.pk], "agreed_on": "2025-01-15"},
    )
    assert response.status_code == 302
    agreement = PlatformAgreement.objects.get(organisation=platform)
    assert agreement.threshold_g == 12000
    assert set(agreement.scenarios.values_list("code", flat=True)) == {"metro", "bus"}
    bad = client.post(
        reverse("behaviour:office_platform_agreement", args=[platform.pk]),
        {"threshold_g": "-5", "scenarios": [metro.pk], "agreed_on": "2025-01-15"},
    )
    assert bad.status_code == 400
    assert PlatformAgreement.objects.get(organisation=platform).threshold_g == 12000


def test_a_double_click_on_issue_the_key_issues_one_key_and_shows_its_token(client):
    """The browser shows the answer to the second click: it lands where the first led, on the token."""
    platform = make_platform()
    client.force_login(make_bureau("registry_admin"))
    url = reverse("behaviour:office_platform_issue_key", args=[platform.pk])
    form = {"label": "uploader", "_once": "0123456789abcdef0123456789abcdef"}
    first, second = client.post(url, form), client.post(url, form)
    credential = ApiCredential.objects.get(organisation=platform)
    assert first["Location"] == second["Location"]
    page = client.get(second["Location"])
    assert page.context["token"].startswith(f"whb_{credential.key_id}_")


def test_an_issued_key_is_shown_once_opens_the_api_for_its_platform_and_revoking_closes_it(
    client, django_capture_on_commit_callbacks
):
    platform, other = make_platform(), make_platform()
    with django_capture_on_commit_callbacks(execute=True):
        send(platform, "own-1", [row("r1", "user-1")])
        send(other, "other-1", [row("r1", "user-1")])
    client.force_login(make_bureau("registry_admin"))
    issued = client.post(
        reverse("behaviour:office_platform_issue_key", args=[platform.pk]), {"label": "production uploader"}
    )
    credential = ApiCredential.objects.get(organisation=platform)
    shown_at = reverse("behaviour:office_platform_new_key", args=[platform.pk, credential.key_id])
    assert issued.status_code == 302 and issued["Location"] == shown_at
    response = client.get(shown_at, headers={"accept-language": "en"})
    assert response.status_code == 200
    token = response.context["token"]
    assert token.startswith(f"whb_{credential.key_id}_") and token in response.text
    assert "no-store" in response["Cache-Control"]
    assert token not in str(dict(client.session))  # it waited in the cache, and only until shown
    later = client.get(reverse("behaviour:office_platform", args=[platform.pk]))
    assert credential.key_id in later.text and token not in later.text
    reloaded = client.get(shown_at)  # within its two minutes: a double click's second answer shows it too
    assert reloaded.context["token"] == token
    cache.clear()  # what two minutes do to it
    again = client.get(shown_at, headers={"accept-language": "en"}, follow=True)
    assert token not in again.text and "cannot be shown again" in again.text
    secret = token.split("_", 2)[2]  # whb_<key>_<secret>: the secret may hold "_" itself

    api = Client()  # the platform's client: no session, the token only
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert api.get(reverse("behaviour:api_batch", args=["own-1"]), **auth).status_code == 200
    assert api.get(reverse("behaviour:api_batch", args=["other-1"]), **auth).status_code == 404

    member = Client()  # the platform's API page lists the key, never its secret
    member.force_login(admin_of(platform))
    keys = member.get(reverse("behaviour:platform_api"))
    assert credential.key_id in keys.text and secret not in keys.text and "production uploader" in keys.text

    revoked = client.post(
        reverse("behaviour:office_platform_revoke_key", args=[platform.pk, credential.key_id])
    )
    assert revoked.status_code == 302
    assert api.get(reverse("behaviour:api_batch", args=["own-1"]), **auth).status_code == 401
    # Another platform's key id under this platform is not found.
    assert (
        client.post(
            reverse("behaviour:office_platform_revoke_key", args=[other.pk, credential.key_id])
        ).status_code
        == 404
    )


# --- Public aggregates ------------------------------------------------------------------------------------


def test_the_public_pages_show_aggregates_and_nothing_of_a_person(client, django_capture_on_commit_callbacks):
    platform = make_platform(name="=HYPERLINK(1)出行平台", name_en="Metro Rides Ltd")
    account = make_resident()
    day = recent(1)
    with django_capture_on_commit_callbacks(execute=True):
        send(
            platform,
            "pub-1",
            [
                row("r1", account.number, start=day, quantity="10.5"),
                row("r2", "pseudonym-4711", "bicycle", start=recent(1, 9), quantity="3"),
            ],
        )
    home = client.get(reverse("registry:home"), headers={"accept-language": "en"})
    assert home.status_code == 200
    section = home.text.split('class="mt-4 behaviour-home"')[1].split("</section>")[0]
    assert "Rail transit trip" in section and "Shared-bicycle ride" in section
    metro = section.split("Rail transit trip")[1].split("</tr>")[0]
    assert '<td class="text-end">1</td>' in metro and '<td class="text-end">0.5</td>' in metro  # 472 g, in kg
    assert "1 platform operator" in section
    month = f"{day:%Y-%m}"
    page = client.get(reverse("behaviour:public_totals"), {"month": month}, headers={"accept-language": "en"})
    assert page.status_code == 200
    assert "Metro Rides Ltd" in page.text and "0.472" in page.text
    assert "max-age=300" in page["Cache-Control"]  # cached like the other public pages
    csv_text = client.get(reverse("behaviour:public_totals_csv"), {"month": month}).content.decode(
        "utf-8-sig"
    )
    lines = csv_text.splitlines()
    assert lines[0] == "day,scenario,scenario_zh,scenario_en,platform,platform_en,records,grams"
    assert sorted(line.split(",")[1] for line in lines[1:]) == ["bicycle", "metro"]
    assert "'=HYPERLINK(1)出行平台" in csv_text  # formula-safe
    for text in (home.text, page.text, csv_text):
        assert account.number not in text
        assert "pseudonym-4711" not in text
        assert account.identity_masked not in text
    assert client.get(reverse("behaviour:public_totals"), {"month": "2024-13"}).status_code == 400
    empty = client.get(reverse("behaviour:public_totals_csv"), {"month": "2001-01"})
    assert empty.content.decode("utf-8-sig").strip() == lines[0]


def test_the_home_page_has_no_behaviour_section_before_any_record(client):
    assert 'class="mt-4 behaviour-home"' not in client.get(reverse("registry:home")).text


def test_a_new_keys_token_is_for_the_session_that_issued_it_and_waits_two_minutes_at_most(client):
    platform = make_platform()
    admin = make_bureau("registry_admin")
    client.force_login(admin)
    issued = client.post(reverse("behaviour:office_platform_issue_key", args=[platform.pk]), {"label": "x"})
    other = Client()  # the same administrator in another browser
    other.force_login(admin)
    elsewhere = other.get(issued["Location"], headers={"accept-language": "en"}, follow=True)
    assert "cannot be shown again" in elsewhere.text and "whb_" not in elsewhere.text
    shown = client.get(issued["Location"])
    assert shown.context["token"].startswith("whb_")

    later = client.post(reverse("behaviour:office_platform_issue_key", args=[platform.pk]), {"label": "y"})
    assert office_views.NEW_TOKEN_SECONDS == 120
    cache.clear()  # what two minutes do to it
    expired = client.get(later["Location"], headers={"accept-language": "en"}, follow=True)
    assert "cannot be shown again" in expired.text and "whb_" not in expired.text


def test_the_address_a_form_was_sent_to_leads_back_to_the_platform_page(client):
    """After a form comes back with its errors the address bar shows where it went; Enter there is a GET."""
    platform = make_platform()
    client.force_login(make_bureau("registry_admin"))
    for name in ("behaviour:office_platform_issue_key", "behaviour:office_platform_agreement"):
        response = client.get(reverse(name, args=[platform.pk]))
        assert response.status_code == 302
        assert response["Location"] == reverse("behaviour:office_platform", args=[platform.pk])
    assert not ApiCredential.objects.exists()


def test_the_agreement_reads_as_its_language_writes_and_its_date_is_in_the_form(client):
    """A date field reads only ISO dates: the Chinese page wrote 2024/10/01 and showed an empty field. The
    agreed scenarios are listed as each language lists things."""
    platform = make_platform(codes=("metro", "bus"))
    client.force_login(make_bureau("registry_admin"))
    url = reverse("behaviour:office_platform", args=[platform.pk])
    chinese = client.get(url, headers={"accept-language": "zh-hans"}).text
    english = client.get(url, headers={"accept-language": "en"}).text
    assert 'type="date" name="agreed_on" value="2024-10-01"' in chinese
    assert 'type="date" name="agreed_on" value="2024-10-01"' in english
    agreed = platform.platform_agreement.scenarios.order_by("category", "code")
    with translation.override("zh-hans"):
        assert "场景：" + "、".join(scenario.name for scenario in agreed) + "</p>" in chinese
    with translation.override("en"):
        assert "scenarios: " + ", ".join(scenario.name for scenario in agreed) + "</p>" in english
