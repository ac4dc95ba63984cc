from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _

from registry import identifiers
from registry.kept_uploads import NO_LONGER_KEPT, UploadHolder
from registry.models import Language, Organisation, OrganisationKind, OrgRole, User
from registry.uploads import check_upload, display_name, storage_name

# What the organisation's admin may edit. What the organisation is (its kind, the covered-emitter flag)
# is not here: only the registry administrator changes it, through an audited action.
ORGANISATION_FIELDS = [
    "name",
    "name_en",
    "identifier",
    "legal_representative",
    "address",
    "district",
    "contact_name",
    "contact_phone",
    "contact_email",
]


class LanguageSelect(forms.Select):
    """Each language named in itself ("English" on a Chinese page too) and marked with its own language, as
    the language switcher's links are, so that a screen reader says it right (WCAG 3.1.2)."""

    def create_option(self, name, value, *args, **kwargs):
        option = super().create_option(name, value, *args, **kwargs)
        if value:
            option["attrs"]["lang"] = "zh-Hans" if value == Language.ZH_HANS else value
        return option


class OrganisationForm(forms.ModelForm):
    refuses_registered_identifier = True
    # Longer than the stored 18 characters: people paste codes with spaces, which clean() removes.
    identifier = forms.CharField(
        label=_("Unified Social Credit Code or resident identity number"),
        max_length=40,
        help_text=_(
            "Organisations: the 18-character Unified Social Credit Code. Households and individuals: "
            "the 18-character resident identity number."
        ),
    )
    business_licence = forms.FileField(
        label=_("Business licence (PDF, PNG or JPEG)"),
        required=False,
        help_text=_("For households: a copy of the identity card."),
    )

    class Meta:
        model = Organisation
        fields = ORGANISATION_FIELDS

    def __init__(self, *args, holder: UploadHolder | None = None, **kwargs):
        # With a holder, a licence that passed its checks survives a failed submit (registry.kept_uploads).
        super().__init__(*args, **kwargs)
        self.holder = holder
        self.licence_name = ""

    @property
    def kept_licence_input(self) -> str:
        return self.add_prefix("business_licence") + "-kept"

    def clean_business_licence(self):
        upload = self.cleaned_data.get("business_licence")
        token = self.data.get(self.kept_licence_input) if self.holder else None
        if token and upload:
            self.holder.discard(token)  # a newly chosen file replaces the kept one
        elif token:
            upload = self.holder.take(token)
            if upload is None:
                raise forms.ValidationError(NO_LONGER_KEPT, code="no_longer_kept")
        if upload:
            self.licence_name = display_name(upload.name)
            # A kept file is checked again, exactly like a new one.
            self.checked_licence = check_upload(upload)
            # Stored under our own name with the checked kind's extension, never the user's name.
            upload.name = storage_name(self.checked_licence)
        return upload

    def full_clean(self):
        super().full_clean()
        if self._errors:
            self.keep_licence()

    def keep_licence(self) -> None:
        """After a failed submit (the form's errors, or the service's refusal): hold a licence that passed
        its checks, so the page can offer it again instead of asking for it."""
        field = self.fields["business_licence"]
        licence = getattr(self, "cleaned_data", {}).get("business_licence")
        if self.holder is None or getattr(field, "kept", None) or not licence:
            return
        field.kept = self.holder.keep(licence, input_name=self.kept_licence_input, name=self.licence_name)

    def clean(self):
        data = super().clean()
        # Sign-up chooses the kind; an edit keeps the organisation's own.
        kind = data.get("kind") if "kind" in self.fields else self.instance.kind
        identifier = data.get("identifier")
        if identifier and kind:
            validate = (
                identifiers.validate_identity_number
                if kind == OrganisationKind.HOUSEHOLD
                else identifiers.validate_credit_code
            )
            try:
                data["identifier"] = validate(identifier)
            except forms.ValidationError as error:
                self.add_error("identifier", error)
            else:
                taken = Organisation.objects.filter(identifier=data["identifier"]).exclude(
                    pk=self.instance.pk
                )
                if self.refuses_registered_identifier and taken.exists():
                    self.add_error(
                        "identifier", _("An organisation with this identifier is already registered.")
                    )
        return data


class SignUpForm(OrganisationForm):
    admin_name = forms.CharField(label=_("Your name"), max_length=100)
    admin_email = forms.EmailField(
        label=_("Your e-mail address"), help_text=_("You log in with it; we send a confirmation link.")
    )
    language = forms.ChoiceField(
        label=_("Preferred language"), choices=Language.choices, widget=LanguageSelect
    )
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, strip=False)

    ACCOUNT_FIELDS = ("admin_name", "admin_email", "language", "password1", "password2")
    # Whether the identifier or the e-mail address is registered already is never the form's answer: that
    # would tell anyone who is registered. services.sign_up decides, and the page answers the same.
    refuses_registered_identifier = False

    class Meta(OrganisationForm.Meta):
        # The kind is chosen at registration (the Bureau verifies it); never the covered-emitter flag.
        fields = ["kind", *ORGANISATION_FIELDS]

    def organisation_fields(self):
        return [self[name] for name in self.fields if name not in self.ACCOUNT_FIELDS]

    def account_fields(self):
        return [self[name] for name in self.ACCOUNT_FIELDS]

    def clean_admin_email(self):
        return self.cleaned_data["admin_email"].strip().lower()

    def validate_unique(self):
        pass  # the model's unique identifier would answer "already exists"; see refuses_registered_identifier

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords differ."))
        elif p1:
            candidate = User(email=data.get("admin_email", ""), full_name=data.get("admin_name", ""))
            try:
                password_validation.validate_password(p1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class ReasonForm(forms.Form):
    note = forms.CharField(label=_("Reasons"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


class KindForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=OrganisationKind.choices)
    reason = forms.CharField(label=_("Reasons"), widget=forms.Textarea(attrs={"rows": 2}))


class CoveredEmitterForm(forms.Form):
    is_covered_emitter = forms.BooleanField(
        label=_("A covered emitter of the regional carbon market"), required=False
    )
    reason = forms.CharField(label=_("Reasons"), widget=forms.Textarea(attrs={"rows": 2}))


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ChoiceField(label=_("Role"), choices=OrgRole.choices, initial=OrgRole.DECLARANT)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=OrgRole.choices)


class AcceptInvitationForm(forms.Form):
    full_name = forms.CharField(label=_("Your name"), max_length=100)
    language = forms.ChoiceField(
        label=_("Preferred language"), choices=Language.choices, widget=LanguageSelect
    )
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label=_("Password again"), widget=forms.PasswordInput, strip=False)

    def __init__(self, *args, email: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords differ."))
        elif p1:
            try:
                password_validation.validate_password(
                    p1, User(email=self.email, full_name=data.get("full_name", ""))
                )
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class OTPCodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        help_text=_("The 6-digit code your authenticator app shows now, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True}),
    )
