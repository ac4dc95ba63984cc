import pytest
from django.core.exceptions import PermissionDenied

from registry import services
from registry.models import (
    AuditEvent,
    Delivery,
    Invitation,
    Membership,
    Organisation,
    OrganisationStatus,
    OrgRole,
)
from tests.factories import (
    admin_of,
    make_bureau,
    make_member,
    make_organisation,
    make_user,
    organisation_data,
)

pytestmark = pytest.mark.django_db


def actions_of(subject) -> list[str]:
    from registry.audit import events_of

    return list(events_of(subject).order_by("seq").values_list("action", flat=True))


class TestSignUpAndVerification:
    def test_sign_up_makes_a_pending_organisation_with_an_inactive_admin(
        self, mailoutbox, django_capture_on_commit_callbacks
    ):
        organisation = Organisation(**organisation_data())
        with django_capture_on_commit_callbacks(execute=True):
            user = services.sign_up(
                organisation=organisation,
                email="boss@example.com",
                full_name="Boss",
                password="x-Pass-1234",
                language="en",
            )
        assert organisation.status == OrganisationStatus.PENDING
        assert not user.is_active
        assert Membership.objects.get(user=user).role == OrgRole.ADMIN
        assert actions_of(organisation) == ["organisation.signed_up"]
        assert [m.to for m in mailoutbox] == [["boss@example.com"]]
        assert "/signup/confirm/" in mailoutbox[0].body

    def test_confirming_the_email_activates_the_user_once(self):
        organisation = make_organisation(status=OrganisationStatus.PENDING)
        user = admin_of(organisation)
        assert user.is_active
        services.confirm_email(user)
        assert AuditEvent.objects.filter(action="user.email_confirmed", actor=user).count() == 1

    def test_verification_tells_the_admin_in_its_language(
        self, mailoutbox, django_capture_on_commit_callbacks
    ):
        organisation = make_organisation(status=OrganisationStatus.PENDING)
        admin = admin_of(organisation)
        admin.language = "zh-hans"
        admin.save()
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.verify_organisation(organisation, by=make_bureau("registry_admin"))
        organisation.refresh_from_db()
        assert organisation.status == OrganisationStatus.VERIFIED and organisation.verified_at
        assert [m.to for m in mailoutbox] == [[admin.email]]
        assert "已通过" in mailoutbox[0].subject

    def test_rejection_needs_reasons_and_sends_them(self, mailoutbox, django_capture_on_commit_callbacks):
        organisation = make_organisation(status=OrganisationStatus.PENDING)
        registrar = make_bureau("registry_admin")
        with pytest.raises(services.TransitionRefused):
            services.reject_organisation(organisation, by=registrar, reasons="  ")
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            services.reject_organisation(organisation, by=registrar, reasons="The licence is unreadable.")
        organisation.refresh_from_db()
        assert organisation.status == OrganisationStatus.REJECTED
        assert "The licence is unreadable." in mailoutbox[0].body

    @pytest.mark.parametrize("role", ["intake_officer", "technical_reviewer", "expert", "approver"])
    def test_only_a_registry_administrator_verifies(self, role):
        organisation = make_organisation(status=OrganisationStatus.PENDING)
        with pytest.raises(PermissionDenied):
            services.verify_organisation(organisation, by=make_bureau(role))
        organisation.refresh_from_db()
        assert organisation.status == OrganisationStatus.PENDING

    @pytest.mark.parametrize(
        ("status", "service"),
        [
            (OrganisationStatus.VERIFIED, services.verify_organisation),
            (OrganisationStatus.REJECTED, services.verify_organisation),
            (OrganisationStatus.SUSPENDED, services.verify_organisation),
            (OrganisationStatus.PENDING, services.reinstate_organisation),
        ],
    )
    def test_transitions_from_the_wrong_state_are_refused_and_leave_no_trace(self, status, service):
        organisation = make_organisation(status=status)
        before = AuditEvent.objects.count()
        with pytest.raises(services.TransitionRefused):
            service(organisation, by=make_bureau("registry_admin"))
        assert AuditEvent.objects.count() == before

    def test_suspension_blocks_submission_until_reinstated(self):
        organisation = make_organisation()
        registrar = make_bureau("registry_admin")
        assert organisation.can_submit
        services.suspend_organisation(organisation, by=registrar, reasons="Under investigation")
        organisation.refresh_from_db()
        assert not organisation.can_submit
        services.reinstate_organisation(organisation, by=registrar)
        organisation.refresh_from_db()
        assert organisation.can_submit


class TestReverification:
    @pytest.mark.parametrize(
        ("field", "value"),
        [("name", "新名称有限公司"), ("legal_representative", "王五"), ("identifier", None)],
    )
    def test_a_change_of_identity_sends_it_back_to_verification(self, field, value):
        from tests.factories import credit_code

        organisation = make_organisation()
        value = value or credit_code()
        services.update_organisation(organisation, by=admin_of(organisation), changes={field: value})
        organisation.refresh_from_db()
        assert organisation.status == OrganisationStatus.PENDING
        event = AuditEvent.objects.filter(action="organisation.updated").get()
        assert event.after[field] == value and event.after["status"] == "pending"

    def test_other_changes_keep_it_verified(self):
        organisation = make_organisation()
        services.update_organisation(
            organisation, by=admin_of(organisation), changes={"contact_phone": "027-999"}
        )
        organisation.refresh_from_db()
        assert organisation.status == OrganisationStatus.VERIFIED
        assert organisation.contact_phone == "027-999"

    def test_a_rejected_organisation_that_corrects_itself_is_verified_again(self):
        organisation = make_organisation(status=OrganisationStatus.REJECTED)
        services.update_organisation(
            organisation, by=admin_of(organisation), changes={"name": "更正后有限公司"}
        )
        organisation.refresh_from_db()
        assert organisation.status == OrganisationStatus.PENDING
        services.verify_organisation(organisation, by=make_bureau("registry_admin"))

    def test_only_the_organisations_admin_edits(self):
        organisation = make_organisation()
        declarant = make_member(organisation, OrgRole.DECLARANT)
        with pytest.raises(PermissionDenied):
            services.update_organisation(organisation, by=declarant, changes={"name": "X"})


