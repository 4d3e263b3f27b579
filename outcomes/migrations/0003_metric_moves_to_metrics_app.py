"""Metric moves to the metrics app (the same table, ``outcomes_metric``): state only."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0004_metric_moves_to_metrics_app"),
        ("metrics", "0001_initial"),
        ("outcomes", "0002_okrs_and_kpis"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="keyresult",
                    name="metric",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="key_results",
                        to="metrics.metric",
                    ),
                ),
                migrations.DeleteModel(
                    name="Metric",
                ),
            ],
            database_operations=[],
        ),
    ]
