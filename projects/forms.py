from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from projects.models import Declaration, Project
from projects.services import verification_bodies_for
from registry.models import (
    DocumentType,
    Methodology,
    MethodologyStatus,
    Organisation,
)

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = [
            "methodology",
            "title",
            "site_address",
            "district",
            "latitude",
            "longitude",
            "capacity_kw",
            "commissioning_date",
            "crediting_start",
            "crediting_end",
            "description",
            "not_registered_elsewhere",
            "outside_covered_boundary",
        ]
        widgets = {
            "commissioning_date": DATE,
            "crediting_start": DATE,
            "crediting_end": DATE,
            "description": forms.Textarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["methodology"].queryset = Methodology.objects.filter(status=MethodologyStatus.ACTIVE)

    def clean(self):
        data = super().clean()
        start, end = data.get("crediting_start"), data.get("crediting_end")
        if start and end and end < start:
            self.add_error("crediting_end", _("The crediting period ends before it starts."))
        latitude, longitude = data.get("latitude"), data.get("longitude")
        if latitude is not None and not -90 <= latitude <= 90:
            self.add_error("latitude", _("A latitude lies between -90 and 90."))
        if longitude is not None and not -180 <= longitude <= 180:
            self.add_error("longitude", _("A longitude lies between -180 and 180."))
        return data


class ConnectionPointForm(forms.Form):
    meter_number = forms.CharField(label=_("Meter number"), max_length=40)
    capacity_kw = forms.DecimalField(label=_("Capacity (kW)"), max_digits=10, decimal_places=1, min_value=0.1)

    def clean_meter_number(self):
        return self.cleaned_data["meter_number"].strip().upper()


# A posted TOTAL_FORMS of 2147483648 built Django's default ceiling of 2,000 forms (5 s a request):
# more rows than this answer a form error and build no more than this many forms.
MAX_CONNECTION_POINTS = 50
ConnectionPointFormSet = forms.formset_factory(
    ConnectionPointForm,
    extra=2,
    min_num=0,
    validate_min=False,
    can_delete=True,
    max_num=MAX_CONNECTION_POINTS,
    validate_max=True,
    absolute_max=MAX_CONNECTION_POINTS,
)


class DeclarationForm(forms.ModelForm):
    class Meta:
        model = Declaration
        fields = ["period_start", "period_end", "verification_body"]
        widgets = {"period_start": DATE, "period_end": DATE}

    def __init__(self, *args, organisation: Organisation, **kwargs):
        super().__init__(*args, **kwargs)
        # Verified bodies only, never the declarant itself nor one related to it.
        self.fields["verification_body"].queryset = verification_bodies_for(organisation)


class MonthlyDataForm(forms.Form):
    """One MWh field per month of the monitoring period."""

    def __init__(self, *args, months: list[date], **kwargs):
        super().__init__(*args, **kwargs)
        self.months = months
        for month in months:
            self.fields[self.key(month)] = forms.DecimalField(
                label=f"{month:%Y-%m}",
                max_digits=12,
                decimal_places=3,
                min_value=0,
                widget=forms.NumberInput(attrs={"step": "0.001", "inputmode": "decimal"}),
            )

    @staticmethod
    def key(month: date) -> str:
        return f"m_{month:%Y_%m}"

    def values(self) -> dict:
        return {month: self.cleaned_data[self.key(month)] for month in self.months}


class SingleFigureForm(forms.Form):
    value_mwh = forms.DecimalField(
        label=_("MWh for the whole period"), max_digits=12, decimal_places=3, min_value=0
    )


class ClaimedQuantityForm(forms.Form):
    claimed_t = forms.IntegerField(
        label=_("Claimed reduction (t), as the verification report gives it"), min_value=0
    )


class SpreadsheetForm(forms.Form):
    sheet = forms.FileField(label=_("XLSX sheet"))


class DocumentForm(forms.Form):
    doc_type = forms.ChoiceField(label=_("Document type"), choices=DocumentType.choices)
    file = forms.FileField(label=_("File (PDF, PNG or JPEG)"))

    def __init__(self, *args, types=None, **kwargs):
        super().__init__(*args, **kwargs)
        if types is not None:
            self.fields["doc_type"].choices = [(t, DocumentType(t).label) for t in types]


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}), required=False)


class FindingsForm(forms.Form):
    findings = forms.CharField(
        label=_("Findings, one per line"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Each line becomes a numbered finding the applicant answers."),
    )
    note = forms.CharField(label=_("Covering note"), widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def finding_texts(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["findings"].splitlines() if line.strip()]


class OpinionRequestForm(forms.Form):
    experts = forms.ModelMultipleChoiceField(
        label=_("Experts"), queryset=None, widget=forms.CheckboxSelectMultiple
    )
    question = forms.CharField(
        label=_("Question to the experts"), widget=forms.Textarea(attrs={"rows": 2}), required=False
    )

    def __init__(self, *args, experts, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["experts"].queryset = experts


class ForwardForm(forms.Form):
    recommendation = forms.ChoiceField(
        label=_("Recommendation"), choices=[("approve", _("Approve")), ("reject", _("Reject"))]
    )
    verified_t = forms.IntegerField(label=_("Verified quantity (t)"), min_value=0, required=False)
    note = forms.CharField(label=_("Review note"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


class OpinionForm(forms.Form):
    opinion = forms.CharField(label=_("Your opinion"), widget=forms.Textarea(attrs={"rows": 4}))


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Assign to"), queryset=None)

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = candidates


class ConflictForm(forms.Form):
    reason = forms.CharField(label=_("Conflict of interest"), widget=forms.Textarea(attrs={"rows": 2}))


class AnswerForm(forms.Form):
    answer = forms.CharField(label=_("Your answer"), widget=forms.Textarea(attrs={"rows": 3}))
