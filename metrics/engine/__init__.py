"""The metric engine: definitions, the SQL metric compiler and the SQL helpers it is built from.

``definition`` validates a metric into a frozen ``MetricDefinition``; ``populations`` says who
it is computed over; ``compiler`` builds one SQL statement (with sqlglot) computing sufficient
statistics per group inside the database; ``sql``, ``json_access`` and ``templates`` are the
pieces every statement of the metric layer is built from. Pure Python and sqlglot: nothing
here imports Django (an import-linter contract keeps it so); ``metrics.runner`` executes.
"""
