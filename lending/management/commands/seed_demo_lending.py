"""Idempotent demo data of the loan engine (products and a portfolio of loans with history)."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "初始化贷款演示数据 / seed the loan engine demo data (idempotent)"

    def add_arguments(self, parser):
        parser.add_argument("--per-institution", type=int, default=8)

    def handle(self, *args, **options):
        from lending.demo import seed_demo_lending

        summary = seed_demo_lending(per_institution=options["per_institution"])
        for key, value in summary.items():
            self.stdout.write(f"{key}: {value}")
        if not summary["ledger_reconciled"]:
            self.stderr.write("分户账对账不平 / the ledger does not reconcile")
        self.stdout.write(self.style.SUCCESS("lending demo data ready"))
