"""python manage.py reconcile_points — Σ lots remaining = balance = Σ legs per account; every entry balanced;
control books agree; plus the daily settlement check. Exit code 1 when anything differs."""

import sys

from django.core.management.base import BaseCommand

from lifestyle.services import reconciliation


class Command(BaseCommand):
    help = "积分账本对账 / reconcile the points ledger (nightly)"

    def add_arguments(self, parser):
        parser.add_argument("--no-settlement", action="store_true", help="skip the redeemed-vouchers vs payable-lines check")

    def handle(self, *args, **options):
        report = reconciliation.reconcile_points()
        self.stdout.write(
            f"points: {'OK' if report.ok else 'MISMATCH'} accounts={report.accounts_checked} mismatches={report.mismatches} "
            f"balance={report.totals.get('balance')} pending={report.totals.get('pending')} debt={report.totals.get('debt')}"
        )
        for detail in report.details[:20]:
            self.stdout.write(f"  {detail}")
        ok = report.ok
        if not options["no_settlement"]:
            check = reconciliation.settlement_check()
            self.stdout.write(f"settlement: {'OK' if check.ok else 'MISMATCH'} {check.totals}")
            ok = ok and check.ok
        if not ok:
            sys.exit(1)
