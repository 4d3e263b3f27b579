"""The OKR API, one module per resource, each view with its serializers beside it."""
