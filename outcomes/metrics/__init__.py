"""The metric layer: definitions, the SQL metric compiler and its runner.

``definition`` validates a metric into a frozen ``MetricDefinition``; ``compiler`` builds one
SQL statement (with sqlglot) computing sufficient statistics per group inside the database;
``runner`` executes it on a Django connection and returns ``MetricStatistics``.
"""
