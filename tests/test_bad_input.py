"""The inputs that gave 500s in the attacker's trial now answer 400 or 404 in the visitor's language,
and change nothing."""

import pytest
from django.urls import reverse

from offsets.models import IssuancePhase, PhaseEntry
from projects.forms import MAX_CONNECTION_POINTS
from registry.models import AuditEvent
from tests.factories import (
    admin_of,
    approved_declaration,
    make_bureau,
    make_organisation,
    make_pv_methodology,
    reviewers,
)

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
ZH = {"accept-language": "zh-hans"}
ROLES = ("intake_officer", "technical_reviewer", "expert", "approver", "registry_admin")


@pytest.fixture
def bureau(client):
    client.force_login(make_bureau(*ROLES))
    return client


def assert_bad_request(response, text="Bad request"):
    assert response.status_code == 400
    assert text in response.text


def assert_bad_request_in_chinese(response, text="请求无效"):
    assert response.status_code == 400
    assert 'lang="zh-Hans"' in response.text
    assert text in response.text


def test_the_language_switch_goes_home_when_next_is_not_a_path(client):
    for target in ["NaN", "registry:home", "javascript:alert(1)", "//evil.example/"]:
        response = client.get(reverse("registry:switch_language"), {"language": "en", "next": target})
        assert response.status_code == 302, target
        assert response.url == "/", target


@pytest.mark.parametrize("year", ["0", "²", "9" * 30, "-1", "1", "2023.0", "٢٠٢٣"])
def test_a_year_that_is_not_a_year_answers_400_in_the_visitors_language(client, year):
    assert_bad_request(client.get(reverse("offsets:notices"), {"year": year}, headers=EN), "four digits")
    assert_bad_request_in_chinese(
        client.get(reverse("offsets:notices"), {"year": year}, headers=ZH), "四位数年份"
    )


def test_a_real_year_still_filters_the_notices(client):
    assert client.get(reverse("offsets:notices"), {"year": "2023"}).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/registry/?q=%00",
        "/registry/?q%00=1",
        "/registry/WH%00/",
        "/notices/2023%00P01/",
        "/invitation/a%00b/",
    ],
)
def test_a_nul_character_in_the_address_answers_400(client, url):
    assert_bad_request(client.get(url, headers=EN), "not allowed")


def test_a_nul_character_answers_400_to_a_logged_in_user_too(client):
    client.force_login(admin_of(make_organisation()))
    assert_bad_request_in_chinese(client.get("/certificates/WHCER%00/", headers=ZH), "不允许的字符")


