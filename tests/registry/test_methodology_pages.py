"""The public methodology catalogue: each methodology's applicability, formula, parameters and the grid
emission factors in force, in both languages, cached for anonymous visitors; an unknown code is a 404."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from registry.methodology_views import factors_in_force
from registry.models import FactorScope, GridEmissionFactor, MethodologyStatus, Sector
from tests.factories import make_bureau, make_factor, make_pv_methodology

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
ZH = {"accept-language": "zh-CN,zh;q=0.9"}


@pytest.fixture
def pv():
    make_factor(2021, "0.5810")
    make_factor(2022, "0.5703")
    return make_pv_methodology(
        title_zh="分布式光伏发电项目碳普惠方法学",
        title_en="Distributed photovoltaic generation",
        applicability_zh="单个并网点装机容量小于6兆瓦的分布式光伏发电项目。",
        applicability_en="Distributed PV in the city, each grid-connection point under 6 MW.",
    )


@pytest.fixture
def manure():
    return make_pv_methodology(
        code="MA",
        title_zh="规模化畜禽养殖场粪污资源化利用碳普惠方法学",
        title_en="Manure use on large farms",
        sector=Sector.AGRICULTURE,
        calculator="",
        factor_scope="",
        max_point_capacity_kw=None,
        applicability_zh="减排量以核查报告为准。",
        applicability_en="The verified quantity comes from the verification report.",
    )


def test_the_list_shows_each_methodology_with_its_formula_and_the_factors_in_english(client, pv, manure):
    response = client.get(reverse("registry:methodologies"), headers=EN)
    assert response.status_code == 200
    text = response.text
    assert "Distributed photovoltaic generation" in text
    assert "Manure use on large farms" in text
    assert "ER = EG × EF" in text
    assert "The verified quantity of the verification report" in text
    assert reverse("registry:methodology", args=["PV"]) in text
    assert reverse("registry:methodology", args=["MA"]) in text
    assert "0.5703" in text and "0.5810" in text


def test_the_list_reads_in_chinese_from_the_chinese_fields(client, pv, manure):
    response = client.get(reverse("registry:methodologies"), headers=ZH)
    text = response.text
    assert 'lang="zh-Hans"' in text
    assert "分布式光伏发电项目碳普惠方法学" in text
    assert "规模化畜禽养殖场粪污资源化利用碳普惠方法学" in text
    assert "Distributed photovoltaic generation" not in text
    assert "ER = EG × EF" in text
    assert "电网排放因子（tCO2/MWh）" in text
    assert "0.5703" in text


def test_the_detail_shows_applicability_formula_parameters_documents_and_factors_in_english(client, pv):
    response = client.get(reverse("registry:methodology", args=["PV"]), headers=EN)
    assert response.status_code == 200
    text = response.text
    assert "Distributed photovoltaic generation" in text
    assert "Distributed PV in the city, each grid-connection point under 6 MW." in text
    assert "ER = EG × EF" in text
    for symbol in ("ER", "EG", "EF"):
        assert f"<var>{symbol}</var>" in text
    assert "Electricity supplied or self-consumed, sum of the months (MWh)" in text
    assert "under 6,000 kW" in text
    assert "Grid-connection acceptance" in text
    assert "Verification report" in text and "uploaded by the verification body" in text
    assert f"{reverse('offsets:registry')}?methodology={pv.pk}" in text


def test_the_detail_lists_the_factor_in_force_for_each_vintage_up_to_this_year(client, pv):
    from django.utils import timezone

    this_year = timezone.localdate().year
    response = client.get(reverse("registry:methodology", args=["PV"]), headers=EN)
    factors = response.context["factors"]
    assert [row.vintage for row in factors] == list(range(this_year, 2020, -1))
    assert [(row.vintage, row.factor.value) for row in factors[-2:]] == [
        (2022, Decimal("0.5703")),
        (2021, Decimal("0.5810")),
    ]
    assert f'<th scope="row">{this_year}</th>' in response.text
    assert "2022 (latest published)" in response.text


def test_the_detail_reads_in_chinese_from_the_chinese_fields(client, pv):
    text = client.get(reverse("registry:methodology", args=["PV"]), headers=ZH).text
    assert 'lang="zh-Hans"' in text
    assert "分布式光伏发电项目碳普惠方法学" in text
    assert "单个并网点装机容量小于6兆瓦的分布式光伏发电项目。" in text
    assert "Distributed photovoltaic generation" not in text
    assert "Distributed PV in the city" not in text
    assert "ER = EG × EF" in text
    assert "电网排放因子（tCO2/MWh）" in text
    assert "0.5703" in text and "0.5810" in text


def test_a_methodology_without_a_formula_says_where_its_quantity_comes_from(client, manure):
    text = client.get(reverse("registry:methodology", args=["MA"]), headers=EN).text
    assert "The verified quantity of the verification report" not in text  # that is the list's wording
    assert "the applicant declares the quantity of the verification report" in text
    assert " × EF" not in text
    assert "Grid emission factors in force" not in text


@pytest.mark.parametrize("code", ["ZZ", "PV1", "P%20V", "x" * 300, "0"])
def test_an_unknown_code_is_a_404(client, pv, code):
    assert client.get(f"/methodologies/{code}/", headers=EN).status_code == 404


def test_the_code_is_read_in_any_case(client, pv):
    assert client.get("/methodologies/pv/", headers=EN).status_code == 200


def test_the_version_in_force_is_shown_with_the_earlier_ones_listed(client, pv):
    make_pv_methodology(
        version="0.9",
        title_en="Distributed PV, first edition",
        effective_date=date(2022, 6, 1),
        status=MethodologyStatus.SUPERSEDED,
    )
    response = client.get(reverse("registry:methodology", args=["PV"]), headers=EN)
    assert response.context["methodology"] == pv
    assert "Distributed PV, first edition" not in response.text
    assert [v.version for v in response.context["versions"]] == ["1.0", "0.9"]
    listed = client.get(reverse("registry:methodologies"), headers=EN)
    assert [m.version for m, _calculator in listed.context["rows"]] == ["1.0"]


def test_factors_in_force_follow_the_rule_declarations_are_calculated_by():
    make_factor(2019, "0.6101")
    make_factor(2022, "0.5703")  # none for 2020 and 2021: 2019's applies
    make_factor(2021, "0.9999", scope=FactorScope.REGIONAL)  # another scope never counts
    rows = factors_in_force(FactorScope.NATIONAL, 2024)
    assert [row.vintage for row in rows] == [2024, 2023, 2022, 2021, 2020, 2019]
    for row in rows:
        assert row.factor == GridEmissionFactor.objects.for_vintage(FactorScope.NATIONAL, row.vintage)
    assert factors_in_force(FactorScope.PROVINCE, 2024) == []


def test_the_pages_are_cached_for_anonymous_visitors_only(client, pv):
    for url in (reverse("registry:methodologies"), reverse("registry:methodology", args=["PV"])):
        first = client.get(url, headers=EN)
        assert "max-age=60" in first["Cache-Control"], url
        assert "private" not in first["Cache-Control"], url
    type(pv).objects.filter(pk=pv.pk).update(title_en="Renamed in the admin")
    detail = reverse("registry:methodology", args=["PV"])
    assert "Renamed in the admin" not in client.get(detail, headers=EN).text  # served from the cache

    client.force_login(make_bureau("registry_admin"))
    mine = client.get(detail, headers=EN)
    assert "Renamed in the admin" in mine.text
    assert {"private", "no-store"} <= {d.strip() for d in mine["Cache-Control"].split(",")}
