from django.core.management.base import BaseCommand

from jikuai.customers.kyc.demo import seed_demo_kyc


class Command(BaseCommand):
    help = "KYC demo records in every state (idempotent)."

    def handle(self, *args, **options):
        self.stdout.write(f"kyc demo: {seed_demo_kyc()}")
