"""The KPI library's API, one module per resource, each view with its serializers beside it."""
