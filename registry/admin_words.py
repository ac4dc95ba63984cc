"""Words the admin shows that come from code without a Chinese catalogue, and how it names permissions.

django-axes and django-otp ship no Chinese, and Django 6.1 added words after its Chinese catalogue was
made. Their English source strings are listed here so that `make messages` puts them in our catalogue:
Django looks a message up in our catalogue first, so the translation reaches their code unchanged. A
permission's name is stored in English in the database ("Can add access log"); permission_label builds
it again from translated words.
"""

from django.apps import apps
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

THIRD_PARTY_WORDS = [
    # django-axes: its models and fields, the admin's columns, filters and actions
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access attempt expiration"),
    gettext_noop("access attempt expirations"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("Access Attempt"),
    gettext_noop("Access lock out"),
    gettext_noop("Attempt Remaining"),
    gettext_noop("Attempt Time"),
    gettext_noop("Clean up expired attempts"),
    gettext_noop("Expires At"),
    gettext_noop("Failed Logins"),
    gettext_noop("Form Data"),
    gettext_noop("GET Data"),
    gettext_noop("HTTP Accept"),
    gettext_noop("IP Address"),
    gettext_noop("Locked Out"),
    gettext_noop("Logout Time"),
    gettext_noop("Meta Data"),
    gettext_noop("Not set"),
    gettext_noop("Path"),
    gettext_noop("POST Data"),
    gettext_noop("Session key hash (sha256)"),
    gettext_noop("The time when access attempt expires and is no longer valid."),
    gettext_noop("User Agent"),
    gettext_noop("Username"),
    # django-otp: model names, plain strings that permission_label translates
    gettext_noop("TOTP device"),
    gettext_noop("static device"),
    gettext_noop("static token"),
    # Django 6.1: the admin's date hierarchy
    gettext_noop("Filter by %(field_name)s"),
]

# Django names its default permissions "Can add <model>" in English, once, when it creates them.
DEFAULT_PERMISSIONS = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}


def permission_label(permission) -> str:
    """“App | model | what it allows”, in the reader's language (Django's Permission.__str__ gives the
    stored English name)."""
    model = permission.content_type.model_class()
    if model is None:  # a model that no longer exists
        return str(permission)
    opts = model._meta
    app = gettext(str(apps.get_app_config(opts.app_label).verbose_name))
    model_name = gettext(str(opts.verbose_name))
    action = permission.codename.removesuffix(f"_{opts.model_name}")
    if action in DEFAULT_PERMISSIONS and permission.codename == f"{action}_{opts.model_name}":
        name = DEFAULT_PERMISSIONS[action] % {"model": model_name}
    else:
        name = str(dict(opts.permissions).get(permission.codename, permission.name))
    return f"{app} | {model_name} | {name}"
