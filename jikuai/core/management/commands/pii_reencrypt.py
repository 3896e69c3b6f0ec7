"""Re-encrypt every encrypted column to the newest PII key (key rotation).

Add the new key at the end of JIKUAI_PII_KEYS ("old:hex,new:hex"), deploy, run this command, then remove
the old key. Rows are processed in id chunks, each chunk in its own transaction; a rerun only touches rows
still on an older key.
"""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from jikuai.core import crypto
from jikuai.core.fields import EncryptedTextField


def encrypted_fields():
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            yield model, fields


def reencrypt_model(model, fields, *, chunk: int = 500) -> int:
    current = crypto.current_key_id()
    prefix = f"{crypto.PREFIX}:{current}:"
    changed = 0
    last_id = 0
    manager = model._base_manager
    while True:
        with transaction.atomic():
            ids = list(manager.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:chunk])
            if not ids:
                break
            last_id = ids[-1]
            # Raw values straight from the column: from_db_value would decrypt them.
            columns = ", ".join(model._meta.get_field(f.name).column for f in fields)
            table = model._meta.db_table
            from django.db import connection

            placeholders = ", ".join(["%s"] * len(ids))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {model._meta.pk.column}, {columns} FROM {table} WHERE {model._meta.pk.column} IN ({placeholders})",  # noqa: S608 (identifiers from model metadata)
                    ids,
                )
                rows = cursor.fetchall()
            for row in rows:
                pk, values = row[0], row[1:]
                updates = {}
                for field, raw in zip(fields, values, strict=True):
                    if raw and not raw.startswith(prefix):
                        updates[field.name] = crypto.encrypt(crypto.decrypt(raw, purpose=field.purpose), purpose=field.purpose)
                if updates:
                    manager.filter(pk=pk).update(**updates)
                    changed += 1
    return changed


class Command(BaseCommand):
    help = "Re-encrypt personal data and secrets to the newest PII key."

    def handle(self, *args, **options):
        total = 0
        for model, fields in encrypted_fields():
            changed = reencrypt_model(model, fields)
            total += changed
            self.stdout.write(f"{model._meta.label}: {changed} rows re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"done, {total} rows to key {crypto.current_key_id()}"))
