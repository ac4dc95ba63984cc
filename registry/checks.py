"""System checks of the registry's own settings (`manage.py check`, `check --deploy`)."""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security)
def checkpoint_key_is_readable(app_configs, **kwargs):
    if not settings.CHECKPOINT_SIGNING_KEY.strip():
        return []
    from registry.checkpoints import parse_private_key

    try:
        parse_private_key(settings.CHECKPOINT_SIGNING_KEY)
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Base64 of 32 random bytes, or an Ed25519 private key in PEM.",
                id="registry.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def checkpoint_key_is_set(app_configs, **kwargs):
    if settings.DEBUG or settings.EMBEDDED_DEMO or settings.CHECKPOINT_SIGNING_KEY.strip():
        return []
    return [
        Error(
            "CHECKPOINT_SIGNING_KEY is not set: the registry cannot sign the checkpoints it publishes.",
            hint="Base64 of 32 random bytes (docs/transparency.md); keep it out of the database.",
            id="registry.E002",
        )
    ]


@register(Tags.security, deploy=True)
def not_the_embedded_demo(app_configs, **kwargs):
    if not settings.EMBEDDED_DEMO:
        return []
    return [
        Error(
            "DJANGO_EMBEDDED_DEMO is on: plain HTTP, development keys and demo logins with known passwords.",
            hint="It is for `make run` on one machine (ADR 0011); unset it on a server others reach.",
            id="registry.E003",
        )
    ]


@register(Tags.security, deploy=True)
def identity_hash_key_is_set(app_configs, **kwargs):
    if settings.DEBUG or settings.EMBEDDED_DEMO or len(settings.IDENTITY_HASH_KEY) >= 32:
        return []
    return [
        Error(
            "IDENTITY_HASH_KEY is not set (or shorter than 32 characters): personal carbon accounts cannot "
            "keep resident identity numbers as keyed hashes.",
            hint="32 or more random characters; never change it once accounts exist (ADR 0017).",
            id="registry.E004",
        )
    ]
