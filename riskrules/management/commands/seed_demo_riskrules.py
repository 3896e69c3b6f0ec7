"""Idempotent demo data for the rule flow: catalogue, reason codes, LPR, the seeded rule sets of the
seven products (published through the four-eyes services), sample list entries and a few decisions for
demo customers when the kernel demo exists."""

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "初始化规则流演示数据 / seed the rule flow (idempotent)"

    def add_arguments(self, parser):
        parser.add_argument("--no-decisions", action="store_true", help="do not run sample decisions")

    def handle(self, *args, **options):
        from riskrules.policy.demo import seed_demo

        summary = seed_demo(decisions=not options["no_decisions"])
        for key, value in summary.items():
            self.stdout.write(f"{key}: {value}")
        self.stdout.write(self.style.SUCCESS("riskrules demo data ready"))
