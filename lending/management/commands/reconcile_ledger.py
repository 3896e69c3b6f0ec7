"""对账: check the loan ledger (Σ legs = 0 per posting, balances = Σ legs, loan balances = ledger).

    python manage.py reconcile_ledger [--institution CODE] [--json]

Exit status 1 when anything does not reconcile.
"""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from jikuai.org.models import Institution
from lending.services.reconcile import reconcile_ledger


class Command(BaseCommand):
    help = "贷款分户账对账 / reconcile the loan ledger"

    def add_arguments(self, parser):
        parser.add_argument("--institution", help="法人行社代码 institution code")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        institution_id = None
        if options["institution"]:
            institution = Institution.objects.filter(code=options["institution"]).first()
            if institution is None:
                raise CommandError(f"机构代码不存在 unknown institution: {options['institution']}")
            institution_id = institution.pk
        report = reconcile_ledger(institution_id=institution_id, sample=10**9)
        data = report.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            self.stdout.write(f"贷款核对 loans checked: {report.loans_checked}")
            for key in (
                "unbalanced_postings",
                "postings_without_legs",
                "account_mismatches",
                "loan_mismatches",
                "institution_mismatches",
                "schedule_mismatches",
            ):
                self.stdout.write(f"  {key}: {len(getattr(report, key))}")
            self.stdout.write(
                self.style.SUCCESS("对账平衡 ledger reconciles")
                if report.ok
                else self.style.ERROR("对账不平 ledger does NOT reconcile")
            )
        if not report.ok:
            sys.exit(1)
