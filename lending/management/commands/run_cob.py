"""日终: close the business date (and catch up to --until).

python manage.py run_cob                       # close the current business date
python manage.py run_cob --until 2026-03-31    # close every day up to 31 March, one by one
python manage.py run_cob --date 2026-03-10     # rerun a date (resumes or does nothing)
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from jikuai.core.exceptions import ApplicationError
from lending.services.cob import run_cob
from lending.services.common import parse_date


class Command(BaseCommand):
    help = "贷款日终 / nightly close of the loan engine"

    def add_arguments(self, parser):
        parser.add_argument("--date", help="营业日期 YYYY-MM-DD（默认当前营业日期）")
        parser.add_argument("--until", help="补跑到该日期（含） YYYY-MM-DD")
        parser.add_argument("--chunk", type=int, default=None, help="每批贷款数 / loans per chunk")

    def handle(self, *args, **options):
        try:
            date = parse_date(options["date"], field="date") if options["date"] else None
            until = parse_date(options["until"], field="until") if options["until"] else None
        except ApplicationError as exc:
            raise CommandError(exc.message)
        last = {}

        def progress(step, done, total):
            if last.get(step) == done:
                return
            last[step] = done
            self.stdout.write(f"\r  {step}: {done}/{total}", ending="")
            if done >= total:
                self.stdout.write("")
            self.stdout.flush() if hasattr(self.stdout, "flush") else None

        try:
            results = run_cob(date=date, until=until, progress=progress, size=options["chunk"])
        except ApplicationError as exc:
            raise CommandError(exc.message)
        failed = False
        for result in results:
            self.stdout.write(f"{result.business_date}: {'OK' if result.ok else '失败 FAILED'}")
            for step in result.steps:
                status = "跳过 skipped (done)" if not step.ran else ("失败 " + step.error[:300] if step.error else "ok")
                extra = f" failed={step.failed}" if step.failed else ""
                self.stdout.write(
                    f"  {step.step:<10} {status} processed={step.processed}/{step.processed}{extra} {step.counts or ''}"
                )
            failed = failed or not result.ok
        if failed:
            sys.exit(1)
