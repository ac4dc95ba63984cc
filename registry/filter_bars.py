"""Filter bars as plain data for plain templates: no form library on pages people open all day."""

import django_filters
from django import forms


def plain_fields(filterset: django_filters.FilterSet) -> list[dict]:
    """The filter form as plain data for a plain template: each field's name, label, input type, options
    (None for an input) and current value, every label translated once. crispy-forms rendered each field
    through a dozen templates: a fifth of a review queue page's time, which the bureau opens all day."""
    form = filterset.form
    errors = form.errors if form.is_bound else {}
    return [
        {
            "name": name,
            "label": str(field.label),
            "input_type": getattr(field.widget, "input_type", "text"),
            "options": [(str(value), str(label)) for value, label in field.widget.choices]
            if isinstance(field.widget, forms.Select)
            else None,
            "value": form.data.get(name, ""),
            "errors": errors.get(name, []),
        }
        for name, field in form.fields.items()
    ]
