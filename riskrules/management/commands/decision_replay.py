"""python manage.py decision_replay <id> [<id> ...] — re-evaluate stored decisions and assert identical outputs."""

import json

from django.core.management.base import BaseCommand, CommandError

from jikuai.core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "重放决策并核对结果一致 / replay decisions and assert identical outputs"

    def add_arguments(self, parser):
        parser.add_argument("decision_ids", nargs="+", type=int)

    def handle(self, *args, **options):
        from riskrules.engine import ENGINE_VERSION
        from riskrules.services.decisions import decision_replay

        failures = 0
        for decision_id in options["decision_ids"]:
            try:
                result = decision_replay(decision_id=decision_id, strict=False)
            except ApplicationError as exc:
                raise CommandError(exc.message) from None
            line = {"decision_id": decision_id, "identical": result.identical}
            if result.engine_version != ENGINE_VERSION:
                line["engine"] = {"recorded": result.engine_version, "replayed": ENGINE_VERSION}
            if not result.identical:
                failures += 1
                line["differences"] = result.differences
            self.stdout.write(json.dumps(line, ensure_ascii=False, default=str))
        if failures:
            raise CommandError(f"{failures} 个决策重放结果不一致 / {failures} decision(s) differ on replay")
