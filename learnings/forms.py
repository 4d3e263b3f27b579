"""Forms of the learnings pages: search, a learning by hand and its edits, effect overrides,
the product-area taxonomy, the meta-analysis options, "tried before?" and concluding an
experiment.

They check the input's shape and turn the page's text into the services' values (tags typed
as "a, b", attachments one per line); the rules stay in ``learnings.services`` and
``experiments.services.lifecycle``, whose errors the views show beside the field they name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.http import QueryDict

from experiments.models import Decision, FunnelStage
from learnings.models import Effect, LoopStage, ProductArea, Source
from learnings.search.faceted import SORTS
from learnings.search.facets import FACETS, NONE, SearchFilters
from learnings.services.from_experiment import LEARNED_MAX_CHARS
from learnings.services.learnings import Attachment
from plg_platform.web.forms import PageForm

MANUAL_SOURCES = [(value, label) for value, label in Source.choices if value != Source.EXPERIMENT]
# Facets whose values are a fixed set; a value outside it is dropped from the search.
FACET_CHOICES: dict[str, set[str]] = {
    "funnel_stage": set(FunnelStage.values),
    "loop_stage": set(LoopStage.values),
    "acquisition_effect": set(Effect.values),
    "retention_effect": set(Effect.values),
    "outcome": {"win", "loss", "flat", "inconclusive"},
    "source": set(Source.values),
}
MAX_FACET_VALUE = 300
SORT_LABELS = {"relevance": "Best match", "date": "Newest first", "impact": "Largest impact"}
BAD_ATTACHMENT_LINE = "Line {line}: start with the link (http:// or https://)."


def search_filters(data: QueryDict) -> SearchFilters:
    """The facet values selected in a query string (repeated parameters, ``none`` for blank).

    Values a facet cannot take are left out rather than refused: a search page should still
    answer a stale or hand-edited link.
    """
    selected: dict[str, tuple[str, ...]] = {}
    for facet in FACETS:
        values = []
        for value in data.getlist(facet):
            value = value.strip()
            if not value or len(value) > MAX_FACET_VALUE or value in values:
                continue
            if facet in FACET_CHOICES and value != NONE and value not in FACET_CHOICES[facet]:
                continue
            if facet == "product_area" and value != NONE and not value.isdigit():
                continue
            values.append(value)
        selected[facet] = tuple(values)
    return SearchFilters(**selected)


class LearningSearchForm(PageForm):
    q = forms.CharField(
        required=False,
        max_length=500,
        label="Search learnings",
        help_text='All words must match (else any, best first); "a phrase", or, -exclude.',
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "e.g. onboarding checklist"}
        ),
    )
    sort = forms.ChoiceField(
        required=False,
        label="Sort by",
        choices=[("", "Default"), *((s, SORT_LABELS[s]) for s in SORTS)],
        help_text="Default: best match for words, newest otherwise.",
    )


def area_choices(areas: Iterable[ProductArea], *, blank: str = "No area") -> list[tuple[str, str]]:
    """Areas as select options in path order, sub-areas indented under their parent."""
    options = [("", blank)]
    for area in areas:
        depth = area.id_path.count("/") - 2
        options.append((str(area.pk), "\u2003" * depth + area.name))
    return options


def parse_tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


class LearningEditForm(PageForm):
    """What anyone may change on a learning (effects change through overrides, with a reason)."""

    title = forms.CharField(max_length=300, label="Title")
    learned = forms.CharField(
        required=False,
        label="What we learned",
        help_text="In a sentence or two, for someone who was not there.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    tags = forms.CharField(
        required=False,
        max_length=1600,
        label="Tags",
        help_text="Separated by commas, e.g. onboarding, checklist.",
    )
    product_area = forms.ChoiceField(required=False, label="Product area")
    funnel_stage = forms.ChoiceField(
        required=False, choices=[("", "—"), *FunnelStage.choices], label="Funnel stage"
    )
    loop_stage = forms.ChoiceField(
        required=False, choices=[("", "—"), *LoopStage.choices], label="Loop stage"
    )
    team = forms.CharField(max_length=100, required=False, label="Team")
    attachments = forms.CharField(
        required=False,
        label="Attachments",
        help_text="One per line: the link, then optionally a title "
        "(https://example.com/deck.pdf Research deck).",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, areas: Sequence[ProductArea] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.areas = {str(area.pk): area for area in areas}
        self.fields["product_area"].choices = area_choices(areas)

    def clean_attachments(self) -> list[Attachment]:
        attachments = []
        for number, line in enumerate(self.cleaned_data["attachments"].splitlines(), start=1):
            if not line.strip():
                continue
            url, _, title = line.strip().partition(" ")
            if not url.startswith(("http://", "https://")):
                raise forms.ValidationError(BAD_ATTACHMENT_LINE.format(line=number))
            attachments.append(Attachment(url=url, title=title.strip()))
        return attachments

    def changes(self) -> dict[str, Any]:
        """The services' ``changes``: every field of the form, as values."""
        data = self.cleaned_data
        return {
            "title": data["title"],
            "learned": data["learned"],
            "tags": parse_tags(data["tags"]),
            "product_area": self.areas.get(data["product_area"]),
            "funnel_stage": data["funnel_stage"],
            "loop_stage": data["loop_stage"],
            "team": data["team"],
            "attachments": data["attachments"],
        }

    @staticmethod
    def initial_for(learning: Any) -> dict[str, Any]:
        return {
            "title": learning.title,
            "learned": learning.learned,
            "tags": ", ".join(tag.name for tag in learning.tag_links.all()),
            "product_area": str(learning.product_area_id or ""),
            "funnel_stage": learning.funnel_stage,
            "loop_stage": learning.loop_stage,
            "team": learning.team,
            "attachments": "\n".join(
                f"{a['url']} {a.get('title', '')}".strip() for a in learning.attachments
            ),
        }


