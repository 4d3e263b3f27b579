"""The pre-registered decision rule: reading it, saying it, and applying it to analyses.

Every clause is shown deciding on snapshot contracts (``AnalysisOutputs``, ``Health``...) built
the way the analysis stores them; then every combination of the inputs the rule looks at is
checked against an independent reference written from docs/experiments.md (not from the code).
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from experiments.contracts import (
    AnalysisOutputs,
    ComparisonResult,
    GuardrailResult,
    Guardrails,
    Health,
    Maturity,
    MetricResult,
    PowerCheck,
    SrmCheck,
    VariantResult,
)
from experiments.decision_rules import (
    DecisionRule,
    MetricRef,
    PlanProgress,
    PlanSpec,
    RuleError,
    progress_text,
    rule_text,
)
from experiments.plan_decisions import (
    CLAUSE_KEEP_RUNNING,
    CLAUSE_PLAN_COMPLETE,
    CLAUSE_ROLLBACK_GUARDRAIL,
    CLAUSE_ROLLBACK_PRIMARY,
    CLAUSE_SHIP,
    CLAUSE_SRM,
    CLAUSE_STOPPED_EARLY,
    CLAUSE_WAIT_FOR_PLAN,
    plan_decision,
)

ACTIVATION = MetricRef("activation", "Activation")
UNSUBSCRIBES = MetricRef("unsubscribes", "Unsubscribes")


def _plan(**changes) -> PlanSpec:
    base = PlanSpec(
        primary_metric=ACTIVATION,
        guardrail_metrics=(UNSUBSCRIBES,),
        planned_mde=0.05,
        min_runtime_days=14,
        planned_units_per_variant=10_000,
        alpha=0.05,
    )
    return replace(base, **changes)


def _comparison(variant: str = "treatment", **values) -> ComparisonResult:
    numbers = {
        "effect": 0.08,
        "ci_low": 0.03,
        "ci_high": 0.13,
        "ci_level": 0.95,
        "p_value": 0.002,
        "significant": True,
        "verdict": "win",
    }
    return ComparisonResult(variant=variant, **{**numbers, **values})


def _outputs(
    *comparisons: ComparisonResult,
    engine: str = "frequentist",
    direction: str = "up",
    units: int = 10_000,
) -> AnalysisOutputs:
    variants = ("control", *(c.variant for c in comparisons))
    primary = MetricResult(
        key=ACTIVATION.key,
        name=ACTIVATION.name,
        type="conversion",
        metric_type="proportion",
        role="primary",
        tags=(),
        direction=direction,
        segment=None,
        variants=tuple(VariantResult(v, units, 0, units, 0.2) for v in variants),
        comparisons=comparisons,
    )
    return AnalysisOutputs(
        engine=engine,
        difference="relative",
        alpha=0.05,
        sequential=False,
        correction="none",
        control="control",
        variants=variants,
        metrics=(primary,),
        maturity=Maturity(2 * units, 2 * units, 7, None, None, None),
    )


def _harm(variant: str = "treatment", harmful: bool = True) -> GuardrailResult:
    return GuardrailResult(
        metric=UNSUBSCRIBES.key,
        name=UNSUBSCRIBES.name,
        variant=variant,
        harm=0.21 if harmful else -0.02,
        harm_lower_bound=0.05 if harmful else -0.1,
        p_value=0.004 if harmful else 0.7,
        harmful=harmful,
        status="ok",
    )


def _health(
    *guardrails: GuardrailResult, srm: bool = False, power: PowerCheck | None = None
) -> Health:
    check = SrmCheck(
        phase=1,
        counts={"control": 10_000, "treatment": 10_000},
        weights={"control": 0.5, "treatment": 0.5},
        p_value=0.0001 if srm else 0.62,
        flag=srm,
        status="ok",
        threshold=0.001,
    )
    results = guardrails or (_harm(harmful=False),)
    return Health(
        srm=check,
        guardrails=Guardrails(harmful=any(r.harmful for r in results), results=results),
        power=power,
    )


DONE = PlanProgress(days_run=14, units_per_variant=10_000)
HALFWAY = PlanProgress(days_run=9, units_per_variant=4_200)
NAMES = {"control": "Control", "treatment": "Checklist", "b": "Variant B"}


def _decide(plan, outputs, health, progress=DONE, *, finished=False):
    return plan_decision(plan, outputs, health, progress, finished=finished, names=NAMES)


# --- Each clause deciding ---------------------------------------------------------------------


def test_a_winning_primary_with_no_guardrail_harmed_ships_once_the_plan_is_complete():
    decision = _decide(_plan(), _outputs(_comparison()), _health())

    assert (decision.action, decision.label, decision.clause) == ("ship", "Ship", CLAUSE_SHIP)
    assert decision.reason == (
        "The primary metric, Activation, won for Checklist: +8.0%, 95% interval +3.0% to "
        "+13.0%, p = 0.002; no guardrail was harmed. The plan is complete: 14 of 14 planned "
        "days, 10,000 of 10,000 planned units per variant."
    )
    assert decision.clause_text == (
        "ship when the primary metric wins (p < 0.05) and no guardrail is harmed, once the "
        "plan is complete (14 days and 10,000 units per variant)"
    )
    assert decision.rule == rule_text(_plan())


def test_a_winner_before_the_plan_is_complete_keeps_running_with_the_progress():
    decision = _decide(_plan(), _outputs(_comparison()), _health(), HALFWAY)

    assert (decision.action, decision.clause) == ("keep_running", CLAUSE_WAIT_FOR_PLAN)
    assert decision.reason == (
        "Checklist is ahead on Activation (+8.0%, 95% interval +3.0% to +13.0%, p = 0.002), "
        "but the plan ships only once it is complete: 9 of 14 planned days, 4,200 of 10,000 "
        "planned units per variant."
    )
    # ... unless the rule ships as soon as the primary wins (sequential testing).
    early = _plan(decision_rule=DecisionRule(ship_before_plan_complete=True))
    shipped = _decide(early, _outputs(_comparison()), _health(), HALFWAY)
    assert (shipped.action, shipped.clause) == ("ship", CLAUSE_SHIP)
    assert shipped.reason.endswith(
        "The rule ships before the plan is complete: 9 of 14 planned days, 4,200 of 10,000 "
        "planned units per variant."
    )
    assert ", once the plan is complete" not in shipped.clause_text


def test_each_target_alone_holds_a_winner_back():
    days_short = PlanProgress(days_run=13, units_per_variant=10_000)
    units_short = PlanProgress(days_run=30, units_per_variant=9_999)
    for progress in (days_short, units_short):
        decision = _decide(_plan(), _outputs(_comparison()), _health(), progress)
        assert decision.clause == CLAUSE_WAIT_FOR_PLAN
    only_days = _plan(planned_units_per_variant=None)
    decision = _decide(only_days, _outputs(_comparison()), _health(), units_short)
    assert decision.clause == CLAUSE_SHIP
    assert "30 of 14 planned days." in decision.reason


def test_a_harmed_guardrail_rolls_back_even_a_winner():
    decision = _decide(_plan(), _outputs(_comparison()), _health(_harm()), HALFWAY)

    assert (decision.action, decision.label) == ("roll_back", "Roll back")
    assert decision.clause == CLAUSE_ROLLBACK_GUARDRAIL
    assert decision.reason == (
        "Checklist harms the guardrail Unsubscribes (+21.0%, one-sided p = 0.004)."
    )
    assert decision.clause_text == "roll back when a guardrail is harmed"


def test_a_losing_primary_rolls_back():
    loss = _comparison(effect=-0.06, ci_low=-0.1, ci_high=-0.02, p_value=0.01, verdict="loss")

    decision = _decide(_plan(), _outputs(loss), _health(), HALFWAY)

    assert (decision.action, decision.clause) == ("roll_back", CLAUSE_ROLLBACK_PRIMARY)
    assert decision.reason.startswith("The primary metric, Activation, lost for Checklist: -6.0%")
    assert decision.clause_text == "roll back when the primary metric loses (p < 0.05)"


def test_switched_off_roll_back_clauses_keep_running_then_call_it_inconclusive():
    rule = DecisionRule(rollback_on_guardrail_harm=False, rollback_on_primary_loss=False)
    plan = _plan(decision_rule=rule)
    loss = _comparison(effect=-0.06, ci_low=-0.1, ci_high=-0.02, p_value=0.01, verdict="loss")

    running = _decide(plan, _outputs(loss), _health(_harm()), HALFWAY)
    complete = _decide(plan, _outputs(loss), _health(_harm()), DONE)
    # A harmed winner is not shipped (the rule requires no harm) nor rolled back.
    harmed_winner = _decide(plan, _outputs(_comparison()), _health(_harm()), DONE)

    assert (running.action, running.clause) == ("keep_running", CLAUSE_KEEP_RUNNING)
    assert running.reason.startswith(
        "9 of 14 planned days, 4,200 of 10,000 planned units per variant; no decisive result "
        "on Activation yet (-6.0%"
    )
    assert running.clause_text == (
        "otherwise keep running until 14 days and 10,000 units per variant, then call it "
        "inconclusive"
    )
    assert (complete.action, complete.clause) == ("inconclusive", CLAUSE_PLAN_COMPLETE)
    assert complete.reason.startswith(
        "The plan is complete (14 of 14 planned days, 10,000 of 10,000 planned units per "
        "variant) and the primary metric, Activation, did not win (-6.0%"
    )
    assert (harmed_winner.action, harmed_winner.clause) == ("inconclusive", CLAUSE_PLAN_COMPLETE)
    assert "; never roll back by rule;" in rule_text(plan)


def test_a_rule_that_ignores_guardrails_ships_a_harmed_winner():
    rule = DecisionRule(ship_requires_no_guardrail_harm=False, rollback_on_guardrail_harm=False)

    decision = _decide(_plan(decision_rule=rule), _outputs(_comparison()), _health(_harm()))

    assert decision.clause == CLAUSE_SHIP
    assert "the rule does not look at guardrails" in decision.reason
    assert decision.clause_text.startswith("ship when the primary metric wins (p < 0.05),")


def test_a_sample_ratio_mismatch_decides_before_any_clause():
    decision = _decide(_plan(), _outputs(_comparison()), _health(srm=True))

    assert (decision.action, decision.clause) == ("inconclusive", CLAUSE_SRM)
    assert "p = 0.0001" in decision.reason
    assert decision.clause_text == "no clause applies while the traffic split is broken"


def test_a_stopped_experiment_short_of_its_plan_is_inconclusive_even_when_winning():
    winning = _decide(_plan(), _outputs(_comparison()), _health(), HALFWAY, finished=True)
    flat = _comparison(effect=0.01, ci_low=-0.02, ci_high=0.04, p_value=0.4, verdict="flat")
    stopped = _decide(_plan(), _outputs(flat), _health(), HALFWAY, finished=True)

    assert (winning.action, winning.clause) == ("inconclusive", CLAUSE_STOPPED_EARLY)
    assert winning.reason == (
        "The experiment stopped before the plan was complete (9 of 14 planned days, 4,200 of "
        "10,000 planned units per variant); Checklist was ahead on Activation (+8.0%, 95% "
        "interval +3.0% to +13.0%, p = 0.002), but the rule ships only on a complete plan."
    )
    assert (stopped.action, stopped.clause) == ("inconclusive", CLAUSE_STOPPED_EARLY)
    assert "yet" not in stopped.reason


def test_without_runtime_or_units_the_planned_mde_says_when_the_sample_is_enough():
    plan = _plan(min_runtime_days=None, planned_units_per_variant=None)
    flat = _comparison(effect=0.01, ci_low=-0.02, ci_high=0.04, p_value=0.4, verdict="flat")

    def power(detectable: float) -> PowerCheck:
        return PowerCheck("activation", 0.05, detectable, 4000, None, None, detectable > 0.05)

    short = _decide(plan, _outputs(flat), _health(power=power(0.08)))
    enough = _decide(plan, _outputs(flat), _health(power=power(0.04)))

    assert (short.action, short.clause) == ("keep_running", CLAUSE_KEEP_RUNNING)
    assert "can only detect changes of 8.0% against the planned 5.0%: keep collecting" in (
        short.reason
    )
    assert (enough.action, enough.clause) == ("inconclusive", CLAUSE_PLAN_COMPLETE)
    assert enough.reason.startswith("The data can detect the planned 5.0% change")
    assert short.clause_text == (
        "otherwise keep running until the data can detect the planned 5.0% change, then call "
        "it inconclusive"
    )


def test_bayesian_wins_and_losses_follow_the_rules_chance_to_win():
    def bayes(chance: float) -> ComparisonResult:
        return _comparison(p_value=None, chance_to_win=chance, risk=0.001)

    plan = _plan(engine="bayesian")
    ship = _decide(plan, _outputs(bayes(0.97), engine="bayesian"), _health())
    short = _decide(plan, _outputs(bayes(0.93), engine="bayesian"), _health())
    lenient = _plan(engine="bayesian", decision_rule=DecisionRule(ship_min_chance_to_win=0.9))
    lenient_ship = _decide(lenient, _outputs(bayes(0.93), engine="bayesian"), _health())
    loss = _decide(plan, _outputs(bayes(0.03), engine="bayesian"), _health())

    assert ship.clause == CLAUSE_SHIP
    assert "chance to win 97%" in ship.reason
    assert ship.clause_text.startswith("ship when the primary metric wins (chance to win ≥ 95%)")
    assert short.clause == CLAUSE_PLAN_COMPLETE
    assert lenient_ship.clause == CLAUSE_SHIP
    assert loss.clause == CLAUSE_ROLLBACK_PRIMARY


def test_for_a_lower_is_better_metric_a_decrease_wins():
    faster = _comparison(effect=-0.1, ci_low=-0.15, ci_high=-0.05, p_value=0.001)
    slower = _comparison(effect=0.1, ci_low=0.05, ci_high=0.15, p_value=0.001)

    assert _decide(_plan(), _outputs(faster, direction="down"), _health()).clause == CLAUSE_SHIP
    assert (
        _decide(_plan(), _outputs(slower, direction="down"), _health()).clause
        == CLAUSE_ROLLBACK_PRIMARY
    )


def test_the_frozen_alpha_decides_not_the_analysis_verdict():
    """A p-value of 0.03 is a win at α = 0.05 but not under a plan frozen at α = 0.01."""
    c = _comparison(p_value=0.03)

    assert _decide(_plan(), _outputs(c), _health()).clause == CLAUSE_SHIP
    assert _decide(_plan(alpha=0.01), _outputs(c), _health()).clause == CLAUSE_PLAN_COMPLETE


def test_with_several_variants_the_best_clean_winner_ships():
    small = _comparison("treatment", effect=0.05, p_value=0.01)
    big_but_harmful = _comparison("b", effect=0.12, p_value=0.001)

    decision = _decide(
        _plan(), _outputs(small, big_but_harmful), _health(_harm("b"), _harm(harmful=False))
    )

    assert decision.clause == CLAUSE_SHIP
    assert "won for Checklist: +5.0%" in decision.reason
    both_clean = _decide(_plan(), _outputs(small, big_but_harmful), _health())
    assert "won for Variant B: +12.0%" in both_clean.reason


def test_no_primary_result_keeps_running_with_the_progress_then_is_inconclusive():
    pending = ComparisonResult(variant="treatment", status="insufficient_data", message="few")

    running = _decide(_plan(), _outputs(pending), _health(), HALFWAY)
    finished = _decide(_plan(), _outputs(pending), _health(), HALFWAY, finished=True)
    no_targets = _plan(min_runtime_days=None, planned_units_per_variant=None)
    young = _decide(no_targets, _outputs(pending, units=0), _health(), HALFWAY)

    assert (running.action, running.clause) == ("keep_running", CLAUSE_KEEP_RUNNING)
    assert running.reason == (
        "9 of 14 planned days, 4,200 of 10,000 planned units per variant; no result on the "
        "primary metric yet."
    )
    assert (finished.action, finished.clause) == ("inconclusive", CLAUSE_STOPPED_EARLY)
    assert young.reason == "No result on the primary metric yet: 0 of 0 units have matured."


# --- The rule as JSON and in words ------------------------------------------------------------


def test_a_rule_reads_its_json_with_defaults_and_writes_it_back():
    rule = DecisionRule.from_json({"rollback_when": {"primary_loses": False}})

    assert rule == DecisionRule(rollback_on_primary_loss=False)
    assert DecisionRule.from_json(rule.to_json()) == rule
    assert DecisionRule.from_json(None) == DecisionRule() == DecisionRule.from_json({})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("ship", ""),
        ({"ship": {}}, "ship"),
        ({"ship_when": []}, "ship_when"),
        ({"ship_when": {"min_chance": 0.9}}, "ship_when.min_chance"),
        ({"ship_when": {"min_chance_to_win": 0.4}}, "ship_when.min_chance_to_win"),
        ({"ship_when": {"min_chance_to_win": 1}}, "ship_when.min_chance_to_win"),
        ({"ship_when": {"min_chance_to_win": True}}, "ship_when.min_chance_to_win"),
        ({"ship_when": {"min_chance_to_win": "0.95"}}, "ship_when.min_chance_to_win"),
        ({"ship_when": {"no_guardrail_harmed": "yes"}}, "ship_when.no_guardrail_harmed"),
        ({"rollback_when": {"guardrail_harmed": 1}}, "rollback_when.guardrail_harmed"),
    ],
)
def test_a_bad_rule_names_the_key_at_fault(data, field):
    with pytest.raises(RuleError) as error:
        DecisionRule.from_json(data)
    assert error.value.field == field


def test_the_plan_survives_its_frozen_json():
    plan = _plan(
        secondary_metrics=(MetricRef("sessions", "Sessions"),),
        engine="bayesian",
        sequential=True,
        decision_rule=DecisionRule(ship_before_plan_complete=True),
        template="activation-test",
    )

    assert PlanSpec.from_json(plan.to_json()) == plan


def test_the_rule_in_words():
    assert rule_text(_plan()) == (
        "Ship when the primary metric wins (p < 0.05) and no guardrail is harmed, once the plan "
        "is complete (14 days and 10,000 units per variant); roll back when a guardrail is "
        "harmed or the primary metric loses; otherwise keep running until 14 days and 10,000 "
        "units per variant, then call it inconclusive."
    )
    never = DecisionRule(rollback_on_guardrail_harm=False, rollback_on_primary_loss=False)
    assert "; never roll back by rule;" in rule_text(_plan(decision_rule=never))
    assert progress_text(_plan(min_runtime_days=None), HALFWAY) == (
        "4,200 of 10,000 planned units per variant"
    )


# --- Every combination against an independent reference ---------------------------------------

LOSS = {"effect": -0.06, "ci_low": -0.1, "ci_high": -0.02, "p_value": 0.01, "verdict": "loss"}
FLAT = {"effect": 0.01, "ci_low": -0.02, "ci_high": 0.04, "p_value": 0.4, "verdict": "flat"}


def _reference(
    *, srm, primary, harm, complete, finished, require_clean, early, rb_harm, rb_loss
) -> tuple[str, str]:
    """docs/experiments.md, "Templates and pre-registered decisions", in order, for one
    treatment variant with a result and a plan with a minimum runtime and planned units."""
    if srm:
        return "inconclusive", "srm"
    blocked = harm and (require_clean or rb_harm)
    if primary == "win" and not blocked and (complete or early):
        return "ship", "ship"
    if harm and rb_harm:
        return "roll_back", "rollback_guardrail"
    if primary == "loss" and rb_loss:
        return "roll_back", "rollback_primary"
    if primary == "win" and not blocked:  # a winner waiting for its plan
        return (
            ("inconclusive", "inconclusive_stopped_early")
            if finished
            else (
                "keep_running",
                "wait_for_plan",
            )
        )
    if complete:
        return "inconclusive", "inconclusive_plan_complete"
    if finished:
        return "inconclusive", "inconclusive_stopped_early"
    return "keep_running", "keep_running"


def test_every_combination_decides_as_the_documented_rule_says():
    checked = 0
    for (
        srm,
        primary,
        harm,
        complete,
        finished,
        require_clean,
        early,
        rb_harm,
        rb_loss,
    ) in itertools.product(
        (False, True),
        ("win", "loss", "flat"),
        (False, True),
        (False, True),
        (False, True),
        (False, True),
        (False, True),
        (False, True),
        (False, True),
    ):
        rule = DecisionRule(
            ship_requires_no_guardrail_harm=require_clean,
            ship_before_plan_complete=early,
            rollback_on_guardrail_harm=rb_harm,
            rollback_on_primary_loss=rb_loss,
        )
        comparison = _comparison(**{"win": {}, "loss": LOSS, "flat": FLAT}[primary])
        decision = _decide(
            _plan(decision_rule=rule),
            _outputs(comparison),
            _health(_harm(harmful=harm), srm=srm),
            DONE if complete else HALFWAY,
            finished=finished,
        )
        expected = _reference(
            srm=srm,
            primary=primary,
            harm=harm,
            complete=complete,
            finished=finished,
            require_clean=require_clean,
            early=early,
            rb_harm=rb_harm,
            rb_loss=rb_loss,
        )
        assert (decision.action, decision.clause) == expected, (
            srm,
            primary,
            harm,
            complete,
            finished,
            rule,
        )
        assert decision.rule == rule_text(_plan(decision_rule=rule))
        checked += 1
    assert checked == 2 * 3 * 2**7
