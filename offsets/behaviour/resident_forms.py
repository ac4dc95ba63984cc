"""The shape of what a resident sends: the sign-up, opening a personal carbon account, a donation. The rules
(one account per person, the balance, the event's dates) stay in offsets/behaviour/services.py."""

from django import forms
from django.utils.translation import gettext_lazy as _

from registry import identifiers
from registry.forms import AcceptInvitationForm

# No donation will ever be a billion kilograms: anything above is a typing slip (or a probe).
MAX_GRAMS = 10**15


def identity_number_field() -> forms.CharField:
    # Longer than the 18 characters kept: people paste numbers with spaces, which the validator removes.
    return forms.CharField(
        label=_("Resident identity number"),
        max_length=40,
        help_text=_(
            "Checked by its check character; the registry keeps only a masked form and a keyed hash."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


class IdentityNumberForm(forms.Form):
    identity_number = identity_number_field()

    def clean_identity_number(self) -> str:
        return identifiers.validate_identity_number(self.cleaned_data["identity_number"])


class ResidentSignUpForm(AcceptInvitationForm):
    """The invitation's name, language and passwords twice (its password checks), plus the e-mail address
    and the resident identity number."""

    email = forms.EmailField(
        label=_("Your e-mail address"), help_text=_("You log in with it; we send a confirmation link.")
    )
    identity_number = identity_number_field()

    field_order = ["email", "full_name", "identity_number", "language", "password1", "password2"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, email="", **kwargs)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean_identity_number(self) -> str:
        return identifiers.validate_identity_number(self.cleaned_data["identity_number"])

    def clean(self):
        self.email = self.cleaned_data.get("email", "")  # the password must not resemble it
        return super().clean()


class DonationForm(forms.Form):
    grams = forms.IntegerField(
        label=_("Grams to donate"),
        min_value=1,
        max_value=MAX_GRAMS,
        help_text=_("A whole number of grams of CO₂e, at most your balance."),
    )
