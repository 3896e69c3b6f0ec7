"""Contract signing certificates (电子合同签章证书) in the key folder.

    python manage.py contract_certificates list
    python manage.py contract_certificates revoke <institution code> [--reason key_compromise]

``list`` prints each institution certificate (serial, validity, revoked or not) and the CRL in force.
``revoke`` (development CA only) puts the institution's certificate on the CRL and sets its key aside: the
next contract is signed with a newly issued certificate, and verification reports signatures made with the
old one as revoked. In production the CA revokes; install its CRL under the key folder instead.
"""

from cryptography import x509
from django.core.management.base import BaseCommand, CommandError

from jikuai.core.exceptions import ApplicationError
from lending.contracts import ca


class Command(BaseCommand):
    help = "List or revoke contract signing certificates (development CA)"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="certificates and the CRL in force")
        revoke = sub.add_parser("revoke", help="revoke an institution's signing certificate")
        revoke.add_argument("institution_code")
        revoke.add_argument("--reason", default="key_compromise", choices=ca.CRL_REASONS)

    def handle(self, *args, action: str, **options):
        if action == "revoke":
            try:
                serial = ca.revoke_institution_certificate(institution_code=options["institution_code"], reason=options["reason"])
            except ApplicationError as exc:
                raise CommandError(f"{exc}") from exc
            self.stdout.write(f"revoked {options['institution_code']} serial {serial:x} ({options['reason']})")
            return
        crls = ca.revocation_lists()
        revoked = {entry["user_certificate"].native for crl in crls for entry in crl["tbs_cert_list"]["revoked_certificates"]}
        folder = ca.key_dir()
        for path in sorted(folder.glob("*.cert.pem")):
            if path.name in ("ca.cert.pem", "tsa.cert.pem"):
                continue
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            state = "revoked" if cert.serial_number in revoked else "valid"
            self.stdout.write(
                f"{path.name.removesuffix('.cert.pem')}\tserial {cert.serial_number:x}\t"
                f"until {cert.not_valid_after_utc:%Y-%m-%d}\t{state}"
            )
        for crl in crls:
            tbs = crl["tbs_cert_list"]
            self.stdout.write(
                f"CRL {tbs['issuer'].human_friendly}: {len(tbs['revoked_certificates'])} revoked, "
                f"next update {tbs['next_update'].native:%Y-%m-%d %H:%M} UTC"
            )
