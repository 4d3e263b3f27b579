"""Warehouse-native analysis: an experiment bound to an event source is analysed inside the
source (a DuckDB file, a chdb directory), with exposures from its GrowthBook-shaped exposure
table. The sufficient statistics must equal a brute-force computation over the same generated
rows, written here from the rules (first exposure in the phase per unit, units seen in two
variations left out, windows and the CUPED pre-period counted from the first exposure, only
units whose window has passed by the cut-off)."""

from __future__ import annotations

import json
import math
import socket
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest

from experiments.models import Experiment, Phase, ResultSnapshot
from experiments.services.analysis.inputs import CUPED_PRE_PERIOD_DAYS
from experiments.services.analysis.refresh import experiment_refresh_request
from experiments.services.analysis.run import analysis_job_run
from experiments.services.analysis.warehouse import SourceFailed
from experiments.services.design import (
    ExperimentDesign,
    VariantSpec,
    experiment_create,
    experiment_update,
)
from experiments.services.lifecycle import experiment_start
from metrics.public import metric_create
from metrics.sources.services import source_create, source_delete, source_update
from plg_platform.errors import Conflict, ValidationFailed
from plg_platform.models import BackgroundJob, JobStatus
from tests.metrics.warehouse import (
    CUTOFF,
    EVENTS_MAPPING,
    EVENTS_TABLE,
    EXPERIMENT_ID,
    EXPOSURES_MAPPING,
    T0,
    EventRow,
    Warehouse,
    generate,
    write_chdb,
    write_duckdb,
)

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
VARIANTS = ("control", "treatment")  # GrowthBook's variation 0 and 1, in this order
METRICS = {
    "purchased": {"type": "conversion", "event": "purchase", "window_days": 7},
    "revenue": {"type": "sum", "event": "purchase", "property": "revenue", "window_days": 14},
    "views": {"type": "count", "event": "page_view", "window_days": 3},
    "pro-items": {
        "type": "sum",
        "event": "purchase",
        "property": "items",
        "window_days": 14,
        "filters": [{"property": "plan", "op": "eq", "value": "pro"}],
    },
    "avg-revenue": {"type": "mean", "event": "purchase", "property": "revenue", "window_days": 10},
}


@pytest.fixture(scope="module")
def data() -> Warehouse:
    return generate(seed=2024, units=400)


@pytest.fixture
def root(tmp_path: Path, settings) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    settings.METRICS_SOURCE_ROOT = folder
    return folder


@pytest.fixture
def no_queue(monkeypatch) -> None:
    monkeypatch.setattr("experiments.services.analysis.refresh._enqueue", lambda *args: None)


def _source(workspace, root: Path, data: Warehouse, engine: str, **overrides):
    if engine == "duckdb":
        write_duckdb(root / "warehouse.duckdb", data)
        path = "warehouse.duckdb"
    else:
        write_chdb(root / "clickhouse", data)
        path = "clickhouse"
    return source_create(
        workspace=workspace,
        name=f"{engine} warehouse",
        engine=engine,
        connection=overrides.pop("connection", {"path": path}),
        events=overrides.pop("events", EVENTS_MAPPING),
        exposures=overrides.pop("exposures", EXPOSURES_MAPPING),
        **overrides,
    )


def _experiment(workspace, source, *, key: str = "checkout", cuped: bool = True) -> Experiment:
    for metric_key, spec in METRICS.items():
        metric_create(workspace=workspace, key=metric_key, name=metric_key, spec=spec)
    design = ExperimentDesign(
        key=key,
        name="Checkout redesign",
        hypothesis_change="a one-page checkout",
        variants=(VariantSpec("control", 0.5, is_control=True), VariantSpec("treatment", 0.5)),
        primary_metric="purchased",
        secondary_metrics=("revenue", "views", "pro-items", "avg-revenue"),
        cuped=cuped,
        source=source.pk if source is not None else None,
        source_experiment_id=EXPERIMENT_ID if source is not None else "",
    )
    experiment = experiment_start(
        experiment=experiment_create(workspace=workspace, design=design, actor=None), actor=None
    )
    Phase.objects.filter(experiment=experiment).update(started_at=T0)
    return experiment


def _run(experiment: Experiment) -> ResultSnapshot | None:
    ticket = experiment_refresh_request(experiment=experiment)
    return analysis_job_run(experiment_id=experiment.pk, job_id=ticket.job.pk, cutoff=CUTOFF)


