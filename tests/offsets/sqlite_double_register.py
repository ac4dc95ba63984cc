"""Run by tests/offsets/test_double_submission.py in a subprocess, on a fresh SQLite file (the embedded
default): two registry administrators' browsers post "register the phase" at the same moment.

Both requests are held inside their transactions until the other has started (a barrier in the service's
first read), as a double click on a slow machine does. Writes what happened as JSON to the path given.
"""

import contextlib
import json
import sys
import threading

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django_otp import DEVICE_ID_SESSION_KEY  # noqa: E402

from offsets import issuing  # noqa: E402
from offsets.models import Issuance, IssuancePhase  # noqa: E402
from registry.models import Delivery  # noqa: E402
from tests.factories import approved_declaration, closed_phase, make_bureau, reviewers  # noqa: E402


def logged_in(user) -> Client:
    client = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1", HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = user.totpdevice_set.get(confirmed=True).persistent_id
    session.save()
    return client


def main(out: str) -> None:
    call_command("migrate", verbosity=0)
    people = reviewers()
    phase = closed_phase([approved_declaration(people)], people, code="2023P09")
    registrars = [people["approver"], make_bureau("approver")]
    clients = [logged_in(user) for user in registrars]

    # Each request waits in register_phase's first read until the other one is there too (or, when the
    # database lets only one in at a time, until it is clear that the other cannot come in).
    barrier = threading.Barrier(2, timeout=3)
    original = issuing.live_entries

    def held(phase_):
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return original(phase_)

    issuing.live_entries = held
    statuses: list = [None, None]

    def post(n: int) -> None:
        response = clients[n].post(f"/office/phases/{phase.code}/register/")
        statuses[n] = response.status_code

    threads = [threading.Thread(target=post, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    issuing.live_entries = original

    phase.refresh_from_db()
    issuance = Issuance.objects.get(phase=phase)
    owner_emails = set(
        Delivery.objects.filter(
            event__action="credits.issued", event__subject_id=str(issuance.pk), channel="email"
        ).values_list("email", flat=True)
    )
    result = {
        "statuses": sorted(statuses),
        "phase_status": IssuancePhase.objects.get(pk=phase.pk).status,
        "issuances": Issuance.objects.filter(phase=phase).count(),
        "owner_notified": bool(owner_emails),
    }
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(sys.argv[1])
