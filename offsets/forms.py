import re

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from offsets.models import BeneficiaryKind, IssuancePhase

# Text that is published and exported (certificates, the retirements list, XLSX): control characters
# other than line breaks and tabs are refused, so that nothing unprintable is kept for good.
printable = RegexValidator(
    re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"),
    _("Remove the control characters from this text."),
    inverse_match=True,
)


class PhaseForm(forms.ModelForm):
    class Meta:
        model = IssuancePhase
        fields = ["code", "title_zh", "title_en"]

    def clean_code(self):
        # Before the model's validators and constraints see it: "2023p01 " is 2023P01.
        return self.cleaned_data["code"].strip().upper()


class ObjectionForm(forms.Form):
    declaration = forms.TypedChoiceField(label=_("The declaration you object to"), coerce=int)
    name = forms.CharField(label=_("Your name"), max_length=100)
    organisation = forms.CharField(label=_("Your organisation (optional)"), max_length=200, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Telephone"), max_length=40, required=False)
    reasons = forms.CharField(
        label=_("Your reasons"), widget=forms.Textarea(attrs={"rows": 6}), max_length=5000
    )
    attachment = forms.FileField(label=_("Evidence (optional: PDF, PNG or JPEG)"), required=False)

    def __init__(self, *args, declarations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["declaration"].choices = declarations

    def clean(self):
        data = super().clean()
        if not data.get("email") and not data.get("phone"):
            raise forms.ValidationError(
                _("Give an e-mail address or a telephone number, so the Bureau can reach you.")
            )
        return data


class RulingForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Ruling"), choices=[("dismissed", _("Dismiss")), ("upheld", _("Uphold"))]
    )
    reasons = forms.CharField(label=_("Reasons"), widget=forms.Textarea(attrs={"rows": 3}))


class ObjectionAnswerForm(forms.Form):
    answer = forms.CharField(
        label=_("Your answer to the objection"), widget=forms.Textarea(attrs={"rows": 3})
    )


class VerifyForm(forms.Form):
    q = forms.CharField(label=_("Certificate number, serial or unit number"), max_length=120, required=False)


# --- The holder's account: transfers, retirements, compliance offsets ---------------------------------

# No account will ever move a billion tonnes at once; anything above is a typing slip (or a probe).
MAX_QUANTITY = 1_000_000_000


def quantity_field():
    return forms.IntegerField(
        label=_("Quantity (t)"),
        min_value=1,
        max_value=MAX_QUANTITY,
        error_messages={"invalid": _("Give the quantity as a whole number of tonnes, such as 100.")},
    )


class TransferForm(forms.Form):
    to_number = forms.CharField(
        label=_("To account number"), max_length=30, help_text=_("For example WHA-00000012.")
    )
    quantity = quantity_field()
    blocks = forms.TypedMultipleChoiceField(
        label=_("From these blocks (optional)"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Choose none to take the oldest vintage first, then the lowest serial number."),
    )
    note = forms.CharField(
        label=_("Note (optional)"),
        max_length=1000,
        required=False,
        validators=[printable],
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, blocks=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["blocks"].choices = [(b.pk, f"{b.serial} · {b.quantity:,} t") for b in blocks]

    def clean_to_number(self):
        return self.cleaned_data["to_number"].strip().upper()


class RetirementForm(forms.Form):
    quantity = quantity_field()
    beneficiary_kind = forms.ChoiceField(label=_("Retired on behalf of"), choices=BeneficiaryKind.choices)
    beneficiary = forms.CharField(
        label=_("Beneficiary's name"),
        max_length=200,
        validators=[printable],
        help_text=_("An organisation, an event or a person; a person's name is masked in public (张*)."),
    )
    purpose = forms.CharField(
        label=_("Purpose"), max_length=2000, validators=[printable], widget=forms.Textarea(attrs={"rows": 3})
    )


class OffsetForm(forms.Form):
    year = forms.TypedChoiceField(label=_("Compliance year"), coerce=int)
    quantity = quantity_field()

    def __init__(self, *args, years=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["year"].choices = [(y, str(y)) for y in years]
