"""The shape of what the bureau's ledger screens accept (offsets.office_ledger_views). Input shape only:
the rules (who may, the cap, the ledger's state) stay in offsets.transfers, retirements and compliance."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from offsets.models import CapBasis, Installation
from projects.forms import DATE  # ISO in the value, which a date field reads in any language
from registry.models import Organisation

# Sane bounds: a quantity of credits (a PositiveIntegerField), a year, a tonnage of emissions.
MAX_QUANTITY = 1_000_000_000
FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_TONNES = 10**12


def _year_field(label) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=FIRST_YEAR,
        max_value=LAST_YEAR,
        # The validators fill in %(limit_value)s when the message is shown, in the reader's language.
        error_messages={
            "min_value": _("Give a year from %(limit_value)s on."),
            "max_value": _("Give a year up to %(limit_value)s."),
        },
    )


class ReasonsForm(forms.Form):
    """A refusal: a transfer or a compliance offset rejected, with the reasons the holder is told."""

    reasons = forms.CharField(label=_("Reasons"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


class CancellationForm(forms.Form):
    """Credits cancelled by the registry administrator to correct an error: the only correction."""

    quantity = forms.IntegerField(
        label=_("Quantity (t)"),
        min_value=1,
        max_value=MAX_QUANTITY,
        error_messages={
            "min_value": _("The quantity must be at least 1 t."),
            "max_value": _("The quantity may not exceed %(limit_value)s t."),
        },
    )
    reasons = forms.CharField(
        label=_("Reasons (the error corrected)"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3})
    )
    blocks = forms.TypedMultipleChoiceField(
        label=_("From these blocks (optional; otherwise first in, first out)"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, blocks=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["blocks"].choices = [
            (block.pk, f"{block.serial} · {block.quantity} t") for block in blocks
        ]


class PolicyForm(forms.Form):
    """A compliance year's policy (履约年度). The year names the policy: fixed once the policy exists."""

    year = _year_field(_("Compliance year"))
    first_vintage = _year_field(_("Earliest eligible vintage"))
    last_vintage = _year_field(_("Latest eligible vintage"))
    conversion = forms.DecimalField(
        label=_("Allowance per credit (t)"),
        max_digits=6,
        decimal_places=3,
        initial=Decimal("1"),
        help_text=_("1 t of credits offsets this many tonnes of allowance."),
    )
    cap_basis = forms.ChoiceField(label=_("Cap as a share of"), choices=CapBasis.choices)
    cap_percent = forms.DecimalField(label=_("Cap (%)"), max_digits=5, decimal_places=2)
    window_opens = forms.DateField(label=_("Requests accepted from"), widget=DATE)
    window_closes = forms.DateField(label=_("Requests accepted until"), widget=DATE)

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["year"].disabled = True

    def clean_conversion(self):
        conversion = self.cleaned_data["conversion"]
        if conversion <= 0:
            raise forms.ValidationError(_("The conversion must be more than 0."))
        return conversion

    def clean_cap_percent(self):
        percent = self.cleaned_data["cap_percent"]
        if not Decimal(0) < percent <= Decimal(100):
            raise forms.ValidationError(_("The cap is a share: more than 0 % and at most 100 %."))
        return percent

    def clean(self):
        data = super().clean()
        first, last = data.get("first_vintage"), data.get("last_vintage")
        if first and last and last < first:
            self.add_error("last_vintage", _("The latest eligible vintage comes before the earliest."))
        opens, closes = data.get("window_opens"), data.get("window_closes")
        if opens and closes and closes < opens:
            self.add_error("window_closes", _("The window closes before it opens."))
        return data

    def policy_values(self) -> dict:
        return {name: value for name, value in self.cleaned_data.items() if name != "year"}


def _tonnes_field(label) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=0,
        max_value=MAX_TONNES,
        error_messages={
            "min_value": _("Give a number of tonnes, 0 or more."),
            "max_value": _("The figure may not exceed %(limit_value)s t."),
        },
    )


class RecordForm(forms.Form):
    """A covered emitter's verified emissions and allowance for a compliance year."""

    verified_emissions_t = _tonnes_field(_("Verified emissions (t)"))
    allowance_t = _tonnes_field(_("Allowance (t)"))


class NewRecordForm(RecordForm):
    organisation = forms.ModelChoiceField(label=_("Covered emitter"), queryset=Organisation.objects.none())
    year = _year_field(_("Compliance year"))

    field_order = ["organisation", "year", "verified_emissions_t", "allowance_t"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["organisation"].queryset = Organisation.objects.filter(is_covered_emitter=True).order_by(
            "name"
        )


class InstallationForm(forms.Form):
    name = forms.CharField(label=_("Installation or site"), max_length=200)
    address = forms.CharField(label=_("Address"), max_length=300, required=False)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("Name the installation or site."))
        return name


class BoundaryLinkForm(forms.Form):
    """The covered emitter whose compliance boundary a project lies in; none, if it lies in none."""

    emitter = forms.ModelChoiceField(
        label=_("Inside the boundary of"),
        queryset=Organisation.objects.none(),
        required=False,
        empty_label=_("No covered emitter's boundary"),
    )
    installation = forms.ModelChoiceField(
        label=_("Installation or site (optional)"), queryset=Installation.objects.none(), required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        emitters = Organisation.objects.filter(is_covered_emitter=True).order_by("name")
        self.fields["emitter"].queryset = emitters
        self.fields["installation"].queryset = Installation.objects.filter(
            organisation__in=emitters
        ).select_related("organisation")
        self.fields["installation"].label_from_instance = lambda i: f"{i.organisation.name} · {i.name}"

    def clean(self):
        data = super().clean()
        emitter, installation = data.get("emitter"), data.get("installation")
        if installation is not None and (emitter is None or installation.organisation_id != emitter.pk):
            self.add_error("installation", _("That installation is not inside this emitter's boundary."))
        return data