EFFECT_CHOICES = [("", "Not judged"), *Effect.choices]


class LearningCreateForm(LearningEditForm):
    """A learning from elsewhere than an experiment: interviews, research, support trends."""

    source = forms.ChoiceField(choices=MANUAL_SOURCES, label="Where it comes from")
    learned_on = forms.DateField(
        required=False,
        label="Learned on",
        help_text="Leave empty for today.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    hypothesis = forms.CharField(
        required=False,
        label="What we believed before",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    acquisition_effect = forms.ChoiceField(
        required=False, choices=EFFECT_CHOICES, label="Effect on acquisition"
    )
    retention_effect = forms.ChoiceField(
        required=False, choices=EFFECT_CHOICES, label="Effect on retention"
    )
    effect_reason = forms.CharField(
        required=False,
        label="Why these effects?",
        help_text="Needed when you judge an effect: they are recorded as human judgements.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    field_order = [
        "title",
        "source",
        "learned_on",
        "hypothesis",
        "learned",
        "product_area",
        "funnel_stage",
        "loop_stage",
        "team",
        "tags",
        "attachments",
        "acquisition_effect",
        "retention_effect",
        "effect_reason",
    ]

    def values(self) -> dict[str, Any]:
        """Keyword arguments of ``learning_create`` (beyond workspace and actor)."""
        data = self.cleaned_data
        values = self.changes()
        values.update(
            source=data["source"],
            learned_on=data["learned_on"],
            hypothesis=data["hypothesis"],
            effects={
                "acquisition": data["acquisition_effect"],
                "retention": data["retention_effect"],
            },
            effect_reason=data["effect_reason"],
        )
        return values


class EffectOverrideForm(PageForm):
    """Set an effect tag by hand; the reason is checked by the service (its message shows)."""

    value = forms.ChoiceField(
        required=False,
        choices=[("", "Automatic (from the analysis)"), *Effect.choices],
        label="Effect",
    )
    reason = forms.CharField(
        required=False,
        label="Reason",
        help_text="Required: why the automatic tag is wrong, for whoever reads this later.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AreaCreateForm(PageForm):
    name = forms.CharField(max_length=200, label="Name")
    parent = forms.ChoiceField(required=False, label="Under")

    def __init__(self, *args: Any, areas: Sequence[ProductArea] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.areas = {str(area.pk): area for area in areas}
        self.fields["parent"].choices = area_choices(areas, blank="(top level)")


class AreaRenameForm(PageForm):
    name = forms.CharField(max_length=200, label="New name")


class AreaMergeForm(PageForm):
    into = forms.ChoiceField(label="Merge into")

    def __init__(
        self, *args: Any, area: ProductArea, areas: Sequence[ProductArea] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        # Not into itself or its own sub-areas (the service refuses those too).
        targets = [a for a in areas if not a.id_path.startswith(area.id_path)]
        self.targets = {str(a.pk): a for a in targets}
        self.fields["into"].choices = area_choices(targets, blank="Choose an area…")


class MetaAnalysisForm(PageForm):
    group_by = forms.ChoiceField(
        required=False,
        label="Group by",
        choices=[
            ("product_area", "Product area"),
            ("funnel_stage", "Funnel stage"),
            ("team", "Team"),
            ("quarter", "Quarter"),
        ],
    )
    method = forms.ChoiceField(
        required=False,
        label="Shrinkage",
        choices=[
            ("empirical_bayes", "Empirical Bayes (normal–normal)"),
            ("james_stein", "Positive-part James–Stein"),
        ],
    )


class TriedBeforeForm(forms.Form):
    """The parts of a draft the "tried before?" panel reads (all optional)."""

    hypothesis_change = forms.CharField(required=False, max_length=2000)
    hypothesis_audience = forms.CharField(required=False, max_length=2000)
    hypothesis_outcome = forms.CharField(required=False, max_length=2000)
    hypothesis_evidence = forms.CharField(required=False, max_length=2000)
    product_area = forms.CharField(required=False, max_length=200)
    key = forms.CharField(required=False, max_length=100)

    def draft_text(self) -> str:
        """The draft's words (the template's "we believe… for… will… because" left out: every
        hypothesis has them, so they say nothing about which ones are alike)."""
        data = self.cleaned_data
        parts = ("change", "audience", "outcome", "evidence")
        return " ".join(data[f"hypothesis_{part}"] for part in parts).strip()


class ConcludeForm(PageForm):
    """The decision on an experiment; the rules (rationale, variant to ship) are the
    lifecycle service's, and its messages show beside these fields."""

    decision = forms.ChoiceField(
        required=False,
        choices=Decision.choices,
        widget=forms.RadioSelect,
        label="Decision",
    )
    variant = forms.ChoiceField(required=False, label="Variant to ship")
    rationale = forms.CharField(
        required=False,
        label="Rationale",
        help_text="Why you decided this: the numbers, the guardrails, what else you weighed.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    learned = forms.CharField(
        required=False,
        max_length=LEARNED_MAX_CHARS,
        label="What we learned",
        help_text="The insight a teammate should find in a year: what this says about our users "
        "or product, not only the numbers. It starts as the primary metric's verdict.",
        widget=forms.Textarea(attrs={"rows": 4}),
    )

    def __init__(
        self,
        *args: Any,
        variants: Sequence[tuple[str, str]] = (),
        verdict: str = "",
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.fields["variant"].choices = [("", "Choose a variant…"), *variants]
        if len(variants) == 1:
            self.fields["variant"].initial = variants[0][0]
        self.fields["learned"].initial = verdict


class SynonymsForm(PageForm):
    """The workspace's search synonyms as text: one group a line, words separated by commas."""

    synonyms = forms.CharField(
        required=False,
        label="Synonym groups",
        help_text="One group a line, e.g. “annual, yearly”. A search for any word of a group "
        "also finds the others. Hyphens need no synonym: “sign-up” already finds “signup”.",
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
    )
