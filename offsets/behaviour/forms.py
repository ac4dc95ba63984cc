"""The shape of what the platform operators' pages and the bureau's platform screen accept. Input shape only:
the rules (who may, the platform's state, the batch's content) stay in batches.py and services.py."""

from django import forms
from django.utils.translation import gettext_lazy as _

from offsets.behaviour import batches
from offsets.behaviour.models import BatchFormat, Scenario
from projects.forms import DATE  # ISO in the value, which a date field reads in any language

MAX_THRESHOLD_G = 10**12  # a million tonnes a person and month: far beyond any agreement, within bigint


class UploadForm(forms.Form):
    """A batch file uploaded in the portal: the same gzip file the API takes, with its id and format."""

    batch_id = forms.CharField(
        label=_("Batch id"),
        max_length=64,
        help_text=_(
            "Your own id of the batch: sending the same file under the same id again changes nothing."
        ),
    )
    format = forms.ChoiceField(label=_("Format"), choices=BatchFormat.choices, initial=BatchFormat.CSV)
    file = forms.FileField(
        label=_("File (gzip-compressed)"),
        help_text=_("CSV with its header line, or JSON lines, compressed with gzip (.csv.gz, .jsonl.gz)."),
    )

    def clean_batch_id(self) -> str:
        value = self.cleaned_data["batch_id"].strip()
        if problem := batches.problem_with_id(value):
            raise forms.ValidationError(problem)
        return value


class AgreementForm(forms.Form):
    """What the bureau agreed with a platform operator: its scenarios and aggregation threshold."""

    threshold_g = forms.IntegerField(
        label=_("Aggregation threshold (g per person and month)"),
        min_value=0,
        max_value=MAX_THRESHOLD_G,
        help_text=_(
            "Up to this many grams a person and month go to the platform; beyond it, to the person's own "
            "personal carbon account."
        ),
        error_messages={
            "min_value": _("The threshold is a whole number of grams, zero or more."),
            "max_value": _("The threshold may not exceed %(limit_value)s g."),
        },
    )
    scenarios = forms.ModelMultipleChoiceField(
        label=_("Scenarios the platform reports"),
        queryset=Scenario.objects.order_by("category", "code"),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one scenario.")},
    )
    agreed_on = forms.DateField(label=_("Agreed on"), widget=DATE)


class CredentialForm(forms.Form):
    """A new API key for a platform: its label says where it is used."""

    label = forms.CharField(
        label=_("Label"),
        max_length=100,
        help_text=_("Where the key is used, e.g. “production uploader”."),
    )
