"""Every link of the header's menus goes somewhere: the public menu reaches the registry, open data and
the methodologies, the home page invites enterprises to sign up, and the portal's menus open their pages."""

import re

import pytest
from django.urls import reverse

from registry.models import OrgRole
from tests.factories import make_bureau, make_member, make_organisation

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}
ZH = {"accept-language": "zh-CN,zh;q=0.9"}


def header_links(html: str) -> list[str]:
    header = re.search(r'<header class="site-header".*?</header>', html, re.S).group(0)
    # The language switcher's links change a setting; they are tested with the switcher.
    return [href for href in re.findall(r'href="([^"#]+)"', header) if "/language/" not in href]


def assert_all_open(client, links: list[str], headers: dict) -> None:
    for href in links:
        response = client.get(href, headers=headers, follow=True)
        assert response.status_code == 200, href


@pytest.mark.parametrize("headers", [EN, ZH])
def test_the_public_menu_reaches_the_registry_open_data_and_methodologies(client, headers):
    links = header_links(client.get(reverse("registry:home"), headers=headers).text)
    for name in ("offsets:registry", "offsets:open_data", "registry:methodologies", "offsets:notices"):
        assert reverse(name) in links, name
    assert_all_open(client, links, headers)


@pytest.mark.parametrize(
    "page", [reverse("registry:methodologies"), reverse("offsets:open_data"), reverse("offsets:verify")]
)
def test_every_public_page_has_the_same_menu(client, page):
    home = header_links(client.get(reverse("registry:home"), headers=EN).text)
    assert header_links(client.get(page, headers=EN).text) == home


def test_the_home_page_invites_enterprises_to_sign_up(client):
    text = client.get(reverse("registry:home"), headers=EN).text
    main = re.search(r"<main.*?</main>", text, re.S).group(0)
    assert f'href="{reverse("registry:sign_up")}"' in main
    assert "Register an organisation" in main
    assert client.get(reverse("registry:sign_up"), headers=EN).status_code == 200


def test_the_portal_menus_open_the_enterprise_pages(client):
    admin = make_member(make_organisation(), OrgRole.ADMIN)
    client.force_login(admin)
    links = header_links(client.get(reverse("registry:portal"), headers=EN).text)
    for name in (
        "registry:portal",
        "projects:cases",
        "offsets:account",
        "registry:organisation",
        "registry:members",
    ):
        assert reverse(name) in links, name
    for name in ("registry:inbox", "registry:dashboard", "password_change", "mfa_manage"):
        assert reverse(name) in links, name
    assert_all_open(client, links, EN)


def test_the_office_header_opens_the_bureau_pages(client):
    client.force_login(make_bureau("registry_admin"))
    links = header_links(client.get(reverse("registry:office"), headers=EN).text)
    assert reverse("registry:office") in links
    assert_all_open(client, links, EN)
