"""Every document checklist item says who provides it and what happens next: the verification report is
the named verification body's to upload, not the applicant's, and that body is told (inbox and e-mail)
when it is named on a declaration."""

from datetime import date
from html import unescape

import pytest
from django.urls import reverse

from projects import services
from registry import notifications
from registry.models import AuditEvent, Delivery, DocumentType, OrgRole
from tests.factories import (
    admin_of,
    file_project,
    make_factor,
    make_member,
    make_project,
    make_verification_body,
    pdf_upload,
)

pytestmark = pytest.mark.django_db

EN = {"accept-language": "en"}


def filed_project():
    make_factor()
    return file_project(make_project())


def declare(project, body):
    return services.create_declaration(
        project,
        by=admin_of(project.organisation),
        period_start=date(2022, 1, 1),
        period_end=date(2022, 12, 31),
        verification_body=body,
    )


def row_of(html: str, label: str) -> str:
    """The checklist row of a document type (the table's rows, split on <tr>)."""
    table = html.split('id="documents-title"')[1].split("</table>")[0]
    rows = [row for row in table.split("<tr>") if f"<td>{label}</td>" in row]
    assert len(rows) == 1, f"no single row for {label}"
    return rows[0]


def page(client, user, declaration):
    client.force_login(user)
    response = client.get(declaration.get_absolute_url(), headers=EN)
    assert response.status_code == 200
    return unescape(response.text)


class TestWhoProvidesEachDocument:
    def test_the_applicant_is_told_the_named_body_uploads_the_verification_report(self, client):
        body = make_verification_body()
        declaration = declare(filed_project(), body)
        html = page(client, admin_of(declaration.organisation), declaration)
        report = row_of(html, "Verification report")
        assert f"{body.name} (verification body)" in report
        assert "the verification body named on this declaration, uploads it here" in report
        assert "Upload it below." not in report
        monitoring = row_of(html, "Monitoring report")
        assert f"{declaration.organisation.name} (applicant)" in monitoring
        assert "Upload it below." in monitoring
        # ... and the applicant's upload form still does not offer the body's report.
        choices = html.split('name="doc_type"')[1].split("</select>")[0]
        assert 'value="verification_report"' not in choices

    def test_the_named_body_is_told_to_upload_it_and_not_the_applicants_documents(self, client):
        body = make_verification_body()
        declaration = declare(filed_project(), body)
        html = page(client, admin_of(body), declaration)
        assert "Upload it below." in row_of(html, "Verification report")
        monitoring = row_of(html, "Monitoring report")
        assert "Upload it below." not in monitoring
        assert "The applicant's administrator or a declarant uploads it." in monitoring

    def test_once_the_report_is_there_the_applicant_has_nothing_left_to_do_about_it(self, client):
        body = make_verification_body()
        declaration = declare(filed_project(), body)
        services.upload_document(
            declaration, by=admin_of(body), doc_type=DocumentType.VERIFICATION_REPORT, upload=pdf_upload()
        )
        report = row_of(page(client, admin_of(declaration.organisation), declaration), "Verification report")
        assert "present" in report
        assert "uploads it" not in report

    def test_without_a_body_the_checklist_says_one_must_be_named_first(self, client):
        declaration = declare(filed_project(), None)
        report = row_of(page(client, admin_of(declaration.organisation), declaration), "Verification report")
        assert "The verification body (not named yet)" in report
        assert "No verification body is named on this declaration yet" in report

    def test_a_viewer_is_not_told_to_upload_what_it_may_not(self, client):
        declaration = declare(filed_project(), make_verification_body())
        viewer = make_member(declaration.organisation, OrgRole.VIEWER)
        html = page(client, viewer, declaration)
        assert "Upload it below." not in html
        assert "The applicant's administrator or a declarant uploads it." in row_of(html, "Monitoring report")

    def test_the_bureau_reads_who_provides_each_document_on_its_case_screen(self, client):
        from tests.factories import make_bureau

        body = make_verification_body()
        declaration = declare(filed_project(), body)
        client.force_login(make_bureau("intake_officer"))
        response = client.get(
            reverse("projects:office_case", args=["declarations", declaration.pk]), headers=EN
        )
        assert response.status_code == 200
        assert f"{body.name} (verification body)" in row_of(unescape(response.text), "Verification report")


class TestTheSubmissionProblems:
    def test_a_missing_report_names_the_body_that_uploads_it(self):
        body = make_verification_body()
        declaration = declare(filed_project(), body)
        problems = [str(p) for p in services.submission_problems(declaration)]
        assert any("Verification report" in p and body.name in p and "uploads it" in p for p in problems)
        # The applicant's own missing document keeps the plain sentence.
        assert "The document “Monitoring report” is missing." in problems

    def test_without_a_body_the_problem_says_the_body_to_be_named_uploads_it(self):
        declaration = declare(filed_project(), None)
        problems = [str(p) for p in services.submission_problems(declaration)]
        assert any("the verification body you name on this declaration uploads it" in p for p in problems)


class TestTheNamedBodyIsTold:
    def test_naming_a_body_puts_an_inbox_item_and_an_e_mail_before_its_members(
        self, client, django_capture_on_commit_callbacks, mailoutbox
    ):
        body = make_verification_body()
        colleague = make_member(body, OrgRole.DECLARANT)
        project = filed_project()
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            declaration = declare(project, body)
        recipients = sorted(address for message in mailoutbox for address in message.to)
        assert recipients == sorted([admin_of(body).email, colleague.email])
        assert declaration.get_absolute_url() in mailoutbox[0].body
        # The inbox item opens the declaration's page, where the body uploads its report.
        entry = Delivery.objects.get(user=colleague, channel=Delivery.Channel.INBOX)
        assert entry.event.action == "declaration.verification_body_named"
        client.force_login(colleague)
        opened = client.get(reverse("registry:inbox_open", args=[entry.pk]))
        assert opened.url == declaration.get_absolute_url()
        assert client.get(opened.url).status_code == 200

    def test_the_applicant_is_not_mailed_about_its_own_choice(
        self, django_capture_on_commit_callbacks, mailoutbox
    ):
        body = make_verification_body()
        project = filed_project()
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            declare(project, body)
        assert admin_of(project.organisation).email not in {a for m in mailoutbox for a in m.to}

    def test_no_body_named_tells_nobody(self, django_capture_on_commit_callbacks, mailoutbox):
        project = filed_project()
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            declare(project, None)
        assert mailoutbox == []
        assert not AuditEvent.objects.filter(action="declaration.verification_body_named").exists()

    def test_changing_the_body_tells_the_new_one_and_keeping_it_tells_nobody_again(
        self, django_capture_on_commit_callbacks, mailoutbox
    ):
        first, second = make_verification_body(), make_verification_body()
        declaration = declare(filed_project(), first)
        applicant = admin_of(declaration.organisation)

        def update(body):
            with django_capture_on_commit_callbacks(execute=True):
                services.update_declaration(
                    declaration,
                    by=applicant,
                    period_start=declaration.period_start,
                    period_end=declaration.period_end,
                    verification_body=body,
                )

        mailoutbox.clear()
        update(second)
        assert [m.to for m in mailoutbox] == [[admin_of(second).email]]
        mailoutbox.clear()
        update(second)
        assert mailoutbox == []
        named = AuditEvent.objects.filter(action="declaration.verification_body_named").order_by("seq")
        assert [e.after["verification_body"] for e in named] == [first.pk, second.pk]
        # Each event reaches the body it named, even after another was named.
        assert [r.email for r in notifications.recipients_of(named[0])] == [admin_of(first).email]
