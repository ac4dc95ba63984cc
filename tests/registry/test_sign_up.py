"""Sign-up tells nobody what is registered: a registered identifier or e-mail address gets the same answer
as a new sign-up, nothing is created, and the owner hears of it by e-mail."""

import pytest
from django.urls import reverse

from registry.models import AuditEvent, Membership, Organisation, User
from tests.factories import admin_of, make_organisation, make_user, organisation_data

pytestmark = pytest.mark.django_db


def form(**overrides) -> dict:
    data = organisation_data()
    data.update(
        admin_name="新管理员",
        admin_email="founder@example.com",
        language="en",
        password1="long-enough-Pass-42",
        password2="long-enough-Pass-42",
    )
    data.update(overrides)
    return data


def sign_up(client, data):
    return client.post(reverse("registry:sign_up"), data, headers={"accept-language": "en"}, follow=True)


def visible(response) -> tuple:
    return response.status_code, response.redirect_chain, response.content


@pytest.fixture
def organisation():
    return make_organisation()


def test_a_registered_identifier_is_answered_exactly_as_a_new_sign_up(
    client, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    new = sign_up(client, form(admin_email="first@example.com"))
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        again = sign_up(client, form(identifier=organisation.identifier, admin_email="second@example.com"))
    assert visible(again) == visible(new)
    assert "Check your e-mail" in again.text
    assert Organisation.objects.filter(identifier=organisation.identifier).count() == 1
    assert not User.objects.filter(email="second@example.com").exists()
    # The organisation's administrator is told, with the address the form gave; the stranger gets nothing.
    assert [m.to for m in mailoutbox] == [[admin_of(organisation).email]]
    assert organisation.name_en in mailoutbox[0].subject  # the administrator reads English
    assert "second@example.com" in mailoutbox[0].body


def test_a_registered_email_address_is_answered_exactly_as_a_new_sign_up(
    client, mailoutbox, django_capture_on_commit_callbacks
):
    owner = make_user(email="owner@example.com", language="en")
    new = sign_up(client, form(admin_email="first@example.com"))
    mailoutbox.clear()
    data = form(admin_email="Owner@Example.com")
    with django_capture_on_commit_callbacks(execute=True):
        again = sign_up(client, data)
    assert visible(again) == visible(new)
    assert not Organisation.objects.filter(identifier=data["identifier"]).exists()
    assert User.objects.filter(email__iexact="owner@example.com").count() == 1
    assert not Membership.objects.filter(user=owner).exists()
    assert [m.to for m in mailoutbox] == [[owner.email]]
    assert "tried to register with your e-mail address" in mailoutbox[0].subject


def test_the_owner_hears_of_repeated_attempts_once_an_hour(
    client, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(5):
            sign_up(client, form(identifier=organisation.identifier, admin_email=f"x{i}@example.com"))
    assert len(mailoutbox) == 1
    assert AuditEvent.objects.filter(action="organisation.sign_up_repeated").count() == 1


def test_an_admin_signing_up_their_own_organisation_again_gets_one_e_mail(
    client, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    admin = admin_of(organisation)
    with django_capture_on_commit_callbacks(execute=True):
        sign_up(client, form(identifier=organisation.identifier, admin_email=admin.email))
    assert [m.to for m in mailoutbox] == [[admin.email]]


def test_malformed_identifiers_are_still_explained(client):
    response = client.post(
        reverse("registry:sign_up"),
        form(identifier="91420100MA0000001X"),
        headers={"accept-language": "en"},
    )
    assert response.status_code == 200
    assert "check character" in " ".join(response.context["form"].errors["identifier"])