# --- the reference -------------------------------------------------------------------------------
def _population(data: Warehouse) -> dict[str, tuple[str, object]]:
    """unit → (variant, first exposure) for units exposed in the phase before the cut-off to
    exactly one variation."""
    seen: dict[str, list] = defaultdict(list)
    for x in data.exposures:
        if x.experiment_id == EXPERIMENT_ID and T0 <= x.timestamp < CUTOFF:
            seen[x.user_id].append(x)
    population = {}
    for unit, rows in seen.items():
        if len({x.variation_id for x in rows}) > 1:
            continue
        first = min(x.timestamp for x in rows)
        population[unit] = (VARIANTS[int(rows[0].variation_id)], first)
    return population


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _matches(spec: dict, e: EventRow) -> bool:
    if e.event_name != spec["event"]:
        return False
    return all(e.plan == f["value"] for f in spec.get("filters", []))


def _value(spec: dict, events: list[EventRow], start, lo_days: int, hi_days: int):
    hits = [
        e
        for e in events
        if _matches(spec, e) and start + lo_days * DAY <= e.occurred_at < start + hi_days * DAY
    ]

    def amount(e: EventRow) -> float | None:
        if spec.get("property") == "revenue":
            return e.revenue
        return _number(json.loads(e.payload).get(spec.get("property")))

    if spec["type"] == "conversion":
        return 1.0 if hits else 0.0
    if spec["type"] == "count":
        return float(len(hits))
    if spec["type"] == "sum":
        return float(sum(amount(e) or 0.0 for e in hits))
    values = [v for v in (amount(e) for e in hits) if v is not None]  # mean
    return sum(values) / len(values) if values else None


def reference(data: Warehouse, covariate_days: int) -> dict[tuple[str, str], dict[str, float]]:
    """(metric, variant) → units, immature units, n and the sums, by brute force."""
    by_unit: dict[str, list[EventRow]] = defaultdict(list)
    for e in data.events:
        by_unit[str(e.account_user)].append(e)
    out: dict[tuple[str, str], dict[str, float]] = {}
    for unit, (variant, start) in _population(data).items():
        for key, spec in METRICS.items():
            s = out.setdefault(
                (key, variant),
                dict.fromkeys(
                    (
                        "units",
                        "immature_units",
                        "n",
                        "sum",
                        "sum_squares",
                        "covariate_sum",
                        "covariate_sum_squares",
                        "covariate_sum_product",
                    ),
                    0.0,
                ),
            )
            if start + spec["window_days"] * DAY > CUTOFF:
                s["immature_units"] += 1
                continue
            s["units"] += 1
            x = _value(spec, by_unit[unit], start, 0, spec["window_days"])
            if x is None:
                continue
            c = _value(spec, by_unit[unit], start, -covariate_days, 0) or 0.0
            s["n"] += 1
            s["sum"] += x
            s["sum_squares"] += x * x
            s["covariate_sum"] += c
            s["covariate_sum_squares"] += c * c
            s["covariate_sum_product"] += x * c
    return out


def _overall(snapshot: ResultSnapshot) -> dict[tuple[str, str], dict]:
    return {
        (row["metric"], row["variant"]): row
        for row in snapshot.inputs["statistics"]
        if row["segment_property"] is None
    }


# --- the analysis --------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["duckdb", "chdb"])
def test_an_experiment_analysed_in_the_source_matches_brute_force(
    engine, workspace, root, data, no_queue
):
    source = _source(workspace, root, data, engine)
    experiment = _experiment(workspace, source)

    snapshot = _run(experiment)

    assert snapshot is not None
    assert snapshot.settings["source"] == {"id": source.pk, "experiment_id": EXPERIMENT_ID}
    expected = reference(data, CUPED_PRE_PERIOD_DAYS)
    got = _overall(snapshot)
    assert set(got) == set(expected)
    for key, want in expected.items():
        row = got[key]
        for name in ("units", "immature_units", "n"):
            assert row[name] == want[name], (key, name)
        for name in (
            "sum",
            "sum_squares",
            "covariate_sum",
            "covariate_sum_squares",
            "covariate_sum_product",
        ):
            assert math.isclose(row[name], want[name], rel_tol=1e-9, abs_tol=1e-9), (key, name)
    # Enough of every kind of unit for the comparison to mean something.
    assert min(v["n"] for v in expected.values()) > 20
    # Health and maturity come from the source's exposure table too.
    population = _population(data)
    units = {v: sum(1 for variant, _ in population.values() if variant == v) for v in VARIANTS}
    excluded = {
        x.user_id
        for x in data.exposures
        if x.experiment_id == EXPERIMENT_ID and T0 <= x.timestamp < CUTOFF
    } - set(population)
    srm = snapshot.health["srm"]
    assert srm["counts"] == units
    assert srm["p_value"] is not None
    multiple = snapshot.health["multiple_exposures"]
    assert multiple["excluded_units"] == len(excluded)
    assert multiple["units"] == sum(units.values()) + len(excluded)
    maturity = snapshot.outputs["maturity"]
    assert maturity["units_exposed"] == sum(units.values())
    matured = sum(1 for _, start in population.values() if start + 7 * DAY <= CUTOFF)
    assert maturity["units_matured"] == matured


