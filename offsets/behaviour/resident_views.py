"""The resident's pages: signing up as a resident, opening a personal carbon account (个人碳账户), the
account's page (behaviour by day and scenario, the balance, its gram entries and donations), the donation
events, a donation (捐赠) and its certificate. A person sees only their own account: anyone else's is 404."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from offsets.behaviour import services
from offsets.behaviour.models import Donation, DonationEvent, PersonalAccount
from offsets.behaviour.resident_forms import DonationForm, IdentityNumberForm, ResidentSignUpForm
from projects.paging import page_of_request
from registry.models import in_reader_language
from registry.uploads import PDF, attachment

ROWS_PAGE = 25  # gram entries, donations and events: rows a page (keyset)
DAYS_PAGE = 31  # behaviour by day and scenario: rows a page
# The days are paged by number over at most this many rows (the newest: about a year of every scenario), so
# counting them stays cheap however long the account has been open.
DAYS_CAP = 4000


def own_account(user) -> PersonalAccount | None:
    """The user's personal carbon account, or None: the one door the resident's pages fetch it through."""
    return PersonalAccount.objects.owned_by(user).first()


def _own_account_or_404(request: HttpRequest, number: str) -> PersonalAccount:
    return get_object_or_404(PersonalAccount.objects.owned_by(request.user), number=number)


# --- Signing up, opening the account ------------------------------------------------------------------


def sign_up(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("behaviour:open_account")
    form = ResidentSignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.sign_up_resident(
                email=data["email"],
                full_name=data["full_name"],
                password=data["password1"],
                language=data["language"],
                identity_number=data["identity_number"],
            )
        except services.TransitionRefused as error:
            form.add_error("identity_number", str(error))
        except ValidationError as error:
            form.add_error("identity_number", error)
        else:
            return redirect("behaviour:sign_up_done")
    return render(request, "behaviour/resident/sign_up.html", {"form": form})


def sign_up_done(request: HttpRequest) -> HttpResponse:
    return render(request, "behaviour/resident/sign_up_done.html")


@login_required
def open_account(request: HttpRequest) -> HttpResponse:
    account = own_account(request.user)
    if account is not None:
        return redirect("behaviour:account", account.number)
    form = IdentityNumberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.open_personal_account(
                request.user, identity_number=form.cleaned_data["identity_number"]
            )
        except services.TransitionRefused as error:
            form.add_error("identity_number", str(error))
        except ValidationError as error:
            form.add_error("identity_number", error)
        else:
            messages.success(
                request, _("Your personal carbon account %(number)s is open.") % {"number": account.number}
            )
            return redirect("behaviour:account", account.number)
    return render(request, "behaviour/resident/open_account.html", {"form": form})


# --- The account ------------------------------------------------------------------------------------------


@login_required
def my_account(request: HttpRequest) -> HttpResponse:
    account = own_account(request.user)
    if account is None:
        return redirect("behaviour:open_account")
    return redirect("behaviour:account", account.number)


@login_required
def account(request: HttpRequest, number: str) -> HttpResponse:
    account = _own_account_or_404(request, number)
    days = Paginator(services.person_days(account, DAYS_CAP), DAYS_PAGE).get_page(
        request.GET.get("days_page")
    )
    days.object_list = [
        {**row, "scenario": in_reader_language(row["scenario__name_zh"], row["scenario__name_en"])}
        for row in days.object_list
    ]
    days_query = request.GET.copy()
    days_query.pop("days_page", None)
    entries, entries_query = page_of_request(
        request,
        account.entries.select_related("donation__event", "period__platform"),
        order="-created_at",
        size=ROWS_PAGE,
        prefix="entries_",
    )
    donations, donations_query = page_of_request(
        request,
        account.donations.select_related("event"),
        order="-donated_at",
        size=ROWS_PAGE,
        prefix="donations_",
    )
    return render(
        request,
        "behaviour/resident/account.html",
        {
            "account": account,
            "balance_kg": f"{account.balance_g / 1000:,.3f}",
            "days": days,
            "days_query": days_query.urlencode(),
            "days_capped": days.paginator.count >= DAYS_CAP,
            "entries": entries,
            "entries_query": entries_query,
            "donations": donations,
            "donations_query": donations_query,
        },
    )


# --- Donation events, donating, the certificate -------------------------------------------------------


@login_required
def events(request: HttpRequest) -> HttpResponse:
    page, query = page_of_request(request, DonationEvent.objects.all(), order="-opens_on", size=ROWS_PAGE)
    today = timezone.localdate()
    for event in page.rows:
        event.is_open = event.opens_on <= today <= event.closes_on
    return render(
        request,
        "behaviour/resident/event_list.html",
        {"page": page, "query": query, "account": own_account(request.user)},
    )


@login_required
def donate(request: HttpRequest, pk: int) -> HttpResponse:
    event = get_object_or_404(DonationEvent, pk=pk)
    account = own_account(request.user)
    if account is None:
        messages.info(request, _("Open your personal carbon account first: donations come from its balance."))
        return redirect("behaviour:open_account")
    form = DonationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            donation = services.donate(account, event, grams=form.cleaned_data["grams"], by=request.user)
        except services.TransitionRefused as error:
            form.add_error(None, str(error))
        else:
            messages.success(
                request,
                _("Thank you: you donated %(grams)s g to %(event)s. Certificate %(number)s.")
                % {"grams": f"{donation.grams:,}", "event": event.name, "number": donation.number},
            )
            return redirect(reverse("behaviour:account", args=[account.number]) + "#donations")
    # What stands in the way before anything is typed: the event's dates, an empty balance.
    problems = [] if form.is_bound else services.donation_problems(account, event, 1)
    return render(
        request,
        "behaviour/resident/donate.html",
        {"event": event, "account": account, "form": form, "problems": problems},
    )


@login_required
def donation_certificate(request: HttpRequest, number: str) -> FileResponse:
    """The donor downloads the certificate; everyone else verifies it on the public page."""
    donation = get_object_or_404(Donation.objects.filter(account__user=request.user), number=number)
    if not donation.file:
        from offsets.behaviour import documents

        donation = documents.make_donation_certificate(donation.pk)
    return attachment(donation.file, kind=PDF, stem=donation.number)
