"""The home page's charts (issue 13): bars with both axes titled, each bar's value and a legend, drawn by
Chart.js from our own static script (the CSP forbids inline script); the tables stay for screen readers."""

import json
import re

import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from tests.factories import registered_phase, reviewers

EN = {"accept-language": "en"}


@pytest.mark.django_db
def test_each_chart_carries_its_figures_axes_and_series(client):
    registered_phase(reviewers(), count=2)
    html = client.get("/", headers=EN).content.decode()
    assert '<script src="/static/vendor/chart.js-4.6.1/chart.umd.min.js"></script>' in html
    assert '<script src="/static/js/home-charts.js"></script>' in html
    assert "<script>" not in html  # nothing inline
    canvas = re.search(r'<canvas id="chart-phase"[^>]*>', html).group(0)
    assert 'data-category-axis="Phase"' in canvas
    assert 'data-value-axis="Tonnes"' in canvas and 'data-series="Issued (t)"' in canvas
    rows = json.loads(
        re.search(r'<script id="chart-phase-data" type="application/json">(.*?)</script>', html)[1]
    )
    assert [row["label"] for row in rows] == ["2023P01"] and rows[0]["value"] > 0
    # The same figures in a table, for screen readers and readers without script.
    assert '<th scope="col">Phase</th><th scope="col" class="text-end">Issued (t)</th>' in html


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("language", "axis", "series"), [("en", "Tonnes", "Issued (t)"), ("zh-hans", "吨数", "已签发（吨）")]
)
def test_the_charts_are_drawn_with_axes_values_and_a_legend(
    page: Page, live_server, language, axis, series, csp_violations
):
    cache.clear()
    registered_phase(reviewers(), count=2)
    page.set_extra_http_headers({"Accept-Language": {"en": "en", "zh-hans": "zh-CN,zh;q=0.9"}[language]})
    page.goto(live_server.url + "/")
    chart = page.locator("#chart-phase")
    expect(chart).to_be_visible()
    drawn = page.evaluate(
        """() => {
          const chart = Chart.getChart("chart-phase");
          const scales = chart.options.scales;
          return {
            valueAxis: scales.x.title.display && scales.x.title.text,
            categoryAxis: scales.y.title.display && scales.y.title.text,
            legend: chart.options.plugins.legend.display && chart.data.datasets[0].label,
            bars: chart.getDatasetMeta(0).data.length,
            values: chart.config.plugins.map((plugin) => plugin.id),
            height: chart.height,
          };
        }"""
    )
    assert drawn["valueAxis"] == axis
    assert drawn["categoryAxis"] == {"en": "Phase", "zh-hans": "批次"}[language]
    assert drawn["legend"] == series
    assert drawn["bars"] == 1 and "barValues" in drawn["values"] and drawn["height"] > 100
    # Drawn, the table is for screen readers only; it is still there for them.
    table = page.locator("figure:has(#chart-phase) table")
    expect(table).to_have_class(re.compile(r"\bvisually-hidden\b"))
    expect(table).to_contain_text("2023P01")
    assert csp_violations == []
