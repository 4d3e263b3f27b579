"""The metric layer: metric definitions, the SQL engine that computes them, their API.

``engine/`` is pure (definitions, the sqlglot compiler, SQL helpers); ``runner`` executes a
compiled statement on a Django connection; ``series`` gives a metric's cohort series;
``models``, ``services``, ``selectors`` and ``api/`` store and serve definitions. Other apps
import only ``metrics.public``.
"""
