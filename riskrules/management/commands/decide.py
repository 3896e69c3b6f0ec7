"""python manage.py decide <ruleset_code> --input '<json>' [--subject-kind application --subject-id X]
[--customer-id N] [--institution CODE] [--channel default] — prints the decision as JSON."""

import json

from django.core.management.base import BaseCommand, CommandError

from jikuai.core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "评估规则集并打印决策 JSON / evaluate a rule set and print the decision as JSON"

    def add_arguments(self, parser):
        parser.add_argument("ruleset_code")
        parser.add_argument("--input", default="{}", help="JSON object of inputs (money in integer fen)")
        parser.add_argument("--subject-kind", default="application")
        parser.add_argument("--subject-id", default="cli")
        parser.add_argument("--customer-id", type=int, default=None)
        parser.add_argument("--institution", default=None, help="institution code (default: province-wide)")
        parser.add_argument("--channel", default="default")
        parser.add_argument("--explain", action="store_true", help="include the explanation")

    def handle(self, *args, **options):
        from jikuai.org.models import Institution
        from riskrules.features import Subject
        from riskrules.presenters import decision_payload
        from riskrules.services.decisions import decision_make

        try:
            inputs = json.loads(options["input"])
        except ValueError as exc:
            raise CommandError(f"--input 不是有效的 JSON / --input is not valid JSON: {exc}") from None
        if not isinstance(inputs, dict):
            raise CommandError("--input 须为 JSON 对象 / --input must be a JSON object")
        institution_id = None
        if options["institution"]:
            institution = Institution.objects.filter(code=options["institution"]).first()
            if institution is None:
                raise CommandError(f"机构不存在 / unknown institution {options['institution']}")
            institution_id = institution.pk
        subject = Subject(
            kind=options["subject_kind"],
            id=options["subject_id"],
            customer_id=options["customer_id"],
            institution_id=institution_id,
        )
        try:
            record = decision_make(
                ruleset_code=options["ruleset_code"], subject=subject, inputs=inputs, channel=options["channel"], source="command"
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        payload = decision_payload(record, explain=options["explain"])
        self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))
