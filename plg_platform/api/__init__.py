"""The platform's HTTP API: thin DRF views that validate, call a service and serialize."""
