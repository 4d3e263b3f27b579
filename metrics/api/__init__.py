"""The metric layer's API, one module per resource: ``metrics`` (definitions), ``values``,
``sources`` (event sources and their dry run)."""
