"""Member management through the pages: each action answers a redirect with a message in the user's
language, never a 500. Three people: the organisation's admin acts, its viewer gets 403, another
organisation's user gets 404."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from registry.models import AuditEvent, Membership, OrgRole
from tests.factories import admin_of, make_member, make_organisation

pytestmark = pytest.mark.django_db

ENGLISH, CHINESE = {"accept-language": "en"}, {"accept-language": "zh-hans"}


@pytest.fixture
def organisation():
    return make_organisation()


@pytest.fixture
def admin(organisation):
    return admin_of(organisation)


@pytest.fixture
def declarant(organisation):
    return make_member(organisation, OrgRole.DECLARANT, full_name="Dana Declarant")


def post(client, name, member, data=None, headers=ENGLISH):
    return client.post(reverse(f"registry:{name}", args=[member.membership.pk]), data or {}, headers=headers)


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize(
    ("headers", "expected"), [(ENGLISH, "Role changed."), (CHINESE, "角色已变更。")], ids=["en", "zh"]
)
def test_admin_changes_a_role(client, admin, declarant, headers, expected):
    client.force_login(admin)
    response = post(client, "member_role", declarant, {"role": "viewer"}, headers)
    assert response.status_code == 302
    assert response.url == reverse("registry:members")
    assert texts(response) == [expected]
    assert Membership.objects.get(user=declarant).role == OrgRole.VIEWER
    assert AuditEvent.objects.filter(action="membership.role_changed").count() == 1


@pytest.mark.parametrize(
    ("headers", "expected"), [(ENGLISH, "Member removed."), (CHINESE, "成员已移除。")], ids=["en", "zh"]
)
def test_admin_removes_a_member(client, admin, declarant, headers, expected):
    client.force_login(admin)
    response = post(client, "member_remove", declarant, headers=headers)
    assert response.status_code == 302
    assert response.url == reverse("registry:members")
    assert texts(response) == [expected]
    assert not Membership.objects.filter(user=declarant).exists()
    declarant.refresh_from_db()  # the account stays, without access


@pytest.mark.parametrize(
    ("headers", "expected"),
    [(ENGLISH, "Dana Declarant is now the administrator."), (CHINESE, "Dana Declarant现为管理员。")],
    ids=["en", "zh"],
)
def test_admin_hands_over_the_admin_role(client, admin, declarant, headers, expected):
    client.force_login(admin)
    response = post(client, "member_hand_over", declarant, headers=headers)
    assert response.status_code == 302
    assert response.url == reverse("registry:members")
    assert texts(response) == [expected]
    assert Membership.objects.get(user=declarant).role == OrgRole.ADMIN
    assert Membership.objects.get(user=admin).role == OrgRole.DECLARANT


def test_a_role_that_does_not_exist_is_refused_with_a_message(client, admin, declarant):
    client.force_login(admin)
    response = post(client, "member_role", declarant, {"role": "owner"})
    assert response.status_code == 302
    assert texts(response) == ["Choose a role."]
    assert Membership.objects.get(user=declarant).role == OrgRole.DECLARANT


def test_its_viewer_gets_403_another_organisations_users_get_404(client, organisation, declarant):
    client.force_login(make_member(organisation, OrgRole.VIEWER))
    for name in ("member_role", "member_remove", "member_hand_over"):
        assert post(client, name, declarant, {"role": "viewer"}).status_code == 403, name
    other = make_organisation()
    # Any user of another organisation, its viewer too: 404, so nobody learns what exists elsewhere.
    for user in (admin_of(other), make_member(other, OrgRole.VIEWER)):
        client.force_login(user)
        for name in ("member_role", "member_remove", "member_hand_over"):
            assert post(client, name, declarant, {"role": "viewer"}).status_code == 404, name
    assert Membership.objects.get(user=declarant).role == OrgRole.DECLARANT