def test_duckdb_and_chdb_give_the_same_statistics(workspace, other_workspace, root, data, no_queue):
    duck = _run(_experiment(workspace, _source(workspace, root, data, "duckdb")))
    ch = _run(_experiment(other_workspace, _source(other_workspace, root, data, "chdb")))

    a, b = _overall(duck), _overall(ch)
    assert set(a) == set(b)
    for key in a:
        for name, value in a[key].items():
            if isinstance(value, float):
                assert math.isclose(value, b[key][name], rel_tol=1e-9, abs_tol=1e-9)
            else:
                assert value == b[key][name]


# --- failures ------------------------------------------------------------------------------------
def test_a_missing_column_fails_the_job_naming_source_and_column_and_keeps_the_snapshot(
    workspace, root, data, no_queue
):
    source = _source(workspace, root, data, "duckdb")
    experiment = _experiment(workspace, source, cuped=False)
    good = _run(experiment)
    assert good is not None
    source_update(source=source, events={"unit_column": "customer_id"})

    ticket = experiment_refresh_request(experiment=experiment)
    with pytest.raises(SourceFailed):
        analysis_job_run(experiment_id=experiment.pk, job_id=ticket.job.pk, cutoff=CUTOFF)

    job = BackgroundJob.objects.get(pk=ticket.job.pk)
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("The analysis could not be computed in its event source.")
    assert "Source 'duckdb warehouse'" in job.error
    assert "column 'customer_id' (the unit id) not found in table 'app_events'" in job.error
    assert list(ResultSnapshot.objects.filter(experiment=experiment)) == [good]


def test_a_wrong_column_type_fails_the_job_naming_the_column(workspace, root, data, no_queue):
    source = _source(
        workspace, root, data, "chdb", exposures={**EXPOSURES_MAPPING, "time_type": "seconds"}
    )
    experiment = _experiment(workspace, source, cuped=False)

    ticket = experiment_refresh_request(experiment=experiment)
    with pytest.raises(SourceFailed):
        analysis_job_run(experiment_id=experiment.pk, job_id=ticket.job.pk, cutoff=CUTOFF)

    job = BackgroundJob.objects.get(pk=ticket.job.pk)
    assert job.status == JobStatus.FAILED
    assert "column 'timestamp' (the exposure time) of table 'experiment_viewed'" in job.error
    assert "expected an integer" in job.error
    assert not ResultSnapshot.objects.exists()


def test_an_unreachable_server_fails_the_job_and_stores_nothing(workspace, root, no_queue):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = source_create(
        workspace=workspace,
        name="Production ClickHouse",
        engine="clickhouse",
        connection={"host": "127.0.0.1", "port": port},
        events=EVENTS_MAPPING,
        exposures=EXPOSURES_MAPPING,
        secret="pw",
    )
    experiment = _experiment(workspace, source, cuped=False)

    ticket = experiment_refresh_request(experiment=experiment)
    with pytest.raises(SourceFailed):
        analysis_job_run(experiment_id=experiment.pk, job_id=ticket.job.pk, cutoff=CUTOFF)

    job = BackgroundJob.objects.get(pk=ticket.job.pk)
    assert job.status == JobStatus.FAILED
    assert f"Source 'Production ClickHouse' (ClickHouse server 127.0.0.1:{port})" in job.error
    assert "unreachable" in job.error
    assert not ResultSnapshot.objects.exists()


