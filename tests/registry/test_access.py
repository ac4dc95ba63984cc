"""registry.access: the rules, the two answers (404 for another organisation's object, 403 for someone
who may see but not act) and the current membership looked up once per request."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry import access, audit, services
from registry.models import Delivery, Membership, Organisation, OrgRole
from tests.factories import admin_of, make_bureau, make_member, make_organisation

pytestmark = pytest.mark.django_db


@pytest.fixture
def organisation():
    return make_organisation()


def _rules(user, organisation) -> tuple[bool, bool, bool, bool]:
    return (
        access.is_member_of(user, organisation),
        access.is_admin_of(user, organisation),
        access.may_act_for(user, organisation),
        access.is_read_only_member(user, organisation),
    )


class TestRules:
    def test_each_role_of_the_organisation(self, organisation):
        assert _rules(admin_of(organisation), organisation) == (True, True, True, False)
        assert _rules(make_member(organisation, OrgRole.DECLARANT), organisation) == (
            True,
            False,
            True,
            False,
        )
        assert _rules(make_member(organisation, OrgRole.VIEWER), organisation) == (True, False, False, True)

    def test_another_organisations_admin_bureau_staff_and_anonymous_hold_no_role(self, organisation):
        for user in [admin_of(make_organisation()), make_bureau("registry_admin"), AnonymousUser()]:
            assert _rules(user, organisation) == (False, False, False, False)

    def test_a_rule_outside_a_request_reads_the_role_as_it_is_now(self, organisation):
        declarant = make_member(organisation, OrgRole.DECLARANT)
        assert access.may_act_for(declarant, organisation)
        services.change_role(
            Membership.objects.get(user=declarant), by=admin_of(organisation), role=OrgRole.VIEWER
        )
        assert not access.may_act_for(declarant, organisation)

    def test_require_refuses_with_the_rules_message(self, organisation):
        viewer = make_member(organisation, OrgRole.VIEWER)
        with pytest.raises(PermissionDenied, match="administrator or declarants"):
            access.require(access.may_act_for, viewer, organisation)
        with pytest.raises(PermissionDenied, match="bureau role"):
            access.require(access.has_right, viewer, "projects.act_intake")
        access.require(access.may_act_for, admin_of(organisation), organisation)  # allowed: no exception


class TestFetching:
    def test_get_visible_or_404_answers_another_organisations_object_as_missing(self, organisation):
        other = make_organisation()
        member = make_member(organisation, OrgRole.VIEWER)
        assert access.get_visible_or_404(Organisation.objects, member, pk=organisation.pk) == organisation
        with pytest.raises(Http404):
            access.get_visible_or_404(Organisation.objects, member, pk=other.pk)
        bureau = make_bureau("intake_officer")
        assert access.get_visible_or_404(Organisation.objects, bureau, pk=other.pk) == other

    def test_member_for_is_404_for_another_organisation_and_403_for_a_non_admin(self, organisation):
        declarant = make_member(organisation, OrgRole.DECLARANT)
        own = Membership.objects.get(user=declarant)
        stranger = Membership.objects.get(user=admin_of(make_organisation()))
        assert access.member_for(admin_of(organisation), own.pk) == own
        with pytest.raises(Http404):
            access.member_for(admin_of(organisation), stranger.pk)
        with pytest.raises(PermissionDenied):
            access.member_for(declarant, own.pk)
        with pytest.raises(Http404):
            access.member_for(make_bureau("registry_admin"), own.pk)

    def test_nobody_reads_another_users_inbox(self, organisation):
        admin, declarant = admin_of(organisation), make_member(organisation, OrgRole.DECLARANT)
        event = audit.record(actor=admin, action="organisation.updated", subject=organisation)
        entry = Delivery.objects.create(
            event=event, channel=Delivery.Channel.INBOX, email=admin.email, user=admin
        )
        assert list(access.deliveries_visible_to(admin)) == [entry]
        assert not access.deliveries_visible_to(declarant).exists()
        assert not access.deliveries_visible_to(AnonymousUser()).exists()


def _membership_look_ups(queries, user) -> int:
    """The queries that looked up this user's membership by user (not the members list of a page)."""
    needle = f'"registry_membership"."user_id" = {user.pk}'
    return sum(
        1
        for q in queries
        if q["sql"].lstrip().startswith("SELECT")
        and needle in q["sql"]
        and 'FROM "registry_membership"' in q["sql"]
    )


class TestCurrentMembership:
    def test_looked_up_once_for_a_portal_page_and_its_header(self, client, organisation):
        admin = admin_of(organisation)
        client.force_login(admin)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(reverse("registry:members"), headers={"accept-language": "en"})
        assert response.status_code == 200
        assert response.context["is_admin"] is True
        assert response.context["current_membership"].organisation == organisation
        assert _membership_look_ups(captured.captured_queries, admin) == 1

    def test_the_members_page_offers_a_viewer_no_administration(self, client, organisation):
        client.force_login(make_member(organisation, OrgRole.VIEWER))
        response = client.get(reverse("registry:members"), headers={"accept-language": "en"})
        assert response.status_code == 200
        assert response.context["is_admin"] is False
        assert "Send invitation" not in response.content.decode()

    def test_bureau_staff_have_no_portal(self, client):
        client.force_login(make_bureau("registry_admin"))
        assert client.get(reverse("registry:members")).status_code == 404
