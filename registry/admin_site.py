"""Django's admin site, with its input checked where Django's own admin does not check it."""

from functools import update_wrapper

from django.contrib import admin
from django.contrib.admin.options import TO_FIELD_VAR
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry.params import BadInput


class RegistryAdminSite(admin.AdminSite):
    """Every admin view first refuses an empty `_to_field` (the related-object popups' parameter) with a
    400: Django's admin skips its check of an empty name and then looks it up as a field, a 500."""

    # The registry's name, not Django's ("Django 管理"), on every admin page.
    site_header = gettext_lazy("Carbon Inclusion Registry administration")
    site_title = gettext_lazy("Carbon Inclusion Registry")

    def admin_view(self, view, cacheable=False):
        inner = super().admin_view(view, cacheable)

        def checked(request, *args, **kwargs):
            if "" in (request.GET.get(TO_FIELD_VAR), request.POST.get(TO_FIELD_VAR)):
                raise BadInput(
                    _("This address asks for an object by a nameless field. Open it from its list.")
                )
            return inner(request, *args, **kwargs)

        return update_wrapper(checked, inner)
