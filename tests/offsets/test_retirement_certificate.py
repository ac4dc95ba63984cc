"""The retirement certificate: made once by the job the retirement schedules, bilingual, with the
holder, kind, beneficiary (a person masked), serials, projects and vintages; the same bytes every time;
downloaded by the retiring organisation only."""

import shutil
import subprocess

import pytest
from django.urls import reverse

from offsets import documents, ledger, retirements, tasks
from offsets.models import BeneficiaryKind, BlockStatus, Certificate, CertificateKind, Issuance, SerialBlock
from tests.factories import admin_of, make_organisation, reviewers
from tests.offsets.ledger_world import covered_emitter, give, holder_account

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        shutil.which("pdftotext") is None, reason="needs pdftotext (apt-get install poppler-utils)"
    ),
]


def pdftext(content: bytes, tmp_path) -> str:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(content)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return "".join(text.split())


@pytest.fixture
def people():
    return reviewers()


@pytest.fixture
def source(people):
    return holder_account(people)


def certified(retirement):
    """Run the certificate's job, as the worker does after the retirement's commit."""
    tasks.make_certificate.delay(Certificate.objects.get(retirement=retirement).pk)
    return retirement


@pytest.fixture
def voluntary(source):
    return certified(
        retirements.retire_voluntarily(
            source,
            by=admin_of(source.organisation),
            quantity=5,
            beneficiary_kind=BeneficiaryKind.PERSON,
            beneficiary="张三丰",
            purpose="婚礼碳中和 Wedding carbon neutrality",
        )
    )


def test_the_job_makes_the_pdf_with_number_holder_and_serials(voluntary, tmp_path):
    certificate = Certificate.objects.get(retirement=voluntary)
    assert certificate.kind == CertificateKind.RETIREMENT and certificate.number == voluntary.reference
    assert certificate.file and len(certificate.sha256) == 64
    text = pdftext(certificate.file.read(), tmp_path)
    assert "碳普惠减排量注销证书" in text and "RetirementCertificate" in text
    assert voluntary.reference in text
    assert "".join(voluntary.account.organisation.name.split()) in text
    assert "自愿注销" in text and "Voluntaryretirement" in text
    block = SerialBlock.objects.get(status=BlockStatus.RETIRED, status_reference=voluntary.reference)
    # A long serial wraps in its table cell, at a hyphen: compare without them.
    assert block.serial.replace("-", "") in text.replace("-", "")
    assert block.issuance.project.code.replace("-", "") in text.replace("-", "")
    assert "婚礼碳中和" in text
    # The beneficiary is a person: masked, as on every public page.
    assert "张**" in text and "张三丰" not in text


def test_made_once_and_byte_identical_when_made_again(voluntary):
    certificate = Certificate.objects.get(retirement=voluntary)
    name, digest = certificate.file.name, certificate.sha256
    again = documents.make_certificate(certificate.pk)  # the job run twice: the file is already there
    assert (again.file.name, again.sha256) == (name, digest)
    first = again.file.read()
    # Made afresh from the same record: the same bytes (nothing is read from the clock).
    Certificate.objects.filter(pk=certificate.pk).update(file="", sha256="")
    remade = documents.make_certificate(certificate.pk)
    assert remade.sha256 == digest and remade.file.read() == first


def test_a_compliance_offset_names_its_year(people, tmp_path):
    emitter, account = covered_emitter(people)
    source = holder_account(people, code="2023P02")
    give(people, source, account, 6)
    offset = retirements.request_offset(account, by=admin_of(emitter), year=2022, quantity=4)
    offset = certified(retirements.confirm_offset(offset, by=people["registry_admin"]))
    text = pdftext(Certificate.objects.get(retirement=offset).file.read(), tmp_path)
    assert "履约抵销（2022履约年度）" in text and "Complianceoffsetforcomplianceyear2022" in text
    # The holder is the emitter that retired, not the project owner the credits were issued to.
    assert "".join(emitter.name.split()) in text
    assert "".join(source.organisation.name.split()) not in text


def test_only_the_retiring_organisation_downloads_it(people, source, client):
    target = make_organisation()
    give(people, source, ledger.open_account(target), 6)
    retirement = retirements.retire_voluntarily(
        target.account,
        by=admin_of(target),
        quantity=3,
        beneficiary_kind=BeneficiaryKind.EVENT,
        beneficiary="2023 武汉马拉松",
        purpose="赛事碳中和",
    )
    url = reverse("offsets:certificate", args=[retirement.reference])
    client.force_login(admin_of(target))
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    # The first owner of the credits is not the holder at the time of the retirement: 404, like a stranger.
    for outsider in (admin_of(source.organisation), admin_of(make_organisation())):
        client.force_login(outsider)
        assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_a_registration_certificate_is_still_made(people, tmp_path):
    holder_account(people)
    issuance = Issuance.objects.get()
    certificate = documents.make_certificate(Certificate.objects.get(issuance=issuance).pk)
    assert issuance.serial.replace("-", "") in pdftext(certificate.file.read(), tmp_path).replace("-", "")