def test_a_statement_that_runs_too_long_is_stopped_and_the_snapshot_kept(
    workspace, root, data, no_queue, settings
):
    """A slow source (here a view that multiplies every event 200,000 times) is interrupted at
    the statement timeout: the job fails saying so, and the last good snapshot stays."""
    import duckdb

    source = _source(workspace, root, data, "duckdb")
    experiment = _experiment(workspace, source, cuped=False)
    good = _run(experiment)
    assert good is not None
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        con.execute(f"ALTER TABLE {EVENTS_TABLE} RENAME TO raw_events")
        con.execute(
            f"CREATE VIEW {EVENTS_TABLE} AS SELECT r.* FROM raw_events r, range(200000) AS copies"
        )
    finally:
        con.close()
    settings.METRICS_SOURCE_STATEMENT_TIMEOUT_SECONDS = 0.5

    ticket = experiment_refresh_request(experiment=experiment)
    with pytest.raises(SourceFailed):
        analysis_job_run(experiment_id=experiment.pk, job_id=ticket.job.pk, cutoff=CUTOFF)

    job = BackgroundJob.objects.get(pk=ticket.job.pk)
    assert job.status == JobStatus.FAILED
    assert "Source 'duckdb warehouse'" in job.error
    assert "ran longer than 0.5 s and was stopped" in job.error
    assert list(ResultSnapshot.objects.filter(experiment=experiment)) == [good]


# --- binding -------------------------------------------------------------------------------------
def test_another_workspaces_source_cannot_be_bound(workspace, other_workspace, root, data):
    theirs = _source(other_workspace, root, data, "duckdb")

    with pytest.raises(ValidationFailed) as raised:
        _experiment(workspace, theirs)

    assert raised.value.field == "source"
    assert not Experiment.objects.exists()


def test_a_source_without_an_exposure_table_cannot_be_bound(workspace, root, data):
    source = _source(workspace, root, data, "duckdb", exposures=None)

    with pytest.raises(ValidationFailed) as raised:
        _experiment(workspace, source)

    assert raised.value.field == "source"
    assert "has no exposure table" in raised.value.message


def test_a_source_in_use_cannot_be_deleted(workspace, root, data):
    source = _source(workspace, root, data, "duckdb")
    _experiment(workspace, source)

    with pytest.raises(Conflict) as raised:
        source_delete(source=source)

    assert "checkout" in raised.value.message


def test_changing_the_source_of_a_running_experiment_starts_a_new_phase(workspace, root, data):
    source = _source(workspace, root, data, "duckdb")
    experiment = _experiment(workspace, source)

    with pytest.raises(Conflict):
        experiment_update(experiment=experiment, changes={"source": None}, actor=None)
    experiment_update(
        experiment=experiment,
        changes={"source": None},
        actor=None,
        phase_reason="back to our own exposures",
    )

    experiment.refresh_from_db()
    assert experiment.source_id is None
    assert experiment.phases.count() == 2


def test_the_experiments_api_binds_and_shows_the_source(editor, outsider, root, data):
    source = _source(editor.workspace, root, data, "duckdb")
    for metric_key, spec in METRICS.items():
        metric_create(workspace=editor.workspace, key=metric_key, name=metric_key, spec=spec)
    body = {
        "key": "api-checkout",
        "name": "Checkout",
        "hypothesis": "a one-page checkout lifts purchases",
        "variants": [{"key": "control", "weight": 0.5}, {"key": "treatment", "weight": 0.5}],
        "primary_metric": "purchased",
        "source": source.pk,
        "source_experiment_id": EXPERIMENT_ID,
    }

    created = editor.client.post("/api/v1/experiments/", body, format="json")
    theirs = outsider.client.post("/api/v1/experiments/", body, format="json")

    assert created.status_code == 201, created.json()
    assert created.json()["source"] == {"id": source.pk, "name": "duckdb warehouse"}
    assert created.json()["source_experiment_id"] == EXPERIMENT_ID
    assert theirs.status_code == 400
    assert list(theirs.json()["errors"]) == ["source"]


def _page_form(**overrides) -> dict:
    return {
        "name": "Checkout",
        "key": "page-checkout",
        "hypothesis_change": "a one-page checkout",
        "variants-TOTAL_FORMS": "2",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "2",
        "variants-MAX_NUM_FORMS": "10",
        "variants-0-key": "control",
        "variants-0-weight": "50",
        "variants-1-key": "treatment",
        "variants-1-weight": "50",
        "coverage": "100",
        "primary_metric": "purchased",
        "engine": "frequentist",
        "correction": "holm",
        "alpha": "0.05",
        **overrides,
    }


