from django.core.management.base import BaseCommand

from jikuai.core.demo import BANKS, DEMO_APP_ID, DEMO_APP_SECRET, DEMO_CUSTOMER_MOBILES, DEMO_PASSWORD, STAFF_PLAN


class Command(BaseCommand):
    help = "Print the demo logins (local development only)."

    def handle(self, *args, **options):
        w = self.stdout.write
        w("")
        w("吉快金融 demo — http://127.0.0.1:8000  (admin: /admin/, API docs: /api/v1/docs/)")
        w(f"All demo passwords: {DEMO_PASSWORD}")
        w("Staff (admin / field app):")
        w("  admin                 系统管理员 (superuser)")
        w("  province_admin        省联社管理员 (sees every institution)")
        for suffix, role, _branch, _name, _rank in STAFF_PLAN:
            w(f"  {BANKS[0].prefix}_{suffix:<18} {role} · {BANKS[0].short}")
        w(f"  (same roles for the other banks with prefixes {', '.join(b.prefix + '_' for b in BANKS[1:])})")
        w("Customers (web, mobile + password): " + ", ".join(DEMO_CUSTOMER_MOBILES))
        w(f"Integrator (local only): app id {DEMO_APP_ID}  secret {DEMO_APP_SECRET}")
        w("")
