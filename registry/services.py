"""Writes of the registry app."""

from django.utils import timezone

from registry.models import Heartbeat


def record_heartbeat(name: str) -> Heartbeat:
    """Store that the named job ran now; idempotent, one row per name."""
    beat, _ = Heartbeat.objects.update_or_create(name=name, defaults={"last_seen": timezone.now()})
    return beat
