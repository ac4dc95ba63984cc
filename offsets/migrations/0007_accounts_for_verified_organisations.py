"""Every verified organisation gets its holding account, and every issuance so far its `issued` movement,
so that statements and verify_ledger's movement check hold for what was registered before movements."""

from django.db import migrations


def forwards(apps, schema_editor):
    Organisation = apps.get_model("registry", "Organisation")
    Account = apps.get_model("offsets", "Account")
    Issuance = apps.get_model("offsets", "Issuance")
    Movement = apps.get_model("offsets", "Movement")
    for organisation in Organisation.objects.filter(status="verified", account__isnull=True).order_by("pk"):
        Account.objects.create(organisation=organisation, number=f"WHA-{organisation.pk:08d}")
    Movement.objects.bulk_create(
        Movement(
            account_id=issuance.account_id,
            kind="issued",
            quantity=issuance.quantity,
            ranges=[[issuance.first_unit, issuance.last_unit]],
            serials=issuance.serial,
            reference=issuance.serial,
            at=issuance.registered_at,
        )
        for issuance in Issuance.objects.order_by("first_unit")
    )


class Migration(migrations.Migration):
    dependencies = [("offsets", "0006_ledger_movements_transfers_retirements_compliance")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