class TestMembers:
    def test_invitation_accepted_creates_the_member_with_its_role(
        self, mailoutbox, django_capture_on_commit_callbacks
    ):
        organisation = make_organisation()
        with django_capture_on_commit_callbacks(execute=True):
            invitation = services.invite_member(
                organisation, by=admin_of(organisation), email="New@Example.com", role=OrgRole.VIEWER
            )
        assert invitation.email == "new@example.com"
        message = mailoutbox[-1]
        assert message.to == ["new@example.com"] and invitation.token in message.body
        assert "邀请" in message.subject and "Invitation" in message.subject  # language unknown: both
        membership = services.accept_invitation(invitation, full_name="New", password="x-Pass-1234")
        assert membership.role == OrgRole.VIEWER and membership.organisation == organisation
        with pytest.raises(services.TransitionRefused):
            services.accept_invitation(invitation, full_name="Again", password="x-Pass-1234")

    def test_someone_in_another_organisation_cannot_be_invited(self):
        other = make_organisation()
        organisation = make_organisation()
        with pytest.raises(services.TransitionRefused):
            services.invite_member(
                organisation, by=admin_of(organisation), email=admin_of(other).email, role="viewer"
            )

    def test_a_new_invitation_revokes_the_previous_one(self):
        organisation = make_organisation()
        admin = admin_of(organisation)
        first = services.invite_member(organisation, by=admin, email="a@example.com", role=OrgRole.VIEWER)
        services.invite_member(organisation, by=admin, email="a@example.com", role=OrgRole.DECLARANT)
        first.refresh_from_db()
        assert not first.is_open
        assert Invitation.objects.filter(email="a@example.com", revoked_at=None).count() == 1

    def test_only_the_admin_invites(self):
        organisation = make_organisation()
        with pytest.raises(PermissionDenied):
            services.invite_member(
                organisation, by=make_member(organisation), email="x@example.com", role="viewer"
            )

    def test_role_changes_are_recorded_and_notified(self, mailoutbox, django_capture_on_commit_callbacks):
        organisation = make_organisation()
        member = make_member(organisation, OrgRole.VIEWER)
        with django_capture_on_commit_callbacks(execute=True):
            services.change_role(member.membership, by=admin_of(organisation), role=OrgRole.DECLARANT)
        member.membership.refresh_from_db()
        assert member.membership.role == OrgRole.DECLARANT
        assert mailoutbox[-1].to == [member.email]

    def test_the_last_admin_can_neither_be_demoted_nor_removed(self):
        organisation = make_organisation()
        admin = admin_of(organisation)
        with pytest.raises(services.TransitionRefused):
            services.change_role(admin.membership, by=admin, role=OrgRole.VIEWER)
        with pytest.raises(services.TransitionRefused):
            services.remove_member(admin.membership, by=admin)
        assert Membership.objects.filter(organisation=organisation, role=OrgRole.ADMIN).count() == 1

    def test_handing_over_makes_the_other_admin_and_self_declarant(self):
        organisation = make_organisation()
        admin = admin_of(organisation)
        member = make_member(organisation, OrgRole.DECLARANT)
        services.hand_over_admin(member.membership, by=admin)
        admin.membership.refresh_from_db()
        member.membership.refresh_from_db()
        assert (admin.membership.role, member.membership.role) == (OrgRole.DECLARANT, OrgRole.ADMIN)

    def test_removing_a_member_keeps_its_account(self):
        organisation = make_organisation()
        member = make_member(organisation)
        services.remove_member(member.membership, by=admin_of(organisation))
        member.refresh_from_db()
        assert not Membership.objects.filter(user=member).exists()
        assert "membership.removed" in actions_of(organisation)


class TestNotifications:
    def test_a_second_run_of_the_task_sends_nothing(self, mailoutbox, django_capture_on_commit_callbacks):
        from registry import notifications

        organisation = make_organisation(status=OrganisationStatus.PENDING)
        with django_capture_on_commit_callbacks(execute=True):
            organisation = services.verify_organisation(organisation, by=make_bureau("registry_admin"))
        event = AuditEvent.objects.get(action="organisation.verified")
        sent_before = len(mailoutbox)
        assert notifications.deliver(event.pk) == 0
        assert len(mailoutbox) == sent_before
        assert sorted(Delivery.objects.filter(event=event).values_list("channel", flat=True)) == [
            "email",
            "inbox",
        ]


def test_bureau_role_permissions():
    from django.contrib.auth.models import Group

    def perms(role):
        return set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))

    assert "verify_organisation" in perms("registry_admin")
    for role in ["intake_officer", "technical_reviewer", "expert", "approver"]:
        assert "verify_organisation" not in perms(role)
    assert "view_audit_log" not in perms("expert")
    assert make_user().has_perm("registry.view_audit_log") is False
    assert make_bureau("approver").has_perm("registry.view_audit_log") is True
