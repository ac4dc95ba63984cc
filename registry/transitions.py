"""Workflow steps, declared once per workflow in a table, and the one helper that carries them out.

A `Transition` is one step: the states it leaves from, the state it goes to, who may take it (its right),
what about the object refuses it (its guards, such as four eyes), the audit action it records, whether it
notifies, its formal letter, and for the screens its label, form and button. A `Table` holds the steps of
one workflow (review cases, organisations, phases, objections). The workflow's functions check against
it, the screens list what it offers a user now (`offered`), and the decision views find the function to
call (`function`). Adding a step is one entry in a table and one function.

Every step runs the same way, here and nowhere else:

    start(table, name, obj, by=…)    lock the row; check the right, the source state and the guards
    finish(table, name, locked, …)   the new state and other changes, the audit event, the notification
                                     after commit
    move(table, name, obj, by=…)     start and finish, for a step with nothing to check in between

A function with checks of its own on the locked row (a submission's completeness, the verified quantity)
calls start, checks, then finish. The right is judged before the state, so someone who may not take a
step at all gets 403 whatever the state; both are judged on the locked row, as it is now.
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from registry import audit


class TransitionRefused(Exception):
    """Raised with a translated message that the view shows as it is."""


def notify_after_commit(event) -> None:
    """Tell the event's people once the caller's transaction commits (registry.tasks.notify)."""
    notify_many_after_commit([event])


NOTIFY_BATCH = 10  # events per job when many are notified at once: a few seconds of a worker's time


def notify_many_after_commit(events) -> None:
    """The same for many events at once (a registration's): one INSERT for their jobs.

    Each event's NotificationJob is written now, in the caller's transaction: if the task is lost (a killed
    worker, the broker down at the commit), the reconciliation finds the job undone and sends it again. So a
    failed send is logged (`robust`), never turned into an error page for a change that is committed."""
    from celery import current_app, group

    from registry import tasks
    from registry.models import NotificationJob

    if not events:
        return

    def queue() -> None:  # once the events have their ids (audit.together() writes them at its end)
        NotificationJob.objects.bulk_create([NotificationJob(event=e) for e in events], ignore_conflicts=True)
        ids = [event.pk for event in events]

        def send() -> None:
            if len(ids) == 1:
                tasks.notify.delay(ids[0])
                return
            # Many (a registration's thousand): one job per NOTIFY_BATCH events, sent as one Celery group
            # whose messages go to Redis in one pipelined round trip (kombu's Producer.batch), not one send
            # and one round trip per event inside the request (docs/performance.md, issue 15).
            jobs = group(
                tasks.notify_each.si(ids[i : i + NOTIFY_BATCH]) for i in range(0, len(ids), NOTIFY_BATCH)
            )
            with current_app.producer_or_acquire() as producer, producer.batch():
                jobs.apply_async(producer=producer)

        transaction.on_commit(send, robust=True)

    audit.once_written(queue)


# Every table by its model's label: an app lists another app's steps without importing it (a declaration's
# page, in projects, offers the declarant's answer to an objection, in offsets).
TABLES: dict = {}


def _cleaned_data(form) -> dict:
    return dict(form.cleaned_data)


@dataclass(frozen=True)
class Transition:
    name: str
    sources: Collection[str]
    # None: the step leaves the state as it is (assigning a case), or its function names the new one
    # (a resubmitted case goes back to the stage that returned it).
    target: str | None = None
    action: str = ""  # the audit event's action (registry/events.py gives its label)
    right: Callable[[Any, Any], None] | None = None  # (user, obj): PermissionDenied if the user may not
    guards: tuple[Callable[[Any, Any], None], ...] = ()  # (obj, user): TransitionRefused, e.g. four eyes
    refusal: Callable[[Any], str] | None = None  # the message when the state refuses; else the table's
    notify: bool = True
    letter: str = ""  # the formal letter its event carries (projects.letters)
    function: str = ""  # the function in the table's module that takes the step; default: the name
    # For the screens. A step without a label is taken by the system (the clock, another step) and is never
    # offered.
    label: str = ""
    button: str = "btn-primary"
    form: type | None = None
    form_kwargs: Callable[[Any, Any], dict] | None = None  # (obj, user): the form's choices and initial
    arguments: Callable[[Any], dict] = _cleaned_data  # (valid bound form): the function's arguments
    shown: Callable[[Any, Any], bool] | None = None  # (obj, user): a condition of the screen only

    def make_form(self, obj, user, data=None):
        kwargs = self.form_kwargs(obj, user) if self.form_kwargs else {}
        return self.form(data, **kwargs) if data is not None else self.form(**kwargs)


class Table:
    """The steps of one workflow, in the order the screens list them."""

    def __init__(
        self,
        *transitions: Transition,
        field: str,
        module: str,
        refusal: Callable[[Any], str],
        models: Collection[str],
        changes: Callable[[Any, str, str], dict] | None = None,
        recorded: tuple[str, ...] = (),
        touched: tuple[str, ...] = (),
    ):
        self.transitions = {t.name: t for t in transitions}
        self.models = models  # the labels of the models it moves, "app_label.modelname"
        self.field = field  # the model's state field
        self.module = module  # where the steps' functions are
        self.refusal = refusal  # (obj) -> the message when a step is not possible in the object's state
        self.changes = changes  # (locked, before, to) -> the fields every change of state also sets
        self.recorded = recorded  # fields whose new value every change of state records in its event
        self.touched = touched  # fields saved with every change (an auto_now timestamp)
        TABLES.update(dict.fromkeys(models, self))

    def __getitem__(self, name: str) -> Transition:
        return self.transitions[name]

    def __contains__(self, name: str) -> bool:
        return name in self.transitions

    def __iter__(self):
        return iter(self.transitions.values())

    def state(self, obj) -> str:
        return getattr(obj, self.field)

    def check(self, obj, name: str, by) -> Transition:
        """The actor's right, the source state and the guards, judged on `obj` as the caller has it
        (start() has locked it). Raises PermissionDenied or TransitionRefused with its message."""
        transition = self[name]
        if transition.right is not None:
            transition.right(by, obj)
        if self.state(obj) not in transition.sources:
            raise TransitionRefused((transition.refusal or self.refusal)(obj))
        for guard in transition.guards:
            guard(obj, by)
        return transition

    def offered(self, obj, user) -> dict[str, Transition]:
        """The steps the user may take on `obj` now, by name: what the screens show and the decision
        views accept. The functions check again, on the locked row, when the step is taken."""
        steps = {}
        for transition in self:
            if not transition.label or self.state(obj) not in transition.sources:
                continue
            if transition.shown is not None and not transition.shown(obj, user):
                continue
            try:
                self.check(obj, transition.name, user)
            except (PermissionDenied, TransitionRefused):
                continue
            steps[transition.name] = transition
        return steps

    def function(self, name: str) -> Callable:
        """The workflow function that takes the step."""
        transition = self[name]
        return getattr(import_module(self.module), transition.function or transition.name)


def offered(obj, user) -> dict[str, Transition]:
    """The steps the user may take on `obj` now, from the table of its model."""
    return TABLES[obj._meta.label_lower].offered(obj, user)


def lock(obj):
    """The object's row, locked until the transaction ends: two people acting at once never both pass."""
    return type(obj).objects.select_for_update().get(pk=obj.pk)


def start(table: Table, name: str, obj, *, by):
    """Lock the row and check the step against the table; returns the locked row for finish()."""
    locked = lock(obj)
    table.check(locked, name, by)
    return locked


def finish(
    table: Table,
    name: str,
    locked,
    *,
    by,
    to: str | None = None,
    note: str = "",
    before: dict | None = None,
    after: dict | None = None,
    **changes,
):
    """Take the step on a row that start() locked and checked: the new state (`to`, else the table's
    target; none for a step that keeps the state) and `changes`, saved; the audit event with the state
    before and after, `before`/`after` and the note; its notification after commit. Returns the event."""
    transition = table[name]
    to = to or transition.target
    before, after = dict(before or {}), dict(after or {})
    if to is not None:
        was = table.state(locked)
        also = table.changes(locked, was, to) if table.changes else {}
        changes = {table.field: to, **also, **changes}
        before = {table.field: was, **before}
    for field, value in changes.items():
        setattr(locked, field, value)
    if changes:
        locked.save(update_fields=[*changes, *table.touched])
    if to is not None:
        after = {table.field: to, **{f: getattr(locked, f) for f in table.recorded}, **after}
    event = audit.record(
        actor=by, action=transition.action, subject=locked, before=before, after=after, comment=note
    )
    if transition.notify:
        notify_after_commit(event)
    return event


def move(table: Table, name: str, obj, *, by, **kwargs):
    """start() and finish() in one: returns (the locked row, changed, and the event)."""
    locked = start(table, name, obj, by=by)
    return locked, finish(table, name, locked, by=by, **kwargs)
