"""What every app's pages share: errors beside the field they name."""

from django import forms

from plg_platform.errors import ValidationFailed
from plg_platform.web.forms import PageForm
from plg_platform.web.pages import attach_errors


class _Form(PageForm):
    name = forms.CharField()
    locked = forms.CharField(disabled=True, required=False)


class _EngineError(Exception):
    """Shaped like the statistics engine's ``StatsInputError``: one field, one message."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message


def _form() -> _Form:
    form = _Form(data={"name": "x"})
    assert form.is_valid()
    return form


def test_an_error_goes_beside_its_field_and_unknown_or_disabled_fields_go_on_top():
    form = _form()
    attach_errors(
        form,
        ValidationFailed(
            "bad",
            errors={"name": ["Name taken."], "locked": ["Locked."], "other": ["Elsewhere."]},
        ),
    )
    assert form.errors == {"name": ["Name taken."], "__all__": ["Locked.", "Elsewhere."]}


def test_service_field_names_map_to_the_form_and_indexed_names_to_their_field():
    form = _form()
    attach_errors(form, ValidationFailed("Too long.", field="title"), fields={"title": "name"})
    attach_errors(form, _EngineError("name[0].key", "Duplicate key."))
    assert form.errors == {"name": ["Too long.", "Duplicate key."]}


def test_errors_of_fields_shown_outside_the_form_are_collected_there():
    form = _form()
    variants: list[str] = []
    attach_errors(
        form,
        _EngineError("variants[1].weight", "Weights sum to 1."),
        outside={"variants": variants},
    )
    assert variants == ["Weights sum to 1."]
    assert form.errors == {}


def test_page_forms_have_no_label_colon():
    assert _Form().label_suffix == ""
