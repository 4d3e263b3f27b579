"""Input and output shapes of the learnings API. Rules live in the services, not here."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from experiments.models import Decision, FunnelStage
from learnings.models import Effect, EffectDimension, Learning, LoopStage, Outcome, Source
from learnings.search.faceted import FACETS, NONE, SORTS, SearchFilters
from learnings.selectors import GROUP_BY
from learnings.services.effects import effect_override_current
from plg_platform.api.base import StrictSerializer

MANUAL_SOURCES = [(value, label) for value, label in Source.choices if value != Source.EXPERIMENT]
FACET_CHOICES: dict[str, list[str]] = {
    "funnel_stage": FunnelStage.values,
    "loop_stage": LoopStage.values,
    "acquisition_effect": Effect.values,
    "retention_effect": Effect.values,
    "outcome": Outcome.values,
    "source": Source.values,
}
BAD_FACET_VALUE = "{value!r} is not one of: {choices}."
BAD_AREA_ID = "Product areas are given by id (or 'none')."


# --- Inputs -----------------------------------------------------------------------------------


class KeyResultRefSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=300)


class EffectInputSerializer(serializers.Serializer):
    dimension = serializers.ChoiceField(choices=EffectDimension.choices)
    value = serializers.ChoiceField(choices=Effect.choices)


class AttachmentSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class LearningInputSerializer(StrictSerializer):
    """A learning added by hand. Experiment learnings come from concluding the experiment."""

    title = serializers.CharField(max_length=300)
    source = serializers.ChoiceField(choices=MANUAL_SOURCES)
    hypothesis = serializers.CharField(required=False, allow_blank=True, default="")
    learned = serializers.CharField(required=False, allow_blank=True, default="")
    decision = serializers.ChoiceField(
        choices=Decision.choices, required=False, allow_blank=True, default=""
    )
    decision_variant = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    rationale = serializers.CharField(required=False, allow_blank=True, default="")
    funnel_stage = serializers.ChoiceField(
        choices=FunnelStage.choices, required=False, allow_blank=True, default=""
    )
    loop_stage = serializers.ChoiceField(
        choices=LoopStage.choices, required=False, allow_blank=True, default=""
    )
    product_area = serializers.IntegerField(required=False, allow_null=True, default=None)
    team = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    learned_on = serializers.DateField(required=False, allow_null=True, default=None)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, default=list, max_length=30
    )
    key_results = KeyResultRefSerializer(many=True, required=False, default=list)
    attachments = AttachmentSerializer(many=True, required=False, default=list)
    effects = EffectInputSerializer(
        many=True,
        required=False,
        default=list,
        help_text="Effect tags judged by hand; they need effect_reason, kept as overrides.",
    )
    effect_reason = serializers.CharField(required=False, allow_blank=True, default="")


class LearningUpdateSerializer(StrictSerializer):
    """Fields a PATCH may change; effects change through ``/effects`` with a reason."""

    title = serializers.CharField(max_length=300, required=False)
    hypothesis = serializers.CharField(required=False, allow_blank=True)
    learned = serializers.CharField(required=False, allow_blank=True)
    decision = serializers.ChoiceField(choices=Decision.choices, required=False, allow_blank=True)
    decision_variant = serializers.CharField(max_length=100, required=False, allow_blank=True)
    rationale = serializers.CharField(required=False, allow_blank=True)
    funnel_stage = serializers.ChoiceField(
        choices=FunnelStage.choices, required=False, allow_blank=True
    )
    loop_stage = serializers.ChoiceField(
        choices=LoopStage.choices, required=False, allow_blank=True
    )
    product_area = serializers.IntegerField(required=False, allow_null=True)
    team = serializers.CharField(max_length=100, required=False, allow_blank=True)
    learned_on = serializers.DateField(required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=30
    )
    key_results = KeyResultRefSerializer(many=True, required=False)
    attachments = AttachmentSerializer(many=True, required=False)


class EffectOverrideInputSerializer(StrictSerializer):
    dimension = serializers.ChoiceField(choices=EffectDimension.choices)
    value = serializers.ChoiceField(
        choices=Effect.choices,
        allow_blank=True,
        help_text="The effect to set; empty hands the tag back to the automatic derivation.",
    )
    reason = serializers.CharField(help_text="Why the automatic tag is wrong. Required.")


class FromExperimentInputSerializer(StrictSerializer):
    experiment = serializers.SlugField(max_length=100, help_text="The concluded experiment's key.")


class SearchQuerySerializer(serializers.Serializer):
    """Search parameters; each facet takes repeated values (``?funnel_stage=a&funnel_stage=b``)
    and ``none`` selects learnings with that tag blank."""

    q = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)
    sort = serializers.ChoiceField(choices=SORTS, required=False, allow_null=True, default=None)
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=100)
    offset = serializers.IntegerField(required=False, default=0, min_value=0)
    funnel_stage = serializers.ListField(child=serializers.CharField(), required=False)
    loop_stage = serializers.ListField(child=serializers.CharField(), required=False)
    acquisition_effect = serializers.ListField(child=serializers.CharField(), required=False)
    retention_effect = serializers.ListField(child=serializers.CharField(), required=False)
    product_area = serializers.ListField(child=serializers.CharField(), required=False)
    outcome = serializers.ListField(child=serializers.CharField(), required=False)
    team = serializers.ListField(child=serializers.CharField(), required=False)
    quarter = serializers.ListField(child=serializers.CharField(), required=False)
    key_result = serializers.ListField(child=serializers.CharField(), required=False)
    tag = serializers.ListField(child=serializers.CharField(), required=False)
    source = serializers.ListField(child=serializers.CharField(), required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors = {}
        for facet, choices in FACET_CHOICES.items():
            for value in attrs.get(facet, []):
                if value != NONE and value not in choices:
                    errors[facet] = [
                        BAD_FACET_VALUE.format(value=value, choices=", ".join([*choices, NONE]))
                    ]
        if any(v != NONE and not v.isdigit() for v in attrs.get("product_area", [])):
            errors["product_area"] = [BAD_AREA_ID]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def filters(self) -> SearchFilters:
        data = self.validated_data
        return SearchFilters(**{facet: tuple(data.get(facet, ())) for facet in FACETS})


class ExportQuerySerializer(SearchQuerySerializer):
    limit = None
    offset = None
    sort = None


class SimilarQuerySerializer(serializers.Serializer):
    hypothesis = serializers.CharField(max_length=2000)
    product_area = serializers.IntegerField(required=False, allow_null=True, default=None)
    limit = serializers.IntegerField(required=False, default=5, min_value=1, max_value=20)
    exclude_experiment = serializers.SlugField(
        required=False, allow_blank=True, default="", help_text="Leave out this experiment's own."
    )


class MetaAnalysisQuerySerializer(SearchQuerySerializer):
    limit = None
    offset = None
    sort = None
    group_by = serializers.ChoiceField(choices=GROUP_BY, required=False, default="product_area")
    method = serializers.ChoiceField(
        choices=["empirical_bayes", "james_stein"], required=False, default="empirical_bayes"
    )


class AreaInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100)
    parent = serializers.IntegerField(required=False, allow_null=True, default=None)


class AreaUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    parent = serializers.IntegerField(
        required=False, allow_null=True, help_text="Move under this area; null moves to the top."
    )


class AreaMergeSerializer(StrictSerializer):
    into = serializers.IntegerField(help_text="The area that takes over the learnings.")


# --- Outputs ----------------------------------------------------------------------------------


class AreaRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    path = serializers.CharField()


class AreaOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    path = serializers.CharField()
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    depth = serializers.SerializerMethodField()

    def get_depth(self, area) -> int:
        return area.id_path.count("/") - 2


class ExperimentRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()


class EffectOutputSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="In force: the override, else the derived value.")
    derived = serializers.CharField(help_text="From the analysis; empty when not measured.")
    overridden = serializers.BooleanField()
    override_reason = serializers.CharField(allow_blank=True)
    comparisons = serializers.ListField(child=serializers.DictField())


class EffectsOutputSerializer(serializers.Serializer):
    acquisition = EffectOutputSerializer()
    retention = EffectOutputSerializer()


class _TagsMixin(serializers.Serializer):
    product_area = AreaRefSerializer(allow_null=True)
    tags = serializers.SerializerMethodField()

    def get_tags(self, learning: Learning) -> list[str]:
        return [tag.name for tag in learning.tag_links.all()]


class LearningOutputSerializer(_TagsMixin):
    id = serializers.IntegerField()
    title = serializers.CharField()
    source = serializers.CharField()
    hypothesis = serializers.CharField()
    learned = serializers.CharField()
    decision = serializers.CharField()
    decision_variant = serializers.CharField()
    rationale = serializers.CharField()
    experiment = ExperimentRefSerializer(allow_null=True)
    result_snapshot_id = serializers.IntegerField(allow_null=True)
    primary_result = serializers.DictField()
    guardrail_results = serializers.ListField(child=serializers.DictField())
    outcome = serializers.CharField()
    impact = serializers.FloatField(allow_null=True)
    impact_se = serializers.FloatField(allow_null=True)
    funnel_stage = serializers.CharField()
    loop_stage = serializers.CharField()
    effects = serializers.SerializerMethodField()
    team = serializers.CharField()
    key_results = serializers.SerializerMethodField()
    attachments = serializers.ListField(child=serializers.DictField())
    author = serializers.SerializerMethodField()
    learned_on = serializers.DateField()
    quarter = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @staticmethod
    def _effect(learning: Learning, dimension: str) -> dict[str, Any]:
        evidence = learning.effect_evidence.get(dimension, {})
        override = effect_override_current(learning=learning, dimension=dimension)
        return {
            "value": getattr(learning, f"{dimension}_effect"),
            "derived": evidence.get("derived", ""),
            "overridden": override is not None,
            "override_reason": override.reason if override else "",
            "comparisons": evidence.get("comparisons", []),
        }

    @extend_schema_field(EffectsOutputSerializer)
    def get_effects(self, learning: Learning) -> dict[str, Any]:
        return {d: self._effect(learning, d) for d in EffectDimension.values}

    @extend_schema_field(KeyResultRefSerializer(many=True))
    def get_key_results(self, learning: Learning) -> list[dict[str, str]]:
        return [{"id": k.key_result_id, "title": k.title} for k in learning.key_results.all()]

    def get_author(self, learning: Learning) -> str | None:
        return learning.author.get_username() if learning.author else None


class EffectOverrideOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    dimension = serializers.CharField()
    previous = serializers.CharField()
    value = serializers.CharField()
    reason = serializers.CharField()
    actor = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_actor(self, override) -> str | None:
        return override.actor.get_username() if override.actor else None


class SearchHitSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="learning.pk")
    title = serializers.CharField(source="learning.title")
    title_html = serializers.CharField(help_text="HTML-escaped, matches in <mark>.")
    snippet_html = serializers.CharField(help_text="HTML-escaped, matches in <mark>.")
    rank = serializers.FloatField(allow_null=True)
    source = serializers.CharField(source="learning.source")
    outcome = serializers.CharField(source="learning.outcome")
    impact = serializers.FloatField(source="learning.impact", allow_null=True)
    decision = serializers.CharField(source="learning.decision")
    funnel_stage = serializers.CharField(source="learning.funnel_stage")
    loop_stage = serializers.CharField(source="learning.loop_stage")
    acquisition_effect = serializers.CharField(source="learning.acquisition_effect")
    retention_effect = serializers.CharField(source="learning.retention_effect")
    product_area = AreaRefSerializer(source="learning.product_area", allow_null=True)
    team = serializers.CharField(source="learning.team")
    quarter = serializers.CharField(source="learning.quarter")
    learned_on = serializers.DateField(source="learning.learned_on")
    experiment = serializers.CharField(source="learning.experiment.key", allow_null=True)
    tags = serializers.SerializerMethodField()

    def get_tags(self, hit) -> list[str]:
        return [tag.name for tag in hit.learning.tag_links.all()]


class FacetValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    selected = serializers.BooleanField()
    depth = serializers.IntegerField()
    parent = serializers.CharField(allow_null=True)


class FacetsSerializer(serializers.Serializer):
    def get_fields(self):
        return {name: FacetValueSerializer(many=True) for name in FACETS}


class SearchPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sort = serializers.CharField()
    results = SearchHitSerializer(many=True, source="hits")
    facets = FacetsSerializer()


class SimilarOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="learning.pk")
    title = serializers.CharField(source="learning.title")
    score = serializers.FloatField(help_text="Text similarity plus the product-area bonus.")
    text_score = serializers.FloatField(help_text="TF-IDF cosine, 0–1.")
    area_match = serializers.CharField(help_text="same, related (parent or sub-area) or empty.")
    outcome = serializers.CharField(source="learning.outcome")
    impact = serializers.FloatField(source="learning.impact", allow_null=True)
    decision = serializers.CharField(source="learning.decision")
    product_area = AreaRefSerializer(source="learning.product_area", allow_null=True)
    learned_on = serializers.DateField(source="learning.learned_on")
    learned = serializers.CharField(source="learning.learned")


class GroupStatsSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    experiments = serializers.IntegerField()
    wins = serializers.IntegerField()
    losses = serializers.IntegerField()
    flat = serializers.IntegerField()
    inconclusive = serializers.IntegerField()
    win_rate = serializers.FloatField(allow_null=True)
    shipped = serializers.IntegerField()
    with_impact = serializers.IntegerField()
    average_impact = serializers.FloatField(allow_null=True, help_text="Raw mean lift.")
    average_impact_shrunk = serializers.FloatField(allow_null=True)
    cumulative_impact = serializers.FloatField(help_text="Σ lift of shipped experiments, raw.")
    cumulative_impact_shrunk = serializers.FloatField()
    retention_measured = serializers.IntegerField()
    retention_moved = serializers.IntegerField()
    retention_positive = serializers.IntegerField()
    retention_moved_rate = serializers.FloatField(allow_null=True)


class ShrinkageSerializer(serializers.Serializer):
    method = serializers.CharField()
    method_name = serializers.CharField()
    experiments_used = serializers.SerializerMethodField()
    prior_mean = serializers.FloatField(allow_null=True)
    tau2 = serializers.FloatField(allow_null=True)
    message = serializers.CharField()

    def get_experiments_used(self, shrinkage) -> int:
        return len(shrinkage.raw) if shrinkage.method != "none" else 0


class MetaAnalysisSerializer(serializers.Serializer):
    group_by = serializers.CharField()
    shrinkage = ShrinkageSerializer()
    estimates_without_se = serializers.IntegerField()
    notes = serializers.ListField(child=serializers.CharField())
    total = GroupStatsSerializer()
    groups = GroupStatsSerializer(many=True)
