from django import forms
from django.utils.translation import gettext_lazy as _

from offsets.models import IssuancePhase


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
