"""Writing learnings by hand (interviews, research, support trends): create, edit, delete.

Learnings from experiments are written by ``learnings.services.from_experiment``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from experiments.models import Decision, Experiment, FunnelStage
from learnings.models import (
    Effect,
    EffectDimension,
    EffectOverride,
    Learning,
    LearningKeyResult,
    LearningTag,
    LoopStage,
    ProductArea,
    Source,
)
from learnings.services.effects import REASON_REQUIRED, UNKNOWN_EFFECT
from learnings.services.search_text import learnings_search_text_refresh
from plg_platform.errors import ValidationFailed
from plg_platform.models import Workspace
from plg_platform.services.audit import audit_record

TITLE_REQUIRED = "A learning needs a title."
MANUAL_SOURCE_ONLY = "Learnings by hand come from interviews, research, support or other."
TAKEN_FROM_EXPERIMENT = "This is taken from experiment {key!r}: change it there and conclude again."
BAD_CHOICE = "{value!r} is not one of: {choices}."
BAD_URL = "Enter a valid http(s) URL."
TOO_MANY = "At most {limit} items."
BAD_TAG = "Tags are 1–50 characters."
BAD_KEY_RESULT = "Each key result needs an id (at most 64 characters) and a title."
AREA_OTHER_WORKSPACE = "No such product area in this workspace."

MAX_ATTACHMENTS = 20
MAX_TAGS = 30
MAX_KEY_RESULTS = 20
# Fields an experiment owns: read-only on its learning, refreshed whenever it is re-recorded.
EXPERIMENT_OWNED = ("hypothesis", "decision", "decision_variant", "rationale")
EDITABLE = (
    "title",
    "hypothesis",
    "learned",
    "decision",
    "decision_variant",
    "rationale",
    "funnel_stage",
    "loop_stage",
    "product_area",
    "team",
    "learned_on",
    "tags",
    "key_results",
    "attachments",
)
_url_validator = URLValidator(schemes=["http", "https"])


# --- What a learning is made of ---------------------------------------------------------------


@dataclass(frozen=True)
class KeyResultRef:
    """A key result by reference: ``outcomes.KeyResult`` id (as text) and title."""

    id: str
    title: str


@dataclass(frozen=True)
class Attachment:
    url: str
    title: str = ""


def quarter_of(day: date) -> str:
    """Return the calendar quarter of ``day``, e.g. ``2026-Q3``."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


# --- Validation of inputs ---------------------------------------------------------------------


def clean_choice(field: str, value: str, choices: Sequence[str]) -> str:
    """Return ``value`` if blank or one of ``choices``; else fail naming ``field``."""
    if value and value not in choices:
        raise ValidationFailed(
            BAD_CHOICE.format(value=value, choices=", ".join(choices)), field=field
        )
    return value


def _clean_tags(tags: Sequence[str]) -> list[str]:
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(TOO_MANY.format(limit=MAX_TAGS), field="tags")
    cleaned: list[str] = []
    for index, tag in enumerate(tags):
        name = " ".join(str(tag).split()).lower()
        if not name or len(name) > 50:
            raise ValidationFailed(BAD_TAG, field=f"tags.{index}")
        if name not in cleaned:
            cleaned.append(name)
    return cleaned


def _clean_key_results(key_results: Sequence[KeyResultRef]) -> list[KeyResultRef]:
    if len(key_results) > MAX_KEY_RESULTS:
        raise ValidationFailed(TOO_MANY.format(limit=MAX_KEY_RESULTS), field="key_results")
    cleaned: dict[str, KeyResultRef] = {}
    for index, ref in enumerate(key_results):
        ref_id, title = str(ref.id).strip(), " ".join(ref.title.split())
        if not ref_id or len(ref_id) > 64 or not title or len(title) > 300:
            raise ValidationFailed(BAD_KEY_RESULT, field=f"key_results.{index}")
        cleaned[ref_id] = KeyResultRef(id=ref_id, title=title)
    return list(cleaned.values())


