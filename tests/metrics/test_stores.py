"""Ingestion routed to a columnar store: DuckDB over Parquet parts, or ClickHouse (chdb here).

Events go through the real ingestion API; nothing lands in the app database; a retried batch
is stored once; and the metric layer, run on the workspace's engine, gives the brute-force
reference's numbers.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from metrics.engine.populations import FirstSeenPopulation
from metrics.runner import compute_metric_statistics
from metrics.stores import (
    COMPACT_AFTER_PARTS,
    DuckDBFolderEngine,
    clickhouse_store_close,
    engine_for_workspace,
    store_folder,
)
from plg_platform.models import Event, EventStore, Person
from plg_platform.services.ingestion import events_ingest, persons_identify
from tests.metrics.reference import (
    CUTOFF_US,
    DEFINITIONS,
    assert_equal,
    brute_force,
    first_seen,
    generate_events,
)

pytestmark = pytest.mark.django_db
URL = "/api/v1/events/batch"


@pytest.fixture(params=[EventStore.DUCKDB, EventStore.CLICKHOUSE])
def routed(request, workspace, settings, tmp_path):
    settings.METRICS_STORE_DIR = str(tmp_path / "stores")
    settings.METRICS_CLICKHOUSE_URL = f"chdb://{tmp_path / 'clickhouse'}"
    workspace.event_store = request.param
    workspace.save(update_fields=["event_store"])
    yield workspace
    clickhouse_store_close()


def test_api_ingestion_goes_to_the_store_once_per_insert_id(routed, ingestion_client):
    raw, _ = generate_events(seed=11, units=12)
    first = ingestion_client.post(URL, {"events": raw[:40] + raw[:5]}, format="json")
    again = ingestion_client.post(URL, {"events": raw[:40]}, format="json")

    assert first.status_code == 200, first.content
    assert first.json() == {"accepted": 40, "duplicates": 5, "rejected": []}
    assert again.json() == {"accepted": 0, "duplicates": 40, "rejected": []}
    assert Event.objects.filter(workspace=routed).count() == 0
    engine = engine_for_workspace(routed)
    rows = engine.execute("SELECT count(*), count(DISTINCT insert_id) FROM plg_platform_event", {})
    assert [int(v) for v in rows[0]] == [40, 40]


def test_metrics_on_the_store_match_brute_force(routed):
    raw, plans = generate_events(seed=20261124)
    for i in range(0, len(raw), 400):
        assert events_ingest(workspace=routed, raw_events=raw[i : i + 400]).rejected == []
    persons_identify(workspace=routed, traits=[(u, {"plan": "x"}) for u in plans])
    persons_identify(workspace=routed, traits=[(u, {"plan": p}) for u, p in plans.items()])
    assert Person.objects.filter(workspace=routed).count() == 0

    engine = engine_for_workspace(routed)
    stats = compute_metric_statistics(
        workspace_id=routed.id,
        metrics=DEFINITIONS,
        population=FirstSeenPopulation(event="signup", segment_property="plan"),
        cutoff_us=CUTOFF_US,
        engine=engine,
    )
    population = {
        u: (s, plans[u]) for u, s in first_seen(raw, "signup").items()
    }  # later traits win, key by key
    by_key = {(s.metric, s.segment): s for s in stats}
    for m in DEFINITIONS:
        for segment, expected in brute_force(raw, m, population).items():
            assert_equal(by_key[(m.key, segment)], expected, f"{m.key}/{segment}")


def test_duckdb_store_compacts_parts_and_concurrent_writers_store_each_id_once(
    workspace, settings, tmp_path
):
    settings.METRICS_STORE_DIR = str(tmp_path / "stores")
    workspace.event_store = EventStore.DUCKDB
    workspace.save(update_fields=["event_store"])
    raw, _ = generate_events(seed=3, units=40)
    batches = [raw[i : i + 4] for i in range(0, 4 * (COMPACT_AFTER_PARTS + 8), 4)]
    assert len(raw) >= 4 * (COMPACT_AFTER_PARTS + 8)
    accepted = []

    def send(chunk):
        accepted.append(events_ingest(workspace=workspace, raw_events=chunk).accepted)

    threads = [threading.Thread(target=send, args=(b,)) for b in batches + batches[:10]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    expected = sum(len(b) for b in batches)
    assert sum(accepted) == expected
    parts = list((store_folder(workspace.pk) / "events").glob("part-*.parquet"))
    assert len(parts) <= COMPACT_AFTER_PARTS
    engine = DuckDBFolderEngine(store=str(store_folder(workspace.pk)))
    assert engine.execute("SELECT count(*) FROM plg_platform_event", {})[0][0] == expected


def test_experiment_exposures_come_from_the_stores_exposure_events(routed):
    """A routed workspace's experiment population: the ``$exposure`` events in its store."""
    from metrics.engine.populations import ExposurePopulation
    from metrics.stores import store_exposures
    from tests.metrics.reference import CUTOFF

    raw, _ = generate_events(seed=20261124)
    starts = first_seen(raw, "signup")
    exposures = []
    for i, (unit, start) in enumerate(sorted(starts.items())):
        at = datetime.fromtimestamp(start / 1e6, UTC) + timedelta(hours=i % 30)
        for n, variant in enumerate(["a", "b" if i % 13 == 0 else "a"] if i % 2 else ["b"]):
            exposures.append(
                {
                    "event": "$exposure",
                    "distinct_id": unit,
                    "timestamp": (at + timedelta(hours=n)).isoformat(),
                    "insert_id": f"x{i}-{n}",
                    "properties": {"experiment": "exp-1" if i % 5 else "exp-2", "variant": variant},
                }
            )
    exposures.append(  # after the cut-off: never in the population
        {
            "event": "$exposure",
            "distinct_id": "u1",
            "timestamp": CUTOFF.isoformat(),
            "properties": {"experiment": "exp-1", "variant": "b"},
        }
    )
    for i in range(0, len(raw), 400):
        events_ingest(workspace=routed, raw_events=raw[i : i + 400])
    assert events_ingest(workspace=routed, raw_events=exposures).accepted == len(exposures)

    stats = compute_metric_statistics(
        workspace_id=routed.id,
        metrics=DEFINITIONS[:4],
        population=ExposurePopulation(exposures=store_exposures("exp-1")),
        cutoff_us=CUTOFF_US,
        engine=engine_for_workspace(routed),
    )
    # The reference, from the exposure events as sent: first exposure, one variant only.
    from plg_platform.services.ingestion import to_epoch_us

    seen: dict[str, list[tuple[int, str]]] = {}
    for e in exposures:
        t = to_epoch_us(datetime.fromisoformat(e["timestamp"]))
        if e["properties"]["experiment"] == "exp-1" and t < CUTOFF_US:
            seen.setdefault(e["distinct_id"], []).append((t, e["properties"]["variant"]))
    population = {
        u: (min(hits)[0], min(hits)[1])
        for u, hits in seen.items()
        if len({v for _, v in hits}) == 1
    }
    assert len(population) < len(seen)  # units exposed to both variants are left out
    by_key = {(s.metric, s.group): s for s in stats}
    for m in DEFINITIONS[:4]:
        for variant, expected in brute_force(raw, m, population).items():
            assert_equal(by_key[(m.key, variant)], expected, f"{m.key}/{variant}")


def test_events_list_api_and_home_page_read_the_store(routed, editor, ingestion_client):
    from django.test import Client

    raw, _ = generate_events(seed=12, units=10)
    ingestion_client.post(URL, {"events": raw}, format="json")
    signups = sorted(
        (e for e in raw if e["event"] == "signup"), key=lambda e: e["timestamp"], reverse=True
    )

    page = editor.client.get("/api/v1/events/", {"event": "signup", "limit": 3, "offset": 1})
    assert page.status_code == 200, page.content
    body = page.json()
    assert body["count"] == len(signups)
    assert [e["insert_id"] for e in body["results"]] == [e["insert_id"] for e in signups[1:4]]
    assert body["results"][0]["id"] is None
    assert body["results"][0]["timestamp"] == datetime.fromisoformat(
        signups[1]["timestamp"]
    ).astimezone(UTC).isoformat()

    browser = Client()
    browser.force_login(editor.user)
    home = browser.get("/")
    assert home.status_code == 200
    assert home.context["is_empty"] is False
    assert [item.done for item in home.context["checklist"] if item.key == "event"] == [True]
