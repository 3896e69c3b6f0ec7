"""贷款计算器: print a repayment schedule with its APR.

    python manage.py loan_calculator --method equal_installment --principal 100000 --annual-rate 6 \
        --months 12 --start 2026-01-31 --json
"""

import json

from django.core.management.base import BaseCommand, CommandError

from jikuai.core.exceptions import ApplicationError
from jikuai.core.money import to_decimal
from lending import schedule as sched
from lending.services.common import parse_amount, parse_date


class Command(BaseCommand):
    help = "贷款计算器：按还款方式生成还款计划和年化利率 / loan calculator: schedule and APR"

    def add_arguments(self, parser):
        parser.add_argument("--method", required=True, help=" | ".join(sched.Method.ALL))
        parser.add_argument("--principal", required=True, help="贷款金额（元） principal in yuan")
        parser.add_argument("--annual-rate", required=True, help="年利率百分比，6 表示 6%% / annual rate in percent")
        parser.add_argument("--months", required=True, help="期限（月） term in months")
        parser.add_argument("--start", required=True, help="起息日 YYYY-MM-DD / value date")
        parser.add_argument("--day-basis", type=int, default=360, choices=[360, 365])
        parser.add_argument("--quarterly", action="store_true", help="按季结息（仅按期付息到期还本）")
        parser.add_argument("--fee", default="0", help="一次性手续费（元） upfront fee")
        parser.add_argument("--json", action="store_true", help="JSON 输出 / print JSON")

    def handle(self, *args, **options):
        try:
            months = int(options["months"])
        except ValueError:
            raise CommandError("期限必须是整数个月 / months must be an integer")
        try:
            result = sched.quote(
                method=options["method"],
                principal=parse_amount(options["principal"], field="principal"),
                annual_rate=sched.parse_percent_rate(options["annual_rate"]),
                months=months,
                value_date=parse_date(options["start"], field="start"),
                day_basis=options["day_basis"],
                quarterly_interest=options["quarterly"],
                upfront_fee=parse_amount(options["fee"], field="fee", allow_zero=True)
                if to_decimal(options["fee"])
                else sched.ZERO,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message)
        except ValueError as exc:
            raise CommandError(str(exc))
        data = result.as_json()
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
            return
        self.stdout.write(
            f"{sched.Method.LABELS[result.method]}  本金 {data['principal']}  年利率 {data['annual_rate']}%  "
            f"年化利率(APR) {data['apr']}%  总利息 {data['total_interest']}  还款总额 {data['total_payment']}"
        )
        self.stdout.write(f"{'期次':>4} {'应还日':>10} {'本金':>12} {'利息':>10} {'月供':>12} {'剩余本金':>14}")
        for row in data["installments"]:
            self.stdout.write(
                f"{row['number']:>4} {row['due_date']:>10} {row['principal']:>12} {row['interest']:>10} {row['payment']:>12} {row['balance']:>14}"
            )