def _clean_attachments(attachments: Sequence[Attachment]) -> list[dict[str, str]]:
    if len(attachments) > MAX_ATTACHMENTS:
        raise ValidationFailed(TOO_MANY.format(limit=MAX_ATTACHMENTS), field="attachments")
    cleaned = []
    for index, attachment in enumerate(attachments):
        url = attachment.url.strip()
        try:
            _url_validator(url)
        except DjangoValidationError:
            raise ValidationFailed(BAD_URL, field=f"attachments.{index}.url") from None
        cleaned.append({"url": url, "title": attachment.title.strip()[:200]})
    return cleaned


def _check_area(workspace: Workspace, area: ProductArea | None) -> None:
    if area is not None and area.workspace_id != workspace.pk:
        raise ValidationFailed(AREA_OTHER_WORKSPACE, field="product_area")


def _set_tags(learning: Learning, tags: list[str]) -> None:
    learning.tag_links.exclude(name__in=tags).delete()
    have = set(learning.tag_links.values_list("name", flat=True))
    LearningTag.objects.bulk_create(
        [LearningTag(learning=learning, name=name) for name in tags if name not in have]
    )


def _set_key_results(learning: Learning, refs: list[KeyResultRef]) -> None:
    learning.key_results.all().delete()
    LearningKeyResult.objects.bulk_create(
        [LearningKeyResult(learning=learning, key_result_id=r.id, title=r.title) for r in refs]
    )


def learning_search_text_refresh_one(learning: Learning) -> None:
    """Recompute one learning's ``search_extra`` (tags, area, key results) and reload it."""
    learnings_search_text_refresh(Learning.objects.filter(pk=learning.pk))
    learning.refresh_from_db(fields=["search_extra"])


# --- By hand ----------------------------------------------------------------------------------


@transaction.atomic
def learning_create(
    *,
    workspace: Workspace,
    actor: AbstractBaseUser | None,
    title: str,
    source: str,
    hypothesis: str = "",
    learned: str = "",
    decision: str = "",
    decision_variant: str = "",
    rationale: str = "",
    funnel_stage: str = "",
    loop_stage: str = "",
    product_area: ProductArea | None = None,
    team: str = "",
    learned_on: date | None = None,
    tags: Sequence[str] = (),
    key_results: Sequence[KeyResultRef] = (),
    attachments: Sequence[Attachment] = (),
    effects: Mapping[str, str] | None = None,
    effect_reason: str = "",
) -> Learning:
    """Add a learning by hand (not from an experiment: those come from conclusion).

    ``effects`` ({dimension: value}) are human judgements: they need ``effect_reason`` and are
    recorded as overrides, exactly as a later change would be.
    """
    title = title.strip()
    if not title:
        raise ValidationFailed(TITLE_REQUIRED, field="title")
    if source == Source.EXPERIMENT or source not in Source.values:
        raise ValidationFailed(MANUAL_SOURCE_ONLY, field="source")
    effects = {k: v for k, v in (effects or {}).items() if v}
    for dimension, value in effects.items():
        clean_choice(f"{dimension}_effect", dimension, EffectDimension.values)
        if value not in Effect.values:
            raise ValidationFailed(UNKNOWN_EFFECT, field=f"{dimension}_effect")
    if effects and not effect_reason.strip():
        raise ValidationFailed(REASON_REQUIRED, field="effect_reason")
    _check_area(workspace, product_area)
    cleaned_tags = _clean_tags(tags)
    refs = _clean_key_results(key_results)
    day = learned_on or timezone.localdate()
    learning = Learning(
        workspace=workspace,
        source=source,
        title=title,
        hypothesis=hypothesis.strip(),
        learned=learned.strip(),
        decision=clean_choice("decision", decision, Decision.values),
        decision_variant=decision_variant.strip(),
        rationale=rationale.strip(),
        funnel_stage=clean_choice("funnel_stage", funnel_stage, FunnelStage.values),
        loop_stage=clean_choice("loop_stage", loop_stage, LoopStage.values),
        product_area=product_area,
        team=team.strip(),
        attachments=_clean_attachments(attachments),
        author=actor if actor is not None and actor.is_authenticated else None,
        learned_on=day,
        quarter=quarter_of(day),
        **{f"{dimension}_effect": value for dimension, value in effects.items()},
    )
    learning.full_clean()
    learning.save()
    _set_tags(learning, cleaned_tags)
    _set_key_results(learning, refs)
    learning_search_text_refresh_one(learning)
    for dimension, value in effects.items():
        EffectOverride.objects.create(
            learning=learning,
            dimension=dimension,
            value=value,
            reason=effect_reason.strip(),
            actor=learning.author,
        )
    audit_record(
        workspace=workspace,
        actor=actor,
        action="learning.create",
        obj=learning,
        changes={"title": title, "source": source, "effects": effects},
    )
    return learning


