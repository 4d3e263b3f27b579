"""The KPI library: product-led KPIs computed from events inside the database, cached in
``KpiValue`` by Celery, and read from the cache by the dashboard and the API."""