def test_the_design_page_offers_the_workspaces_sources(client, editor, root, data):
    from django.urls import reverse

    metric_create(
        workspace=editor.workspace, key="purchased", name="Purchased", spec=METRICS["purchased"]
    )
    client.force_login(editor.user)
    new = reverse("experiments_web:create")
    assert "Exposures and events from" not in client.get(new).content.decode()
    source = _source(editor.workspace, root, data, "duckdb")
    assert "duckdb warehouse" in client.get(new).content.decode()

    response = client.post(
        new, _page_form(source=str(source.pk), source_experiment_id=EXPERIMENT_ID)
    )

    assert response.status_code == 302
    experiment = Experiment.objects.get(key="page-checkout")
    assert (experiment.source_id, experiment.source_experiment_id) == (source.pk, EXPERIMENT_ID)
    edit = client.get(reverse("experiments_web:edit", args=[experiment.key])).content.decode()
    assert f'<option value="{source.pk}" selected>' in edit
    detail = client.get(reverse("experiments_web:detail", args=[experiment.key])).content.decode()
    assert reverse("metrics_web:source", kwargs={"source_id": source.pk}) in detail


def test_the_exposure_sync_leaves_out_experiments_read_from_a_source(
    workspace, root, data, monkeypatch
):
    from experiments.services.exposures import exposures_sync_request_running

    queued: list[list] = []
    monkeypatch.setattr(
        "experiments.services.exposures.task_enqueue",
        lambda name, args: queued.append(args),
    )
    _experiment(workspace, _source(workspace, root, data, "duckdb"))

    assert exposures_sync_request_running() == 0
    assert queued == []


# --- a workspace whose own ingestion is routed to DuckDB or ClickHouse --------------------------
@pytest.mark.parametrize("store", ["duckdb", "clickhouse"])
def test_an_experiment_in_a_routed_store_is_analysed_there(
    store, workspace, data, no_queue, settings, tmp_path
):
    """The same events and exposures, sent through ingestion to the workspace's own store (the
    exposures as the SDK's ``$exposure`` events): the same statistics as the brute force."""
    from metrics.stores import clickhouse_store_close
    from plg_platform.models import Event
    from plg_platform.services.ingestion import events_ingest

    settings.METRICS_STORE_DIR = str(tmp_path / "stores")
    settings.METRICS_CLICKHOUSE_URL = f"chdb://{tmp_path / 'clickhouse'}"
    workspace.event_store = store
    workspace.save(update_fields=["event_store"])
    sent = []
    for e in data.events:
        properties = {
            k: v for k, v in json.loads(e.payload).items() if k not in ("plan", "revenue")
        }
        properties.update(
            {k: v for k, v in (("plan", e.plan), ("revenue", e.revenue)) if v is not None}
        )
        sent.append(
            {
                "event": e.event_name,
                "distinct_id": str(e.account_user),
                "timestamp": e.occurred_at.isoformat(),
                "properties": properties,
            }
        )
    for x in data.exposures:
        sent.append(
            {
                "event": "$exposure",
                "distinct_id": x.user_id,
                "timestamp": x.timestamp.isoformat(),
                "properties": {"experiment": x.experiment_id, "variant": x.variation_id},
            }
        )
    try:
        for i in range(0, len(sent), 1000):
            assert events_ingest(workspace=workspace, raw_events=sent[i : i + 1000]).rejected == []
        experiment = _experiment(workspace, None, key=EXPERIMENT_ID)

        snapshot = _run(experiment)
    finally:
        clickhouse_store_close()

    assert Event.objects.filter(workspace=workspace).count() == 0
    assert snapshot is not None
    expected = reference(data, CUPED_PRE_PERIOD_DAYS)
    got = _overall(snapshot)
    assert set(got) == set(expected)
    for key, want in expected.items():
        for name in ("units", "immature_units", "n"):
            assert got[key][name] == want[name], (key, name)
        for name in ("sum", "sum_squares", "covariate_sum", "covariate_sum_product"):
            assert math.isclose(got[key][name], want[name], rel_tol=1e-9, abs_tol=1e-9), key
    population = _population(data)
    units = {v: sum(1 for variant, _ in population.values() if variant == v) for v in VARIANTS}
    assert snapshot.health["srm"]["counts"] == units