@transaction.atomic
def learning_update(
    *, learning: Learning, actor: AbstractBaseUser | None, changes: Mapping[str, Any]
) -> Learning:
    """Change the editable fields named in ``changes``; effects change through overrides."""
    learning = Learning.objects.select_for_update().get(pk=learning.pk)
    _check_editable(learning, changes)
    scalar = _clean_scalar_changes(learning, changes)
    for name, value in scalar.items():
        setattr(learning, name, value.strip() if isinstance(value, str) else value)
    if "learned_on" in scalar:
        learning.quarter = quarter_of(learning.learned_on)
    if "attachments" in changes:
        learning.attachments = _clean_attachments(changes["attachments"])
    cleaned_tags = _clean_tags(changes["tags"]) if "tags" in changes else None
    refs = _clean_key_results(changes["key_results"]) if "key_results" in changes else None
    learning.full_clean()
    learning.save()
    if cleaned_tags is not None:
        _set_tags(learning, cleaned_tags)
    if refs is not None:
        _set_key_results(learning, refs)
    learning_search_text_refresh_one(learning)
    audit_record(
        workspace=learning.workspace,
        actor=actor,
        action="learning.update",
        obj=learning,
        changes={"fields": sorted(changes)},
    )
    return learning


def _check_editable(learning: Learning, changes: Mapping[str, Any]) -> None:
    for name in changes:
        if name not in EDITABLE:
            raise ValidationFailed(f"{name!r} cannot be changed here.", field=name)
        if name in EXPERIMENT_OWNED and learning.experiment_id is not None:
            experiment_key = Experiment.objects.values_list("key", flat=True).get(
                pk=learning.experiment_id
            )
            raise ValidationFailed(TAKEN_FROM_EXPERIMENT.format(key=experiment_key), field=name)


def _clean_scalar_changes(learning: Learning, changes: Mapping[str, Any]) -> dict[str, Any]:
    scalar = {k: v for k, v in changes.items() if k not in ("tags", "key_results", "attachments")}
    if "title" in scalar:
        scalar["title"] = scalar["title"].strip()
        if not scalar["title"]:
            raise ValidationFailed(TITLE_REQUIRED, field="title")
    for name, choices in (
        ("decision", Decision.values),
        ("funnel_stage", FunnelStage.values),
        ("loop_stage", LoopStage.values),
    ):
        if name in scalar:
            clean_choice(name, scalar[name], choices)
    if "product_area" in scalar:
        _check_area(learning.workspace, scalar["product_area"])
    return scalar


@transaction.atomic
def learning_delete(*, learning: Learning, actor: AbstractBaseUser | None) -> None:
    audit_record(
        workspace=learning.workspace,
        actor=actor,
        action="learning.delete",
        obj=learning,
        changes={"title": learning.title},
    )
    learning.delete()
