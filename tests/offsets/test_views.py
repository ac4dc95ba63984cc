import shutil
import subprocess
from datetime import date

import pytest
from defusedxml import ElementTree as ET
from django.core.cache import cache
from django.urls import reverse

from offsets import documents, issuing
from offsets.models import Certificate, Issuance, Objection
from tests.factories import (
    admin_of,
    approved_declaration,
    closed_phase,
    make_organisation,
    phase_in_notice,
    reviewers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def registered(people, django_capture_on_commit_callbacks):
    declaration = approved_declaration(people)
    phase = closed_phase([declaration], people)
    with django_capture_on_commit_callbacks(execute=True):
        issuing.register_phase(phase, by=people["approver"])
    return Issuance.objects.get()


def pdftext(content: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(content)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return "".join(text.split())


@pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs pdftotext (apt-get install poppler-utils)"
)
class TestCertificates:
    def test_certificate_reads_back_in_both_scripts(self, registered, tmp_path):
        certificate = Certificate.objects.get()
        text = pdftext(certificate.file.read(), tmp_path)
        assert "碳普惠减排量登记证书" in text and "RegistrationCertificate" in text
        assert certificate.number in text and registered.serial in text
        assert "".join(registered.account.organisation.name.split()) in text
        assert f"{registered.quantity:,}" in text

    def test_made_once_when_the_job_runs_twice(self, registered):
        certificate = Certificate.objects.get()
        name, digest = certificate.file.name, certificate.sha256
        again = documents.make_certificate(certificate.pk)
        assert (again.file.name, again.sha256) == (name, digest)

    def test_the_owner_is_emailed_its_certificate_once(
        self, people, mailoutbox, django_capture_on_commit_callbacks
    ):
        declaration = approved_declaration(people)
        phase = closed_phase([declaration], people)
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            issuing.register_phase(phase, by=people["approver"])
        owner = admin_of(declaration.project.organisation)
        to_owner = [m for m in mailoutbox if m.to == [owner.email] and m.attachments]
        assert len(to_owner) == 1
        assert to_owner[0].attachments[0][0] == f"{Certificate.objects.get().number}.pdf"

    def test_announcement_and_notice_pdfs(self, registered, tmp_path, client):
        phase = registered.phase
        response = client.get(reverse("offsets:announcement_pdf", args=[phase.code]))
        text = pdftext(b"".join(response.streaming_content), tmp_path)
        # A long serial wraps in its table cell, at a hyphen: compare without them.
        assert "登记公告" in text and registered.serial.replace("-", "") in text.replace("-", "")
        response = client.get(reverse("offsets:notice_pdf", args=[phase.code, 1]))
        assert "签发公示" in pdftext(b"".join(response.streaming_content), tmp_path)


class TestPublicPages:
    def test_notice_page_lists_masked_owners_totals_and_the_objection_link(self, people, client):
        declaration = approved_declaration(people)
        phase = phase_in_notice([declaration], people)
        response = client.get(reverse("offsets:notice", args=[phase.code]), headers={"accept-language": "en"})
        assert response.status_code == 200
        assert declaration.project.code in response.text
        assert reverse("offsets:object", args=[phase.code]) in response.text

    def test_objection_form_gives_a_reference(self, people, client, mailoutbox):
        declaration = approved_declaration(people)
        phase = phase_in_notice([declaration], people)
        data = {
            "declaration": declaration.pk,
            "name": "王某",
            "email": "w@example.com",
            "reasons": "Double counting",
        }
        response = client.post(
            reverse("offsets:object", args=[phase.code]), data, headers={"accept-language": "en"}, follow=True
        )
        assert response.status_code == 200
        assert "OBJ-2023P01-001" in response.text
        assert Objection.objects.get().source_ip == "127.0.0.1"

    def test_objections_are_throttled_per_address(self, people, client, settings):
        settings.OBJECTIONS_PER_HOUR = 2
        cache.clear()
        declaration = approved_declaration(people)
        phase = phase_in_notice([declaration], people)
        data = {"declaration": declaration.pk, "name": "x", "email": "x@example.com", "reasons": "r"}
        url = reverse("offsets:object", args=[phase.code])
        statuses = [client.post(url, data, REMOTE_ADDR="203.0.113.9").status_code for _ in range(3)]
        assert statuses == [302, 302, 429]
        assert client.post(url, data, REMOTE_ADDR="203.0.113.10").status_code == 302
        assert Objection.objects.count() == 3

    def test_objections_after_the_end_are_refused_plainly(self, people, client):
        declaration = approved_declaration(people)
        phase = phase_in_notice([declaration], people, today=date(2023, 12, 7))
        url = reverse("offsets:object", args=[phase.code])
        response = client.post(
            url,
            {"declaration": declaration.pk, "name": "x", "email": "x@e.com", "reasons": "r"},
            headers={"accept-language": "en"},
        )
        assert response.status_code == 410 and "no longer accepted" in response.text
        assert not Objection.objects.exists()

    def test_the_feed_is_atom(self, registered, client):
        response = client.get(reverse("offsets:feed"))
        assert response["Content-Type"].startswith("application/atom+xml")
        root = ET.fromstring(response.content)
        ns = {"a": "http://www.w3.org/2005/Atom"}
        assert root.tag == "{http://www.w3.org/2005/Atom}feed"
        entries = root.findall("a:entry", ns)
        assert len(entries) == 2  # the notice and the announcement
        for entry in entries:
            for required in ("a:id", "a:title", "a:updated", "a:link"):
                assert entry.find(required, ns) is not None

    def test_verify_a_certificate_a_serial_and_a_unit(self, registered, client):
        certificate = Certificate.objects.get()
        for query in (certificate.number, registered.serial, str(registered.first_unit + 1)):
            response = client.get(reverse("offsets:verify"), {"q": query}, headers={"accept-language": "en"})
            assert response.context["result"].genuine, query
            assert "Held" in response.text
        bogus = registered.serial.replace("000000001", "000000002", 1).replace(
            f"{registered.last_unit:09d}", "999999999"
        )
        for query in (bogus, "WHCER-C-2023-999999", "hello <script>"):
            response = client.get(reverse("offsets:verify"), {"q": query})
            assert not response.context["result"].genuine, query


class TestEnterprise:
    def test_the_owner_sees_its_blocks_and_certificates(self, registered, client):
        client.force_login(admin_of(registered.account.organisation))
        response = client.get(reverse("offsets:account"))
        assert registered.serial in response.text
        certificate = Certificate.objects.get()
        assert client.get(reverse("offsets:certificate", args=[certificate.number])).status_code == 200

    def test_a_stranger_gets_404_on_the_certificate_download(self, registered, client):
        client.force_login(admin_of(make_organisation()))
        assert (
            client.get(reverse("offsets:certificate", args=[Certificate.objects.get().number])).status_code
            == 404
        )
        assert registered.serial not in client.get(reverse("offsets:account")).text
