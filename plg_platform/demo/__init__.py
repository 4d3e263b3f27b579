"""Deterministic demo and test data: a document tool's users and their product events.

``generate(config)`` streams batches of events and persons (no Django involved), so tests and
benchmarks can reuse the data without writing it; ``plg_platform.demo.writer`` stores it
through the ingestion service. The planted effects are in ``planted`` and ``docs/demo-data.md``.
"""

from plg_platform.demo.config import DemoBatch, DemoConfig, DemoEvent, DemoPerson
from plg_platform.demo.generator import generate, generate_events, generate_persons

__all__ = [
    "DemoBatch",
    "DemoConfig",
    "DemoEvent",
    "DemoPerson",
    "generate",
    "generate_events",
    "generate_persons",
]
