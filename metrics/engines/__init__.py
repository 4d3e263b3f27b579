"""Engines that run the metric layer's statements (see ``base``); SQL is built in
``metrics.engine`` (no Django), run here."""

from metrics.engines.base import Engine, EngineError, ScanStats

__all__ = ["Engine", "EngineError", "ScanStats"]
