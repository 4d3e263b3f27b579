"""Objectives and key results: key results bound to metrics, measured through the metric layer,
with baselines, check-ins, initiatives and linked experiments."""
