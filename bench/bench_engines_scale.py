"""An experiment over 200,000,000 events / 10,000,000 units / 20 metrics with CUPED, read from
Parquet by DuckDB and chdb, in our process, on this machine.

Run: .venv/bin/python bench/bench_engines_scale.py [--units N] [--events-per-unit E]
                                                   [--engines duckdb,chdb] [--memory-limit 4GB]
                                                   [--quick]

A warehouse-shaped data set is generated once under ``var/bench/scale/`` (numpy, seeded,
written in chunks, never held whole in memory): an events folder of Parquet files (``user_id``,
``event``, ``timestamp_us``, a typed ``amount`` column) and a GrowthBook-shaped exposures file
(``experiment_id``, ``variation_id``, ``user_id``, ``timestamp``). The events come in four
quarters, each holding a quarter of every unit's events, so the same 10,000,000 units can be
analysed over 50, 100 or 200 million events: memory is then shown flat in the number of events.

Each measurement runs in a fresh process (``--child``): it opens the engine on the Parquet files
(DuckDB: ``DuckDBEngine(folder=...)`` makes each file or folder a view; chdb: views over
``file()``), computes the 20 metrics with a 14-day CUPED covariate through
``metrics.runner.compute_metric_statistics`` (one statement; exposures from the source, the
warehouse-native path), and reports its wall time and its peak memory (VmHWM: the engines run
in our process, so their memory is ours; each is given ``--memory-limit`` and spills to disk
under ``var/bench/scale/tmp`` beyond it). The engines' results are checked equal (1e-9).

One file on purpose, like every ``bench/bench_*.py``: ``bench/run.py`` runs each script as a
standalone process, and its data generation, engine loading, hand-written reference statements
and timing belong to this one measurement and are shared with no other module.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCALE_DIR = ROOT / "var" / "bench" / "scale"
ENGINES = ("duckdb", "chdb")
DAY_US = 86_400_000_000
ORIGIN_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
EXPOSURE_DAYS = 60  # units are first exposed over 60 days
CUTOFF_US = ORIGIN_US + 100 * DAY_US  # every unit's 30-day window has passed
COVARIATE_DAYS = 14
QUARTERS = 4
CHUNK_UNITS = 500_000
EXPERIMENT = "scale-checkout"
TARGET_SECONDS = 60.0
TOLERANCE = 1e-9
DISK_BUDGET_GB = 15.0
KINDS = ("page_view", "session", "doc", "search", "invite", "upgrade")
KIND_P = (0.30, 0.30, 0.25, 0.08, 0.04, 0.03)

SPECS: list[dict[str, Any]] = [
    {"key": "aha_7d", "type": "conversion", "event": "doc", "window_days": 7},
    {"key": "aha_14d", "type": "conversion", "event": "doc", "window_days": 14},
    {"key": "docs_14d", "type": "count", "event": "doc", "window_days": 14},
    {
        "key": "docs_30d_capped",
        "type": "count",
        "event": "doc",
        "window_days": 30,
        "cap_type": "absolute",
        "cap_value": 8,
    },
    {"key": "sessions_7d", "type": "count", "event": "session", "window_days": 7},
    {"key": "sessions_30d", "type": "count", "event": "session", "window_days": 30},
    {"key": "revenue", "type": "sum", "event": "upgrade", "property": "amount", "window_days": 30},
    {
        "key": "order_value",
        "type": "mean",
        "event": "upgrade",
        "property": "amount",
        "window_days": 30,
    },
    {
        "key": "revenue_per_session",
        "type": "ratio",
        "event": "upgrade",
        "property": "amount",
        "denominator_event": "session",
        "window_days": 30,
    },
    {"key": "d1", "type": "retention", "event": "session", "retention_start_day": 1},
    {
        "key": "w2",
        "type": "retention",
        "event": "session",
        "retention_start_day": 7,
        "retention_end_day": 13,
    },
    {
        "key": "w3",
        "type": "retention",
        "event": "session",
        "retention_start_day": 14,
        "retention_end_day": 20,
    },
    {
        "key": "habit",
        "type": "moment",
        "event": "doc",
        "window_days": 10,
        "min_count": 3,
        "min_distinct_days": 2,
    },
    {"key": "ttv", "type": "time_to_event", "event": "doc", "window_days": 14},
    {"key": "time_to_upgrade", "type": "time_to_event", "event": "upgrade", "window_days": 30},
    {"key": "upgraded", "type": "conversion", "event": "upgrade", "window_days": 30},
    {"key": "invites", "type": "count", "event": "invite", "window_days": 30},
    {"key": "invited", "type": "conversion", "event": "invite", "window_days": 14},
    {"key": "searches_7d", "type": "count", "event": "search", "window_days": 7},
    {"key": "page_views", "type": "count", "event": "page_view", "window_days": 30},
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- data ------------------------------------------------------------------------------------
def data_dir(units: int, events_per_unit: int) -> Path:
    return SCALE_DIR / f"u{units}_e{events_per_unit}"


def _write_exposures(folder: Path, units: int, rng: Any) -> Any:
    """Each unit's exposure (time and variation); return the exposure times (µs)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    exposed = ORIGIN_US + (rng.random(units) * EXPOSURE_DAYS * DAY_US).astype(np.int64)
    variation = np.where(rng.random(units) < 0.5, "control", "treatment")
    table = pa.table(
        {
            "experiment_id": pa.array(np.full(units, EXPERIMENT)),
            "variation_id": pa.array(variation),
            "user_id": pc.binary_join_element_wise(
                "u", pc.cast(pa.array(np.arange(units)), pa.string()), ""
            ),
            "timestamp": pa.array(exposed, pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, folder / "exposures.parquet", compression="zstd")
    return exposed


def _events_chunk(first: int, exposed: Any, per_unit: int, rng: Any) -> Any:
    """``per_unit`` events for each unit of the chunk, from 20 days before its exposure to 40
    after, as an Arrow table."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    count = exposed.size
    owner = np.repeat(np.arange(count), per_unit)
    offsets = (rng.random(owner.size) * 60 - 20) * DAY_US
    kind = rng.choice(np.array(KINDS), owner.size, p=KIND_P)
    amount = np.round(rng.gamma(2.0, 30.0, owner.size), 2)
    return pa.table(
        {
            "user_id": pc.binary_join_element_wise(
                "u", pc.cast(pa.array(owner + first), pa.string()), ""
            ),
            "event": pa.array(kind),
            "timestamp_us": pa.array(exposed[owner] + offsets.astype(np.int64)),
            "amount": pa.array(amount, mask=kind != "upgrade"),
        }
    )


def ensure_data(units: int, events_per_unit: int, seed: int = 7) -> Path:
    """Write the exposures and the four quarters of events once; return the folder."""
    import numpy as np
    import pyarrow.parquet as pq

    folder = data_dir(units, events_per_unit)
    done = folder / "complete.json"
    if done.exists():
        return folder
    if events_per_unit % QUARTERS:
        raise SystemExit(f"--events-per-unit must be a multiple of {QUARTERS}")
    free_gb = shutil.disk_usage(ROOT).free / 2**30
    needed_gb = units * events_per_unit * 14 / 2**30  # about 14 bytes per event in Parquet
    if needed_gb > DISK_BUDGET_GB or free_gb < needed_gb + 5:
        raise SystemExit(f"needs about {needed_gb:.1f} GB of disk; {free_gb:.0f} GB free")
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "events").mkdir(parents=True)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    exposed = _write_exposures(folder, units, rng)
    for quarter in range(QUARTERS):
        for first in range(0, units, CHUNK_UNITS):
            chunk = exposed[first : first + CHUNK_UNITS]
            table = _events_chunk(first, chunk, events_per_unit // QUARTERS, rng)
            pq.write_table(
                table,
                folder / "events" / f"q{quarter}_{first // CHUNK_UNITS:04d}.parquet",
                compression="zstd",
                row_group_size=1_000_000,
            )
        log(f"generated quarter {quarter + 1}/{QUARTERS} ({time.perf_counter() - started:.0f} s)")
    done.write_text(json.dumps({"units": units, "events_per_unit": events_per_unit}))
    return folder


def source_folder(folder: Path, quarters: int) -> Path:
    """A folder of links (``events/`` with the first ``quarters`` quarters, the exposures)
    that an engine opens as its source."""
    view = folder / f"q{quarters}"
    if not view.exists():
        (view / "events").mkdir(parents=True)
        (view / "exposures.parquet").symlink_to(folder / "exposures.parquet")
        for part in sorted((folder / "events").glob("*.parquet")):
            if int(part.name[1]) < quarters:
                (view / "events" / part.name).symlink_to(part)
    return view


# --- one measurement, in a fresh process -----------------------------------------------------
def open_engine(name: str, source: Path, memory_limit: str) -> Any:
    """The engine over the source folder's Parquet files, with a memory limit and a spill dir."""
    spill = SCALE_DIR / "tmp"
    spill.mkdir(parents=True, exist_ok=True)
    if name == "duckdb":
        from metrics.engines.duckdb import DuckDBEngine

        engine = DuckDBEngine(folder=str(source), memory_limit=memory_limit)
        engine.command("SET temp_directory = $d", {"d": str(spill)})
        engine.command("SET preserve_insertion_order = false")
        return engine
    from metrics.engines.clickhouse import ChdbEngine

    engine = ChdbEngine()
    limit = _bytes(memory_limit)
    engine.command(f"SET max_memory_usage = {limit}")
    engine.command(f"SET max_bytes_before_external_group_by = {limit // 2}")
    # The hash join holds the population (one row per unit; the events stream past it).
    engine.command(f"SET max_bytes_in_join = {limit // 2}")
    for view, target in (
        ("events", source / "events" / "*.parquet"),
        ("exposures", source / "exposures.parquet"),
    ):
        engine.command(f"CREATE OR REPLACE VIEW {view} AS SELECT * FROM file('{target}', Parquet)")
    return engine


def _bytes(size: str) -> int:
    units = {"KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40}
    text = size.strip().upper()
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def child(name: str, source: Path, memory_limit: str) -> None:
    """Compute the 20 metrics once; print one JSON line (times, peak memory, results)."""
    started = time.perf_counter()
    from metrics.engine.definition import parse_definition
    from metrics.engine.event_tables import EventTable, ExposureTable
    from metrics.engine.populations import ExposurePopulation
    from metrics.runner import compute_metric_statistics

    events = EventTable(
        table="events",
        event_column="event",
        unit_column="user_id",
        timestamp_column="timestamp_us",
        time_type="micros",
        properties_column="",
        property_columns=(("amount", "amount"),),
        workspace_column="",
        persons_table="",
    )
    population = ExposurePopulation(
        exposures=ExposureTable(
            table="exposures",
            experiment_id=EXPERIMENT,
            unit_column="user_id",
            timestamp_column="timestamp",
            time_type="timestamp",
        )
    )
    engine = open_engine(name, source, memory_limit)
    opened = time.perf_counter()
    stats = compute_metric_statistics(
        workspace_id=0,
        metrics=[parse_definition(s) for s in SPECS],
        population=population,
        cutoff_us=CUTOFF_US,
        covariate_days=COVARIATE_DAYS,
        engine=engine,
        events=events,
    )
    finished = time.perf_counter()
    status = Path("/proc/self/status").read_text()
    peak_kib = int(
        next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    )
    print(
        json.dumps(
            {
                "seconds": finished - started,
                "statement_seconds": finished - opened,
                "peak_mib": peak_kib / 1024,
                "units": sum(s.units for s in stats if s.metric == SPECS[0]["key"]),
                "results": [
                    [
                        s.metric,
                        s.group,
                        s.units,
                        s.n,
                        s.sum,
                        s.sum_squares,
                        s.covariate_sum,
                        s.covariate_sum_product,
                        s.denominator_sum,
                    ]
                    for s in sorted(stats, key=lambda s: (s.metric, s.group))
                ],
            }
        )
    )


def measure(name: str, source: Path, memory_limit: str) -> dict[str, Any]:
    """Run ``child`` in a fresh process; return what it printed."""
    out = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, __file__, "--child", name, str(source), "--memory-limit", memory_limit],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"{name} on {source} failed (exit {out.returncode}):\n{tail}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _same(a: list[Any], b: list[Any]) -> bool:
    for row_a, row_b in zip(a, b, strict=True):
        for x, y in zip(row_a, row_b, strict=True):
            if isinstance(x, str) or x is None or y is None:
                if x != y:
                    return False
            elif abs(x - y) > TOLERANCE * max(1.0, abs(y)):
                return False
    return len(a) == len(b)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=10_000_000)
    parser.add_argument("--events-per-unit", type=int, default=20)
    # chdb is on request: within 4 GB it does not finish at 100 M events (docs/benchmarks.md).
    parser.add_argument("--engines", default="duckdb", help="comma-separated: duckdb,chdb")
    parser.add_argument("--memory-limit", default="4GB", help="for each engine (DuckDB, chdb)")
    parser.add_argument("--quick", action="store_true", help="500,000 units, 8 events each")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.memory_limit)
        return 0
    if args.quick:
        args.units, args.events_per_unit = 500_000, 8
    names = [n.strip() for n in args.engines.split(",") if n.strip()]
    if set(names) - set(ENGINES):
        parser.error(f"engines are among: {', '.join(ENGINES)}")

    folder = ensure_data(args.units, args.events_per_unit)
    size_gb = sum(p.stat().st_size for p in folder.rglob("*.parquet") if not p.is_symlink())
    print(f"scale_units: {args.units}")
    print(f"scale_events: {args.units * args.events_per_unit}")
    print(f"scale_metrics: {len(SPECS)} (CUPED covariate over {COVARIATE_DAYS} days)")
    print(f"scale_parquet_gib: {size_gb / 2**30:.1f}")
    print(f"scale_memory_limit_per_engine: {args.memory_limit}")
    peaks: dict[str, dict[int, float]] = {name: {} for name in names}
    for quarters in (1, 2, QUARTERS):
        source = source_folder(folder, quarters)
        events = args.units * args.events_per_unit * quarters // QUARTERS
        label = f"{events // 1_000_000}m" if events >= 1_000_000 else str(events)
        first: list[Any] | None = None
        for name in names:
            log(f"{name}: {events} events ...")
            result = measure(name, source, args.memory_limit)
            if result["units"] != args.units:
                log(f"!! {name}: {result['units']} units counted, expected {args.units}")
                return 1
            if first is None:
                first = result["results"]
            elif not _same(result["results"], first):
                log(f"!! {name}: results differ from {names[0]}'s at {events} events")
                return 1
            peaks[name][events] = result["peak_mib"]
            print(f"scale_{name}_{label}_events_seconds: {result['seconds']:.1f}")
            print(
                f"scale_{name}_{label}_events_statement_seconds: {result['statement_seconds']:.1f}"
            )
            print(f"scale_{name}_{label}_events_peak_rss_mib: {result['peak_mib']:.0f}")
    for name in names:
        by_events = sorted(peaks[name].items())
        (low, low_mib), (high, high_mib) = by_events[0], by_events[-1]
        print(
            f"scale_{name}_peak_rss_ratio_{high // 1_000_000}m_vs_{low // 1_000_000}m: "
            f"{high_mib / low_mib:.2f} (events ratio {high / low:.0f})"
        )
    if len(names) > 1:
        print(f"scale_results_equal_across_engines: {','.join(names)} (relative {TOLERANCE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