def test_a_login_name_over_255_characters_is_a_failed_login_not_a_500(client):
    response = client.post(reverse("login"), {"username": "a" * 300 + "@example.com", "password": "x"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


class TestPhaseCodes:
    @pytest.mark.parametrize("code", ["2023/P01", "2023-P01", "P 01", "期01", "../x", "", "P" * 21])
    def test_a_code_that_is_not_letters_and_digits_is_refused_by_the_form(self, bureau, code):
        response = bureau.post(
            reverse("offsets:office_phases"),
            {"code": code, "title_zh": "批次", "title_en": "Phase"},
            headers=EN,
        )
        assert response.status_code == 200
        assert response.context["form"].errors["code"]
        assert not IssuancePhase.objects.exists()
        assert bureau.get(reverse("offsets:office_phases")).status_code == 200

    def test_a_lower_case_code_is_stored_upper_case(self, bureau):
        response = bureau.post(
            reverse("offsets:office_phases"), {"code": " 2024p02 ", "title_zh": "批次", "title_en": "Phase"}
        )
        assert response.status_code == 302
        assert IssuancePhase.objects.get().code == "2024P02"

    @pytest.mark.postgres
    def test_the_database_refuses_a_code_with_a_slash(self):
        from django.db import IntegrityError, transaction

        with pytest.raises(IntegrityError), transaction.atomic():
            IssuancePhase.objects.create(
                code="2023/P01", title_zh="批次", title_en="Phase", assembled_by=make_bureau(*ROLES)
            )


class TestPhaseActions:
    @pytest.fixture
    def phase(self):
        from offsets import issuing

        return issuing.create_phase(
            code="2024P01", title_zh="批次", title_en="Phase", by=make_bureau("registry_admin")
        )

    @pytest.mark.parametrize("value", ["abc", "1.5", "²", "9" * 30, "-1", ""])
    def test_ids_that_are_not_ids_answer_400_and_change_nothing(self, bureau, phase, value):
        declaration = approved_declaration(reviewers())
        events = AuditEvent.objects.count()
        add = reverse("offsets:office_phase_act", args=[phase.code, "add"])
        response = bureau.post(add, {"declarations": [declaration.pk, value]}, headers=EN)
        assert_bad_request(response, "not a record of this registry")
        remove = reverse("offsets:office_phase_act", args=[phase.code, "remove"])
        assert_bad_request(bureau.post(remove, {"declaration": value}, headers=EN))
        assert not PhaseEntry.objects.exists()
        assert AuditEvent.objects.count() == events

    def test_a_note_with_a_nul_answers_400(self, bureau, phase):
        url = reverse("offsets:office_phase_act", args=[phase.code, "send_back"])
        assert_bad_request(bureau.post(url, {"note": "a\x00b"}, headers=EN), "not allowed (NUL)")


@pytest.mark.parametrize("before", ["²", "NaN", "-1", "9" * 30, "1e3"])
def test_the_audit_log_refuses_a_cursor_that_is_not_a_number(bureau, before):
    assert_bad_request(
        bureau.get(reverse("registry:audit_log"), {"before": before}, headers=EN), "not a valid number"
    )


def test_the_audit_log_still_pages(bureau):
    assert bureau.get(reverse("registry:audit_log"), {"before": "5"}).status_code == 200


# A code cursor is "<code>~<id>": any text is a position among codes, but the id must be one.
BAD_CURSORS = ["1~NaN", "~", "x", "1~²", "WH-PV-0001~" + "9" * 30, "WH-PV-0001~-"]
# A date, a time or a number cursor must also hold one.
BAD_VALUE_CURSORS = ["NaN~1", "inf~1", "2023-13-45T00:00:00+00:00~1", "9" * 30 + "~1", "²~1"]


@pytest.mark.parametrize("key", ["after", "before"])
def test_registry_cursors_that_came_from_no_link_answer_400(client, key):
    url = reverse("offsets:registry")
    for cursor in BAD_CURSORS:
        response = client.get(url, {"sort": "code", key: cursor}, headers=EN)
        assert_bad_request(response, "page link is not valid")
    for cursor in BAD_CURSORS + BAD_VALUE_CURSORS:
        response = client.get(url, {"sort": "-filed_at", key: cursor}, headers=EN)
        assert_bad_request(response, "page link is not valid")


@pytest.mark.parametrize("sort", ["due_date", "-submitted_at", "submitted_at", "-claimed_t"])
def test_office_queue_cursors_that_came_from_no_link_answer_400(bureau, sort):
    url = reverse("projects:office_queue", args=["declarations", "intake"])
    for cursor in BAD_CURSORS + BAD_VALUE_CURSORS:
        assert_bad_request(bureau.get(url, {"sort": sort, "after": cursor}, headers=EN))


class TestConnectionPointFormset:
    def post(self, client, total):
        make_pv_methodology()
        data = {
            "title": "屋顶光伏",
            "points-TOTAL_FORMS": str(total),
            "points-INITIAL_FORMS": "0",
            "points-MIN_NUM_FORMS": "0",
            "points-MAX_NUM_FORMS": "1000",
        }
        return client.post(reverse("projects:project_create"), data, headers=EN)

    @pytest.mark.parametrize("total", [2147483648, 10**30, MAX_CONNECTION_POINTS + 1])
    def test_a_huge_total_forms_is_a_form_error_and_builds_few_forms(self, client, total):
        client.force_login(admin_of(make_organisation()))
        response = self.post(client, total)
        assert response.status_code == 200
        formset = response.context["formset"]
        assert formset.non_form_errors()
        assert len(formset.forms) <= MAX_CONNECTION_POINTS
        assert response.text.count('name="points-') <= MAX_CONNECTION_POINTS * 4 + 4


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_empty_to_field_in_the_admin_answers_400(bureau, method):
    # Found by tests/test_fuzz_urls.py: Django's admin looked the empty name up as a field (a 500).
    methodology = make_pv_methodology()
    url = reverse("admin:registry_methodology_change", args=[methodology.pk])
    assert bureau.get(url).status_code == 200
    assert_bad_request(getattr(bureau, method)(url, {"_to_field": ""}, headers=EN), "nameless field")
