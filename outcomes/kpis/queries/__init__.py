"""SQL of the KPI library, one module per family: ``activity``, ``cohorts``, ``voice``,
``revenue`` and ``leads``, each statement running inside the database and returning aggregates
only. ``statement`` holds what they share.

Statements are fixed templates parsed once by sqlglot and rendered per dialect; every value
that comes from a workspace (event and property names, windows, thresholds, ids) is a bound
parameter. Nothing here touches Django: ``outcomes.kpis.compute`` executes the statements.
"""
