"""Creating, changing and deleting event sources.

Every name and path is checked (``validation``) and the row ``full_clean``-ed before anything
is written, so a rejected source leaves no trace; each change writes an audit record in the
same transaction (never the secret, only that it changed). The secret is stored encrypted.

A stored secret never follows a source to a new place: changing where a ClickHouse or Spark
source connects (engine, host, port, user, URL) needs the secret again, so an editor cannot
point a source at their own server and receive its password.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from metrics.models import EventSource, SourceEngine
from metrics.sources.encryption import secret_encrypt
from metrics.sources.validation import (
    API_NAMES,
    BAD_TEXT,
    CONNECTION_FIELDS,
    EVENT_FIELDS,
    EXPOSURE_FIELDS,
    NO_LOGIN_HERE,
    REQUIRED,
    TAKES_SECRET,
    check_connection,
    check_events,
    check_exposures,
)
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.models import Workspace
from plg_platform.services.audit import audit_record

Actor = AbstractBaseUser | AnonymousUser | None

NAME_TAKEN = "A source named {name!r} already exists in this workspace."
CONNECTS_ELSEWHERE = (
    "Changing where this source connects ({fields}) needs its secret again: a stored "
    "password never goes to a new place."
)
SOURCE_IN_USE = "Experiments {keys} are analysed from this source; unbind them first."
MAX_SECRET_LENGTH = 1000
# Where a source connects: changing any of these needs the secret again.
_DESTINATION = ("engine", "host", "port", "username", "url", "secure")


class _Unset:
    """No value given (``None`` means something: no exposure table)."""


UNSET: Final = _Unset()


def _signed_in(actor: Actor) -> Any:
    return actor if actor is not None and actor.is_authenticated else None


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str) or len(value.strip()) > limit:
        raise ValidationFailed(BAD_TEXT.format(max=limit), field=field)
    if required and not value.strip():
        raise ValidationFailed(REQUIRED, field=field)
    return value.strip()


def _full_clean(source: EventSource) -> None:
    try:
        source.full_clean(exclude=["secret_encrypted", "workspace"], validate_unique=False)
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise ValidationFailed(messages[0], field=API_NAMES.get(field, field)) from error


def _save(source: EventSource) -> None:
    _full_clean(source)
    taken = EventSource.objects.filter(workspace=source.workspace, name=source.name)
    if source.pk is not None:
        taken = taken.exclude(pk=source.pk)
    if taken.exists():
        raise ValidationFailed(NAME_TAKEN.format(name=source.name), field="name")
    try:
        with transaction.atomic():
            source.save()
    except IntegrityError as error:  # a concurrent create of the same name
        raise ValidationFailed(NAME_TAKEN.format(name=source.name), field="name") from error


def _secret(engine: str, secret: str) -> str:
    if not isinstance(secret, str) or len(secret) > MAX_SECRET_LENGTH:
        raise ValidationFailed(BAD_TEXT.format(max=MAX_SECRET_LENGTH), field="secret")
    if secret and engine not in TAKES_SECRET:
        label = SourceEngine(engine).label
        raise ValidationFailed(NO_LOGIN_HERE.format(engine=label), field="secret")
    return secret


def source_fields(source: EventSource) -> dict[str, Any]:
    """Everything a source says, as the audit trail and the API see it (never the secret)."""
    return {
        "name": source.name,
        "description": source.description,
        "engine": source.engine,
        "connection": source_connection(source),
        "events": source_events(source),
        "exposures": source_exposures(source),
        "has_secret": bool(source.secret_encrypted),
    }


def source_connection(source: EventSource) -> dict[str, Any]:
    return {name: getattr(source, name) for name in CONNECTION_FIELDS}


def source_events(source: EventSource) -> dict[str, Any]:
    return {api: getattr(source, model) for api, model in EVENT_FIELDS.items()}


def source_exposures(source: EventSource) -> dict[str, Any] | None:
    if not source.exposures_table:
        return None
    return {api: getattr(source, model) for api, model in EXPOSURE_FIELDS.items()}


@transaction.atomic
def source_create(
    *,
    workspace: Workspace,
    name: str,
    engine: str,
    connection: Mapping[str, Any],
    events: Mapping[str, Any],
    exposures: Mapping[str, Any] | None = None,
    secret: str = "",
    description: str = "",
    actor: Actor = None,
) -> EventSource:
    """Create a source; every name, path and setting is checked first."""
    name = _text(name, "name", 100, required=True)
    description = _text(description, "description", 2000)
    checked = check_connection(engine, connection)
    source = EventSource(
        workspace=workspace,
        name=name,
        description=description,
        engine=engine,
        **checked,
        **check_events(events),
        **check_exposures(exposures),
        secret_encrypted=secret_encrypt(_secret(engine, secret)),
        created_by=_signed_in(actor),
    )
    _save(source)
    audit_record(
        workspace=workspace,
        actor=actor,
        action="source.create",
        obj=source,
        changes=source_fields(source),
    )
    return source


def _secret_change(source: EventSource, *, before: Mapping[str, Any], secret: str | None) -> None:
    """Set a new secret, clear one the engine does not take, or refuse to keep the stored
    one when the source now connects elsewhere."""
    after = source_fields(source)
    moved = [
        name
        for name in _DESTINATION
        if (after["engine"] if name == "engine" else after["connection"][name])
        != (before["engine"] if name == "engine" else before["connection"][name])
    ]
    if secret is not None:
        source.secret_encrypted = secret_encrypt(_secret(source.engine, secret))
    elif source.engine not in TAKES_SECRET:
        source.secret_encrypted = ""
    elif moved and source.secret_encrypted:
        raise ValidationFailed(CONNECTS_ELSEWHERE.format(fields=", ".join(moved)), field="secret")


def _apply_mappings(
    source: EventSource,
    *,
    events: Mapping[str, Any] | None,
    exposures: Mapping[str, Any] | None | _Unset,
) -> None:
    """Set the keys given of the event and exposure mappings, checked."""
    if events is not None:
        if not isinstance(events, Mapping):
            raise ValidationFailed("Give the event table's mapping as an object.", field="events")
        merged_events = {**source_events(source), **events}
        for field, value in check_events(merged_events).items():
            setattr(source, field, value)
    if not isinstance(exposures, _Unset):
        if exposures is not None:
            if not isinstance(exposures, Mapping):
                raise ValidationFailed(
                    "Give the exposure table's mapping as an object.", field="exposures"
                )
            exposures = {**(source_exposures(source) or {}), **exposures}
        for field, value in check_exposures(exposures).items():
            setattr(source, field, value)


@transaction.atomic
def source_update(
    *,
    source: EventSource,
    actor: Actor = None,
    name: str | None = None,
    description: str | None = None,
    engine: str | None = None,
    connection: Mapping[str, Any] | None = None,
    events: Mapping[str, Any] | None = None,
    exposures: Mapping[str, Any] | None | _Unset = UNSET,
    secret: str | None = None,
) -> EventSource:
    """Change a source. ``connection``, ``events`` and ``exposures`` change the keys they give
    (``exposures`` None: no exposure table any more); ``secret`` '' clears it, None keeps it."""
    source = EventSource.objects.select_for_update().get(pk=source.pk)
    before = source_fields(source)
    if name is not None:
        source.name = _text(name, "name", 100, required=True)
    if description is not None:
        source.description = _text(description, "description", 2000)
    new_engine = engine if engine is not None else source.engine
    if engine is not None or connection is not None:
        merged = {**source_connection(source), **(connection or {})}
        for field, value in check_connection(new_engine, merged).items():
            setattr(source, field, value)
        source.engine = new_engine
    _apply_mappings(source, events=events, exposures=exposures)
    _secret_change(source, before=before, secret=secret)
    after = source_fields(source)
    changes: dict[str, Any] = {
        k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]
    }
    if secret:
        changes["secret"] = "changed"  # noqa: S105  (that it changed, never the value)
    if not changes:
        return source
    _save(source)
    audit_record(
        workspace=source.workspace, actor=actor, action="source.update", obj=source, changes=changes
    )
    return source


@transaction.atomic
def source_delete(*, source: EventSource, actor: Actor = None) -> None:
    """Delete a source no experiment is analysed from (409 naming them otherwise)."""
    keys = list(source.experiments.order_by("key").values_list("key", flat=True)[:10])
    if keys:
        raise Conflict(SOURCE_IN_USE.format(keys=", ".join(keys)), field="source")
    audit_record(
        workspace=source.workspace,
        actor=actor,
        action="source.delete",
        obj=source,
        changes=source_fields(source),
    )
    source.delete()
