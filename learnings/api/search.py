"""The search query and result page shapes (``GET /api/v1/learnings/``): facets, sorting,
paging; the export and meta-analysis endpoints take the same query."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from experiments.models import FunnelStage
from learnings.api.shared import AreaRefSerializer
from learnings.models import Effect, LoopStage, Outcome, Source
from learnings.search.faceted import ALL_WORDS, ANY_WORD, FACETS, NONE, SORTS, SearchFilters

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


class ExpansionSerializer(serializers.Serializer):
    term = serializers.CharField()
    also = serializers.ListField(child=serializers.CharField())


class SearchPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sort = serializers.CharField()
    match = serializers.ChoiceField(
        choices=[ALL_WORDS, ANY_WORD],
        help_text="'all': every word matched. 'any': no learning had every word, so these "
        "results have some of them (ranked by how many).",
    )
    suggestion = serializers.CharField(
        help_text="“Did you mean”: the query with its typos corrected, when the query found "
        "nothing and the correction finds something; else empty."
    )
    expansions = ExpansionSerializer(
        many=True, help_text="Query words that also matched other forms or synonyms."
    )
    results = SearchHitSerializer(many=True, source="hits")
    facets = FacetsSerializer()
