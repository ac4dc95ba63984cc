"""What tests/test_topology.py needs in its PostgreSQL primary, made in a process of its own with the portal's
production settings (config.settings, the same environment as gunicorn and the worker), so that passwords,
files and tasks are the portal's own and not the test settings'.

    python -m tests.topology_world seed         the people and the cases; prints them as JSON
    python -m tests.topology_world close CODE   closes a phase's notice as the scheduled job will once
                                                its last day has passed (the clock cannot wait 7 days)

Everything is made through the real services (tests/factories.py), so the audit trail is real too.
"""

import json
import os
import sys
from datetime import timedelta

import django


def seed() -> dict:
    from offsets import issuing
    from tests import factories

    people = factories.reviewers()
    # Drafted completely (monitoring data and every document) but not submitted: the test submits it.
    drafted = factories.complete_declaration(factories.make_declaration())
    declarant = factories.admin_of(drafted.project.organisation)
    # Approved and in a phase approved for notice: the test publishes the notice over HTTP.
    approved = factories.approved_declaration(people)
    phase = issuing.create_phase(
        code="2026R01", title_zh="副本测试批次", title_en="Replica test phase", by=people["registry_admin"]
    )
    issuing.add_to_phase(phase, by=people["registry_admin"], declarations=[approved])
    issuing.submit_phase(phase, by=people["registry_admin"])
    issuing.approve_for_notice(phase, by=people["approver"])
    return {
        "password": factories.PASSWORD,
        "declarant": {"email": declarant.email},
        "bureau": {
            role: {"email": user.email, "totp_key": user.totpdevice_set.get(confirmed=True).key}
            for role, user in people.items()
        },
        "declaration": {"pk": drafted.pk, "claimed_t": drafted.claimed_t},
        "unpublished_phase": {"code": phase.code, "declaration": approved.pk},
    }


def close(code: str) -> dict:
    from offsets import issuing
    from offsets.models import IssuancePhase

    phase = IssuancePhase.objects.get(code=code)
    closed = issuing.close_notice(phase, now=issuing.notice_deadline(phase) + timedelta(seconds=1))
    return {"closed": closed is not None}


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    if argv[:1] == ["seed"]:
        result = seed()
    elif argv[:1] == ["close"] and len(argv) == 2:
        result = close(argv[1])
    else:
        sys.exit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
