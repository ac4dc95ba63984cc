"""The persons' daily totals summed from the records once a day's reporting window has closed (ADR 0021).

Until now a chunk upserted the totals of every day it loaded. From here on, a day's totals are its records
until the day is summed (`SummedDay`), and `PersonDay` holds the summed days only. So the rows of the days
whose records are still kept are deleted (the records say the same), and the older days, whose records were
dropped, are marked summed.
"""

from django.db import migrations, models
from django.db.models import Count, Min


def split_days(apps, schema_editor):
    PersonDay = apps.get_model("behaviour", "PersonDay")
    BehaviourRecord = apps.get_model("behaviour", "BehaviourRecord")
    SummedDay = apps.get_model("behaviour", "SummedDay")
    first_kept = BehaviourRecord.objects.aggregate(first=Min("day"))["first"]
    if first_kept is not None:
        PersonDay.objects.filter(day__gte=first_kept).delete()
    days = PersonDay.objects.values("day").annotate(rows=Count("*")).order_by("day")
    SummedDay.objects.bulk_create([SummedDay(day=d["day"], person_days=d["rows"]) for d in days])


def unsplit_days(apps, schema_editor):
    """Back: the days not summed are summed now (all of them, as the chunks did)."""
    last = apps.get_model("behaviour", "SummedDay").objects.aggregate(last=models.Max("day"))["last"]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO behaviour_personday (day, platform_id, scenario_id, person, account_id, records, grams) "
            "SELECT day, platform_id, scenario_id, person, MAX(account_id), COUNT(*), SUM(grams) "
            "FROM behaviour_behaviourrecord WHERE day > %s GROUP BY day, platform_id, scenario_id, person",
            [last or "0001-01-01"],
        )


class Migration(migrations.Migration):

    dependencies = [
        ('behaviour', '0008_keys_compared_by_bytes'),
        ('registry', '0005_platform_operators'),
    ]

    operations = [
        migrations.CreateModel(
            name='SummedDay',
            fields=[
                ('day', models.DateField(primary_key=True, serialize=False, verbose_name='day')),
                ('summed_at', models.DateTimeField(auto_now_add=True, verbose_name='summed')),
                ('person_days', models.PositiveBigIntegerField(verbose_name="persons' daily totals")),
            ],
            options={
                'verbose_name': 'summed day',
                'verbose_name_plural': 'summed days',
            },
        ),
        migrations.AddIndex(
            model_name='behaviourrecord',
            index=models.Index(fields=['person', 'scenario', 'platform', 'day'], name='record_person_day_idx'),
        ),
        migrations.RunPython(split_days, unsplit_days),
    ]
