from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand

from jikuai.core.demo import seed_kernel

DOMAIN_SEEDERS = ["seed_demo_kyc", "seed_demo_riskrules", "seed_demo_lending", "seed_demo_lifestyle", "seed_demo_performance"]


class Command(BaseCommand):
    help = "Load the demo data (idempotent): kernel first, then every domain app that provides seed_demo_<app>."

    def add_arguments(self, parser):
        parser.add_argument("--customers-per-bank", type=int, default=60)

    def handle(self, *args, **options):
        summary = seed_kernel(customers_per_bank=options["customers_per_bank"])
        self.stdout.write(f"kernel demo data: customers per bank {summary}")
        available = get_commands()
        for name in DOMAIN_SEEDERS:
            if name in available:
                call_command(name, stdout=self.stdout, stderr=self.stderr)
        self.stdout.write(self.style.SUCCESS("demo data ready"))
