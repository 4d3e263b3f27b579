"""The metric layer's API, one module per resource: ``metrics`` (definitions), ``values``."""
