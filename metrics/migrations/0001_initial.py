"""The Metric model moves from outcomes to metrics: state only, the table ``outcomes_metric``
stays as it is (outcomes 0003 removes the model from its own state)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("outcomes", "0002_okrs_and_kpis"),
        ("plg_platform", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Metric",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("key", models.SlugField(max_length=100)),
                        ("name", models.CharField(max_length=200)),
                        ("description", models.TextField(blank=True)),
                        (
                            "type",
                            models.CharField(
                                choices=[
                                    ("conversion", "Conversion (did the event within the window)"),
                                    ("count", "Count of events per unit"),
                                    ("sum", "Sum of a numeric property per unit"),
                                    ("mean", "Mean of a numeric property over a unit's events"),
                                    ("ratio", "Ratio of two per-unit sums"),
                                    ("retention", "Retention (active on day N, or days N..M)"),
                                    (
                                        "moment",
                                        "Success moment (K times, on M distinct days, within D days)",
                                    ),
                                    ("time_to_event", "Time to event (time to value)"),
                                ],
                                max_length=20,
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("value_creation", "Value creation (team goal)"),
                                    ("value_capture", "Value capture (revenue, for finance)"),
                                ],
                                default="value_creation",
                                max_length=20,
                            ),
                        ),
                        (
                            "direction",
                            models.CharField(
                                choices=[("increase", "Up is good"), ("decrease", "Down is good")],
                                default="increase",
                                max_length=10,
                            ),
                        ),
                        (
                            "unit",
                            models.CharField(
                                choices=[
                                    ("user", "User (distinct id)"),
                                    ("account", "Account (through a unit property)"),
                                ],
                                default="user",
                                max_length=10,
                            ),
                        ),
                        (
                            "unit_property",
                            models.CharField(
                                blank=True,
                                help_text="For account units: the unit property holding the account id.",
                                max_length=100,
                            ),
                        ),
                        (
                            "tags",
                            models.JSONField(
                                blank=True,
                                default=list,
                                help_text="e.g. ['acquisition'], ['retention'].",
                            ),
                        ),
                        (
                            "event",
                            models.CharField(
                                blank=True,
                                help_text="Empty means any event (retention only).",
                                max_length=200,
                            ),
                        ),
                        (
                            "filters",
                            models.JSONField(
                                blank=True,
                                default=list,
                                help_text="[{'property', 'op', 'value'}] on the event.",
                            ),
                        ),
                        (
                            "property",
                            models.CharField(
                                blank=True,
                                help_text="Numeric property for sum, mean and ratio.",
                                max_length=100,
                            ),
                        ),
                        (
                            "window_days",
                            models.PositiveIntegerField(
                                blank=True,
                                help_text="Days after the unit's start that count.",
                                null=True,
                            ),
                        ),
                        ("denominator_event", models.CharField(blank=True, max_length=200)),
                        ("denominator_filters", models.JSONField(blank=True, default=list)),
                        (
                            "denominator_property",
                            models.CharField(
                                blank=True,
                                help_text="Empty: count the denominator events.",
                                max_length=100,
                            ),
                        ),
                        ("retention_start_day", models.PositiveIntegerField(blank=True, null=True)),
                        ("retention_end_day", models.PositiveIntegerField(blank=True, null=True)),
                        ("min_count", models.PositiveIntegerField(blank=True, null=True)),
                        ("min_distinct_days", models.PositiveIntegerField(blank=True, null=True)),
                        (
                            "cap_type",
                            models.CharField(
                                choices=[
                                    ("none", "No capping"),
                                    ("absolute", "Absolute cap"),
                                    (
                                        "percentile",
                                        "Percentile winsorisation (computed from the data)",
                                    ),
                                ],
                                default="none",
                                max_length=12,
                            ),
                        ),
                        (
                            "cap_value",
                            models.FloatField(
                                blank=True,
                                help_text="The cap, or the percentile in (0, 1) to winsorise at.",
                                null=True,
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "workspace",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="metrics",
                                to="plg_platform.workspace",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "outcomes_metric",
                        "ordering": ["key"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("workspace", "key"), name="metric_unique_key"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("cap_type", "none"),
                                    ("cap_value__isnull", False),
                                    _connector="OR",
                                ),
                                name="metric_cap_has_value",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("unit", "user"),
                                    models.Q(("unit_property", ""), _negated=True),
                                    _connector="OR",
                                ),
                                name="metric_account_unit_has_property",
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
