"""Bus events of the loan engine (docs/events.md): payload shape and bulk publishing.

Amounts travel as strings with two decimals and as integers in fen (``*_fen``), dates as ISO strings;
every payload carries institution_id, branch_id and account_manager_id for attribution.
"""

import datetime as dt
import json
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from jikuai.core import bus
from jikuai.core.models import OutboxEvent

AMOUNT_KEYS = ("amount", "amount_due", "overdue_principal", "principal_outstanding", "limit")


def payload_for(loan_row: dict, data: dict) -> dict:
    """``loan_row`` has id, customer_id, institution_id, branch_id, account_manager_id."""
    payload = {
        "loan_id": loan_row["id"],
        "customer_id": loan_row["customer_id"],
        "institution_id": loan_row["institution_id"],
        "branch_id": loan_row["branch_id"],
        "account_manager_id": loan_row["account_manager_id"],
    }
    for key, value in data.items():
        if isinstance(value, Decimal):
            payload[key] = f"{value:.2f}"
            if key in AMOUNT_KEYS:
                payload[f"{key}_fen"] = int((value * 100).to_integral_value())
        elif isinstance(value, dt.date):
            payload[key] = value.isoformat()
        else:
            payload[key] = value
    return payload


def loan_row(loan) -> dict:
    return {
        "id": loan.pk,
        "customer_id": loan.customer_id,
        "institution_id": loan.institution_id,
        "branch_id": loan.branch_id,
        "account_manager_id": loan.account_manager_id,
    }


def publish_loan_events(loan, events: list[tuple[str, dict]], *, principal_outstanding: Decimal | None = None) -> None:
    """Publish engine events of one loan through the kernel bus (inside the caller's transaction)."""
    row = loan_row(loan)
    for topic, data in events:
        if topic == "lending.loan_classified" and principal_outstanding is not None:
            data = {**data, "principal_outstanding": principal_outstanding}
        bus.publish(topic, payload_for(row, data))


def publish_many(rows: list[tuple[str, dict]], *, dispatch: bool = True) -> list[int]:
    """Insert many outbox events with one bulk insert; after commit each is handed to the kernel's
    dispatcher in batches through ``bus.enqueue``."""
    if not rows:
        return []
    if not dispatch and connection.vendor == "postgresql":
        # the nightly close: one COPY; its ``events`` step hands the rows to the dispatcher afterwards
        now = timezone.now()
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(
                "COPY core_outboxevent (topic, payload, status, attempts, next_attempt_at, last_error, created_at) FROM STDIN"
            ) as copy,
        ):
            for topic, payload in rows:
                copy.write_row((topic, json.dumps(payload, ensure_ascii=False), OutboxEvent.Status.PENDING, 0, now, "", now))
        return []
    events = OutboxEvent.objects.bulk_create(
        [OutboxEvent(topic=topic, payload=payload) for topic, payload in rows], batch_size=2000
    )
    ids = [event.pk for event in events]
    if dispatch:
        transaction.on_commit(lambda: bus.enqueue(ids))
    return ids
