"""What an analysis outputs, as typed, frozen values: the one shape every reader uses.

A ``ResultSnapshot`` stores its outputs and health checks as JSON. The analysis builds these
values, stores ``to_json()`` of them, and every reader (the results page and API, alerts,
learnings) reads them back with ``from_json``, by attribute, never by string key. ``from_json``
accepts snapshots stored before a field existed (the field takes its "not known" default), so
old snapshots keep loading; ``to_json`` writes exactly the keys stored before these classes.

``ResultSummary`` and ``ComparisonSummary`` are the condensed, overall-only view that other apps
(learnings, the key-result pages of outcomes) read through ``experiments.selectors``.

Nothing here imports Django: these are plain values. The module is longer than most (about
760 lines, with the quantile and funnel fields) on purpose: it is the whole stored shape of a
snapshot in one place, small classes with their JSON mapping side by side, which a reader
checks against stored data at a glance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

OK = "ok"
INCONCLUSIVE = "inconclusive"


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


# --- Comparisons and metrics -------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentRef:
    """The segment a breakdown row belongs to: one value of one property."""

    property: str
    value: str

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SegmentRef | None:
        return None if data is None else cls(property=data["property"], value=str(data["value"]))

    def to_json(self) -> dict[str, str]:
        return {"property": self.property, "value": self.value}


@dataclass(frozen=True)
class FunnelStepChange:
    """A treatment variant's change in one step's conversion against the control: the
    difference in proportion points with its two-sided interval and p-value (Wald, not
    corrected for the number of steps; ``experiments/stats/funnels.py``). ``None`` each where
    there is no number (no unit at the step's denominator in an arm, or no variance)."""

    difference: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float
    p_value: float | None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> FunnelStepChange | None:
        if data is None:
            return None
        return cls(
            difference=_float(data.get("difference")),
            ci_low=_float(data.get("ci_low")),
            ci_high=_float(data.get("ci_high")),
            ci_level=float(data.get("ci_level", 0.95)),
            p_value=_float(data.get("p_value")),
        )


@dataclass(frozen=True)
class FunnelStepResult:
    """One step of a funnel in one variant: matured units that reached it, the conversion from
    the step before (the first step's: from every matured unit) and from every matured unit.

    A treatment variant's steps also carry the change of each conversion against the control
    (``conversion_change``, ``overall_change``); the control's, and snapshots stored before
    these existed, have ``None`` (and no such keys in JSON)."""

    name: str
    event: str
    units: int
    conversion: float | None
    overall: float | None
    conversion_change: FunnelStepChange | None = None
    overall_change: FunnelStepChange | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FunnelStepResult:
        return cls(
            name=data["name"],
            event=data.get("event", data["name"]),
            units=int(data["units"]),
            conversion=_float(data.get("conversion")),
            overall=_float(data.get("overall")),
            conversion_change=FunnelStepChange.from_json(data.get("conversion_change")),
            overall_change=FunnelStepChange.from_json(data.get("overall_change")),
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("conversion_change", "overall_change"):
            if out[key] is None:
                del out[key]
        return out


@dataclass(frozen=True)
class VariantResult:
    """One variant's population and value on one metric.

    ``never_reached_share`` exists only for time-to-event metrics (``tracks_reaching``): the
    share of units that never reached the event within the window. ``steps`` only for funnels
    (the value is then the whole funnel's conversion: the last step's ``overall``).
    """

    variant: str
    units: int
    immature_units: int
    n: int
    value: float | None
    never_reached_share: float | None = None
    tracks_reaching: bool = False
    steps: tuple[FunnelStepResult, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VariantResult:
        return cls(
            variant=data["variant"],
            units=int(data.get("units", 0)),
            immature_units=int(data.get("immature_units", 0)),
            n=int(data.get("n", 0)),
            value=_float(data.get("value")),
            never_reached_share=_float(data.get("never_reached_share")),
            tracks_reaching="never_reached_share" in data,
            steps=tuple(FunnelStepResult.from_json(step) for step in data.get("steps", ())),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "variant": self.variant,
            "units": self.units,
            "immature_units": self.immature_units,
            "n": self.n,
            "value": self.value,
        }
        if self.tracks_reaching:
            out["never_reached_share"] = self.never_reached_share
        if self.steps:
            out["steps"] = [step.to_json() for step in self.steps]
        return out


@dataclass(frozen=True)
class ComparisonResult:
    """One treatment variant against the control on one metric (or one segment of it).

    ``effect`` and its interval are the relative lift; ``absolute_*`` the absolute difference.
    Frequentist results fill ``p_value``, Bayesian ones ``chance_to_win`` and ``risk``.
    """

    variant: str
    status: str = OK
    message: str = ""
    effect: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_level: float | None = None
    p_value: float | None = None
    p_value_unadjusted: float | None = None
    chance_to_win: float | None = None
    risk: float | None = None
    standard_error: float | None = None
    absolute_effect: float | None = None
    absolute_ci_low: float | None = None
    absolute_ci_high: float | None = None
    control_mean: float | None = None
    variant_mean: float | None = None
    variance_reduction: float | None = None
    significant: bool = False
    verdict: str = INCONCLUSIVE  # win | loss | flat | inconclusive
    summary: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ComparisonResult:
        numbers = {
            name: _float(data.get(name))
            for name in _COMPARISON_NUMBERS
            if name in data  # absent from older snapshots: keep the default (None)
        }
        return cls(
            variant=data["variant"],
            status=data.get("status", OK),
            message=data.get("message", ""),
            significant=bool(data.get("significant", False)),
            verdict=data.get("verdict", INCONCLUSIVE),
            summary=data.get("summary", ""),
            **numbers,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_COMPARISON_NUMBERS = (
    "effect",
    "ci_low",
    "ci_high",
    "ci_level",
    "p_value",
    "p_value_unadjusted",
    "chance_to_win",
    "risk",
    "standard_error",
    "absolute_effect",
    "absolute_ci_low",
    "absolute_ci_high",
    "control_mean",
    "variant_mean",
    "variance_reduction",
)


@dataclass(frozen=True)
class MetricResult:
    """Every comparison on one metric, overall or in one segment, with its summary."""

    key: str
    name: str
    type: str  # the metric's definition type (conversion, count, time_to_event, ...)
    metric_type: str  # the engine's: proportion | mean | ratio
    role: str  # primary | secondary | guardrail
    tags: tuple[str, ...]
    direction: str  # up: higher is better; down: lower is
    segment: SegmentRef | None
    variants: tuple[VariantResult, ...]
    comparisons: tuple[ComparisonResult, ...]
    summary: str = ""
    quantile: float | None = None  # quantile metrics: the level (0.9 for p90)
    quantile_of: str = ""  # quantile metrics: "unit" or "event"

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "up"

    @property
    def display_name(self) -> str:
        """What a sentence calls the metric: its name, or "the p90 of <name>" for a quantile."""
        if self.quantile is not None:
            return f"the p{self.quantile * 100:g} of {self.name}"
        return self.name

    @property
    def value_label(self) -> str:
        """What a variant's value is: "Conversion rate", "Mean", or "p90" for a quantile."""
        if self.quantile is not None:
            return f"p{self.quantile * 100:g}" + (
                " per event" if self.quantile_of == "event" else ""
            )
        return "Conversion rate" if self.metric_type == "proportion" else "Mean"

    @property
    def smallest_n(self) -> int:
        """Units with a value in the smallest variant (0 without variants)."""
        return min((v.n for v in self.variants), default=0)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MetricResult:
        return cls(
            key=data["key"],
            name=data.get("name", data["key"]),
            type=data.get("type", ""),
            metric_type=data.get("metric_type", ""),
            role=data.get("role", ""),
            tags=tuple(data.get("tags", ())),
            direction=data.get("direction", "up"),
            segment=SegmentRef.from_json(data.get("segment")),
            variants=tuple(VariantResult.from_json(v) for v in data.get("variants", ())),
            comparisons=tuple(ComparisonResult.from_json(c) for c in data.get("comparisons", ())),
            summary=data.get("summary", ""),
            quantile=_float(data.get("quantile")),
            quantile_of=data.get("quantile_of", ""),
        )

    def to_json(self) -> dict[str, Any]:
        # Only quantile metrics store their level, so other results keep their stored shape.
        quantile = (
            {"quantile": self.quantile, "quantile_of": self.quantile_of}
            if self.quantile is not None
            else {}
        )
        return {
            "key": self.key,
            "name": self.name,
            "type": self.type,
            "metric_type": self.metric_type,
            "role": self.role,
            "tags": list(self.tags),
            "direction": self.direction,
            "segment": self.segment.to_json() if self.segment is not None else None,
            "variants": [v.to_json() for v in self.variants],
            "comparisons": [c.to_json() for c in self.comparisons],
            "summary": self.summary,
            **quantile,
        }


@dataclass(frozen=True)
class SkippedMetric:
    """A metric of the design that could not be analysed, and why."""

    key: str
    reason: str


@dataclass(frozen=True)
class CumulativePoint:
    """Lift of one metric × treatment variant over the units first exposed up to ``day`` (UTC),
    with the data of the snapshot's cut-off: one point of "lift over time".

    ``units_exposed`` and ``units_matured`` are cumulative, over the control and the variant;
    ``exposed_on_day`` counts the units of both first exposed that day.
    """

    metric: str
    variant: str
    day: str  # ISO date
    units_exposed: int
    units_matured: int
    exposed_on_day: int
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float | None
    significant: bool

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CumulativePoint:
        return cls(
            metric=data["metric"],
            variant=data["variant"],
            day=data["day"],
            units_exposed=int(data["units_exposed"]),
            units_matured=int(data["units_matured"]),
            exposed_on_day=int(data["exposed_on_day"]),
            effect=_float(data.get("effect")),
            ci_low=_float(data.get("ci_low")),
            ci_high=_float(data.get("ci_high")),
            ci_level=_float(data.get("ci_level")),
            significant=bool(data.get("significant", False)),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Maturity:
    """How far the phase's exposed units are from counting: a unit counts once its primary
    metric's window (``maturity_days``) has passed by the cut-off.

    ``first_result_at`` is when the earliest-exposed unit matures (the first result can show
    then); ``all_matured_at`` when the last one exposed so far does. Both None without
    exposures.
    """

    units_exposed: int
    units_matured: int
    maturity_days: int
    first_exposed_at: datetime | None
    first_result_at: datetime | None
    all_matured_at: datetime | None

    @property
    def units_immature(self) -> int:
        return self.units_exposed - self.units_matured

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Maturity | None:
        if not data:
            return None

        def moment(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        return cls(
            units_exposed=int(data["units_exposed"]),
            units_matured=int(data["units_matured"]),
            maturity_days=int(data["maturity_days"]),
            first_exposed_at=moment(data.get("first_exposed_at")),
            first_result_at=moment(data.get("first_result_at")),
            all_matured_at=moment(data.get("all_matured_at")),
        )

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "units_exposed": self.units_exposed,
            "units_matured": self.units_matured,
            "maturity_days": self.maturity_days,
            "first_exposed_at": iso(self.first_exposed_at),
            "first_result_at": iso(self.first_result_at),
            "all_matured_at": iso(self.all_matured_at),
        }


@dataclass(frozen=True)
class AnalysisOutputs:
    """A snapshot's outputs: the overall family, the breakdown family, and the verdict."""

    engine: str
    difference: str
    alpha: float
    sequential: bool
    correction: str
    control: str | None
    variants: tuple[str, ...]
    metrics: tuple[MetricResult, ...]
    segments: tuple[MetricResult, ...] = ()
    skipped_metrics: tuple[SkippedMetric, ...] = ()
    verdict: str = ""
    maturity: Maturity | None = None  # None in snapshots stored before it existed
    cumulative: tuple[CumulativePoint, ...] = ()  # lift by day of first exposure

    @property
    def primary(self) -> MetricResult | None:
        """The overall primary metric (None when it could not be analysed)."""
        return next((m for m in self.metrics if m.role == "primary"), None)

    def metric(self, key: str) -> MetricResult | None:
        return next((m for m in self.metrics if m.key == key), None)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AnalysisOutputs:
        return cls(
            engine=data.get("engine", "frequentist"),
            difference=data.get("difference", "relative"),
            alpha=float(data.get("alpha", 0.05)),
            sequential=bool(data.get("sequential", False)),
            correction=data.get("correction", "none"),
            control=data.get("control"),
            variants=tuple(data.get("variants", ())),
            metrics=tuple(MetricResult.from_json(m) for m in data.get("metrics", ())),
            segments=tuple(MetricResult.from_json(m) for m in data.get("segments", ())),
            skipped_metrics=tuple(
                SkippedMetric(key=s["key"], reason=s["reason"])
                for s in data.get("skipped_metrics", ())
            ),
            verdict=data.get("verdict", ""),
            maturity=Maturity.from_json(data.get("maturity")),
            cumulative=tuple(CumulativePoint.from_json(p) for p in data.get("cumulative", ())),
        )

    def to_json(self) -> dict[str, Any]:
        out = {
            "engine": self.engine,
            "difference": self.difference,
            "alpha": self.alpha,
            "sequential": self.sequential,
            "correction": self.correction,
            "control": self.control,
            "variants": list(self.variants),
            "metrics": [m.to_json() for m in self.metrics],
            "segments": [m.to_json() for m in self.segments],
            "skipped_metrics": [asdict(s) for s in self.skipped_metrics],
            "verdict": self.verdict,
        }
        if self.maturity is not None:
            out["maturity"] = self.maturity.to_json()
        if self.cumulative:
            out["cumulative"] = [p.to_json() for p in self.cumulative]
        return out

    def with_verdict(self, verdict: str) -> AnalysisOutputs:
        return replace(self, verdict=verdict)

    def with_maturity(self, maturity: Maturity) -> AnalysisOutputs:
        return replace(self, maturity=maturity)

    def with_cumulative(self, cumulative: tuple[CumulativePoint, ...]) -> AnalysisOutputs:
        return replace(self, cumulative=cumulative)


# --- Health checks -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SrmCheck:
    """Sample ratio mismatch of one phase against its weights (flag at p < threshold)."""

    phase: int
    counts: dict[str, int]
    weights: dict[str, float]
    p_value: float | None
    flag: bool
    status: str
    threshold: float

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SrmCheck | None:
        if data is None:
            return None
        return cls(
            phase=int(data.get("phase", 0)),
            counts={k: int(v) for k, v in data.get("counts", {}).items()},
            weights={k: float(v) for k, v in data.get("weights", {}).items()},
            p_value=_float(data.get("p_value")),
            flag=bool(data.get("flag", False)),
            status=data.get("status", ""),
            threshold=float(data.get("threshold", 0.0)),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MultipleExposures:
    """Units of the analysed phase seen in more than one variant (left out of the analysis)."""

    phase: int
    units: int
    excluded_units: int
    share: float
    threshold: float
    warn: bool

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> MultipleExposures | None:
        if not data:
            return None
        return cls(
            phase=int(data.get("phase", 0)),
            units=int(data.get("units", 0)),
            excluded_units=int(data.get("excluded_units", 0)),
            share=float(data.get("share", 0.0)),
            threshold=float(data.get("threshold", 0.0)),
            warn=bool(data.get("warn", False)),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GuardrailResult:
    """The one-sided harm test of one guardrail metric × treatment variant."""

    metric: str
    name: str
    variant: str
    harm: float | None
    harm_lower_bound: float | None
    p_value: float | None
    harmful: bool
    status: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_GUARDRAIL_FIELDS = tuple(GuardrailResult.__dataclass_fields__)


@dataclass(frozen=True)
class Guardrails:
    harmful: bool = False
    results: tuple[GuardrailResult, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Guardrails | None:
        if data is None:
            return None
        return cls(
            harmful=bool(data.get("harmful", False)),
            results=tuple(
                GuardrailResult(**{f: r.get(f) for f in _GUARDRAIL_FIELDS})
                for r in data.get("results", ())
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {"harmful": self.harmful, "results": [r.to_json() for r in self.results]}


@dataclass(frozen=True)
class PowerCheck:
    """The smallest change of the primary metric the data can detect now, against the plan."""

    metric: str | None
    planned_mde: float | None
    detectable_effect: float | None
    units_per_variant: int | None
    planned_sample_size_per_variant: int | None
    progress: float | None
    too_little_data: bool

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PowerCheck | None:
        if not data:
            return None
        return cls(
            metric=data.get("metric"),
            planned_mde=_float(data.get("planned_mde")),
            detectable_effect=_float(data.get("detectable_effect")),
            units_per_variant=data.get("units_per_variant"),
            planned_sample_size_per_variant=data.get("planned_sample_size_per_variant"),
            progress=_float(data.get("progress")),
            too_little_data=bool(data.get("too_little_data", False)),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Banner:
    """A human-readable warning above the results (check: srm | guardrail |
    multiple_exposures | power; level: error | warning | info)."""

    check: str
    level: str
    message: str

    def to_json(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Health:
    """Every health check of one analysis, and the banners they raise, most serious first.

    A check that an old snapshot did not store reads as None (``guardrails``, ``power``,
    ``multiple_exposures``) or empty.
    """

    srm: SrmCheck | None
    srm_phases: tuple[SrmCheck, ...] = ()
    multiple_exposures: MultipleExposures | None = None
    guardrails: Guardrails | None = None
    power: PowerCheck | None = None
    banners: tuple[Banner, ...] = field(default=())

    @property
    def srm_flag(self) -> bool:
        return self.srm is not None and self.srm.flag

    def banner(self, check: str) -> Banner | None:
        return next((b for b in self.banners if b.check == check), None)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Health:
        return cls(
            srm=SrmCheck.from_json(data.get("srm")),
            srm_phases=tuple(
                s for s in (SrmCheck.from_json(p) for p in data.get("srm_phases", ())) if s
            ),
            multiple_exposures=MultipleExposures.from_json(data.get("multiple_exposures")),
            guardrails=Guardrails.from_json(data.get("guardrails")),
            power=PowerCheck.from_json(data.get("power")),
            banners=tuple(Banner(**b) for b in data.get("banners", ())),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "srm": self.srm.to_json() if self.srm is not None else None,
            "srm_phases": [s.to_json() for s in self.srm_phases],
        }
        if self.multiple_exposures is not None:
            out["multiple_exposures"] = self.multiple_exposures.to_json()
        if self.guardrails is not None:
            out["guardrails"] = self.guardrails.to_json()
        if self.power is not None:
            out["power"] = self.power.to_json()
        out["banners"] = [b.to_json() for b in self.banners]
        return out


@dataclass(frozen=True)
class ResultsDecision:
    """What to do now, in one line: ``action`` is ship | roll_back | keep_running |
    inconclusive; ``reason`` says why, with the numbers it rests on.

    Decided by a pre-registered plan (``experiments.decision_rules``), ``clause`` names the
    part of the rule that decided (e.g. ``ship``, ``rollback_guardrail``), ``clause_text``
    says it in words and ``rule`` is the whole rule; all three are empty otherwise.
    """

    action: str
    label: str
    reason: str
    clause: str = ""
    clause_text: str = ""
    rule: str = ""


# --- The condensed view other apps read ----------------------------------------------------------


@dataclass(frozen=True)
class ComparisonSummary:
    """One treatment against the control on one metric (overall, not a segment)."""

    metric_key: str
    metric_name: str
    metric_role: str  # primary | secondary | guardrail
    metric_tags: tuple[str, ...]  # e.g. ("acquisition",), ("retention",)
    higher_is_better: bool
    variant: str
    effect: float | None  # relative lift when difference == "relative", else absolute
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    chance_to_win: float | None
    significant: bool
    verdict: str  # "win" | "loss" | "flat" | "inconclusive"
    summary: str  # the plain-language sentence

    @classmethod
    def of(cls, metric: MetricResult, c: ComparisonResult) -> ComparisonSummary:
        return cls(
            metric_key=metric.key,
            metric_name=metric.name,
            metric_role=metric.role,
            metric_tags=metric.tags,
            higher_is_better=metric.higher_is_better,
            variant=c.variant,
            effect=c.effect,
            ci_low=c.ci_low,
            ci_high=c.ci_high,
            p_value=c.p_value,
            chance_to_win=c.chance_to_win,
            significant=c.significant,
            verdict=c.verdict,
            summary=c.summary,
        )


@dataclass(frozen=True)
class ResultSummary:
    """The latest analysis of an experiment, as learnings and outcomes need it."""

    experiment_key: str
    snapshot_id: int
    data_cutoff: datetime
    engine: str
    difference: str
    comparisons: tuple[ComparisonSummary, ...]
    srm_flag: bool

    def for_metric(self, metric_key: str) -> tuple[ComparisonSummary, ...]:
        return tuple(c for c in self.comparisons if c.metric_key == metric_key)

    @property
    def primary(self) -> tuple[ComparisonSummary, ...]:
        return tuple(c for c in self.comparisons if c.metric_role == "primary")
