"""Pages of the outcomes app: ``okrs`` (the OKR board, objectives, key results) and ``kpis``
(the KPI dashboard, settings, PQLs, recompute); ``base`` holds what they share."""
