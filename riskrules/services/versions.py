"""Rule sets and versions: drafting under guard-rails, test cases, four-eyes review, publishing (which
switches the champion), retiring; deployments with challengers.

Every save of a draft runs the static guard-rails, compiles the graph with ZEN and evaluates the
attached test cases; a violation or a test case that ZEN cannot evaluate refuses the save and nothing
is written. Failing expectations are allowed on a draft but block submission and approval.
"""

import copy
import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from jikuai.core.exceptions import ApplicationError, Conflict, NotFound, PermissionDeniedError
from jikuai.core.workdays import get_business_date
from jikuai.org.models import Institution, Staff
from riskrules import engine
from riskrules.canonical import content_hash
from riskrules.catalogue import InputTypeError, load_catalogue, load_reason_texts
from riskrules.config_cache import config_changed
from riskrules.evaluation import Evaluation, evaluate, normalise
from riskrules.features import ResolutionError, apply_missing_policies
from riskrules.guardrails import HASH_RE, Violation, check_content
from riskrules.models import CODE_RE, Deployment, ReasonCode, RuleSet, RuleTestCase, RuleVersion


class GuardRailError(ApplicationError):
    code = "guard_rail_violation"
    status = 422

    def __init__(self, violations: list[Violation]):
        self.violations = list(violations)
        head = "；".join(str(v) for v in self.violations[:5])
        more = f"（另有 {len(self.violations) - 5} 项）" if len(self.violations) > 5 else ""
        super().__init__(
            f"规则未通过校验：{head}{more}",
            "guard-rail violations: " + "; ".join(v.message_en for v in self.violations[:5]),
            extra={"violations": [v.as_dict() for v in self.violations]},
        )


class FourEyesError(PermissionDeniedError):
    code = "four_eyes"


class ImmutableVersionError(Conflict):
    code = "version_immutable"


@dataclass
class TestOutcome:
    name: str
    passed: bool
    mismatches: list
    evaluation: Evaluation | None
    error: str = ""

    def as_dict(self) -> dict:
        ev = self.evaluation
        return {
            "name": self.name,
            "passed": self.passed,
            "mismatches": self.mismatches,
            "error": self.error,
            "actual": ev.comparable() if ev else None,
        }


# --- loading versions into the engine ---------------------------------------------------------


def _pinned_lookup(key: str):
    if not HASH_RE.match(key or ""):
        return None
    rows = list(RuleVersion.objects.filter(content_hash=key).values_list("status", "content")[:20])
    if not rows:
        return None
    pinned = [row for row in rows if row[0] in ("approved", "published", "retired")]
    return pinned[0] if pinned else rows[0]


def ensure_loaded(key: str, content: dict | None = None, *, _depth: int = 0) -> None:
    """Compile a version (and its pinned sub-decisions) into the process engine if it is not there yet."""
    if engine.is_loaded(key):
        meta = engine.meta(key)
        subs = [node.sub_key for node in meta.nodes.values() if node.sub_key] if meta else []
        if all(engine.is_loaded(sub) for sub in subs):
            return
    if _depth > engine.MAX_DEPTH:
        raise engine.EngineError("子决策嵌套过深 / sub-decisions nested too deep")
    if content is None:
        content = RuleVersion.objects.filter(content_hash=key).values_list("content", flat=True).first()
        if content is None:
            raise engine.EngineError(f"版本 {key[:12]} 不存在 / version not found")
    for node in content.get("nodes", []):
        if node.get("type") == "decisionNode":
            sub_key = str((node.get("content") or {}).get("key", ""))
            ensure_loaded(sub_key, _depth=_depth + 1)
    engine.load(key, content)


# --- validation ---------------------------------------------------------------------------------


def _match(evaluation: Evaluation, expected: dict) -> list[str]:
    mismatches = []
    for key, want in (expected or {}).items():
        want = normalise(want)
        if key == "outcome":
            got = evaluation.outcome
        elif key == "reasons":
            got = evaluation.reason_codes
        elif key == "reasons_include":
            missing = [code for code in (want or []) if code not in evaluation.reason_codes]
            if missing:
                mismatches.append(f"reasons 缺少 {missing}，实际 {evaluation.reason_codes}")
            continue
        elif key == "grade":
            got = evaluation.grade
        elif key == "amount_fen":
            got = evaluation.amount_fen
        elif key == "rate_bp":
            got = evaluation.rate_bp
        else:
            got = evaluation.outputs
            for part in key.split("."):
                got = got.get(part) if isinstance(got, dict) else None
        if got != want:
            mismatches.append(f"{key}: 期望 {want!r}，实际 {got!r}")
    return mismatches


def run_test_cases(
    *, key: str, input_variables: list[str], cases: list[dict], catalogue: dict, reason_texts: dict, max_reasons: int
) -> list[TestOutcome]:
    outcomes = []
    for case in cases:
        name = case.get("name") or "?"
        try:
            values, missing = apply_missing_policies(case.get("inputs") or {}, list(input_variables), catalogue)
        except (InputTypeError, ResolutionError) as exc:
            outcomes.append(TestOutcome(name, False, [exc.message_zh], None, error=exc.message_zh))
            continue
        evaluation = evaluate(
            key=key, values=values, missing=missing, reason_texts=reason_texts, max_reasons=max_reasons, trace=True
        )
        mismatches = _match(evaluation, case.get("expected") or {})
        outcomes.append(TestOutcome(name, not mismatches and not evaluation.error, mismatches, evaluation, evaluation.error))
    return outcomes


def validate(
    *, content, test_cases: list[dict], max_reasons: int = 3, catalogue=None, reason_texts=None
) -> tuple[list[str], list[TestOutcome]]:
    """Static guard-rails + ZEN compile + test cases. Raises GuardRailError; returns (input variables,
    test outcomes) when the content may be saved."""
    catalogue = catalogue if catalogue is not None else load_catalogue()
    reason_texts = reason_texts if reason_texts is not None else load_reason_texts()
    guard = check_content(content, catalogue=catalogue, reason_codes=set(reason_texts), pinned=_pinned_lookup)
    if guard.violations:
        raise GuardRailError(list(guard.violations))
    key = content_hash(content)
    try:
        ensure_loaded(key, content)
    except engine.EngineError as exc:
        raise GuardRailError(
            [Violation("invalid_jdm", f"ZEN 无法编译该规则：{exc.message}", f"ZEN cannot compile: {exc.message}", exc.node_id)]
        ) from None
    outcomes = run_test_cases(
        key=key,
        input_variables=list(guard.input_variables),
        cases=test_cases,
        catalogue=catalogue,
        reason_texts=reason_texts,
        max_reasons=max_reasons,
    )
    broken = [o for o in outcomes if o.error and o.evaluation is not None and o.evaluation.error]
    if broken:
        raise GuardRailError(
            [
                Violation(
                    "cell_parse",
                    f"测试用例“{o.name}”执行时 ZEN 报错：{o.error}",
                    f"test case {o.name} failed to evaluate: {o.error}",
                )
                for o in broken
            ]
        )
    return list(guard.input_variables), outcomes


def _report(outcomes: list[TestOutcome]) -> dict:
    return {
        "total": len(outcomes),
        "passed": sum(1 for o in outcomes if o.passed),
        "failed": sum(1 for o in outcomes if not o.passed),
        "cases": [o.as_dict() for o in outcomes],
        "ran_at": timezone.now().isoformat(),
    }


def _cases_of(version: RuleVersion) -> list[dict]:
    return [
        {"name": case.name, "inputs": case.inputs, "expected": case.expected}
        for case in version.test_cases.all().order_by("position", "id")
    ]


# --- scope ----------------------------------------------------------------------------------------


def check_actor_scope(actor: Staff, rule_set: RuleSet) -> None:
    """Province-wide rule sets are changed by province staff only; an institution's by its own staff."""
    if actor.institution_id is not None and actor.institution_id != rule_set.institution_id:
        raise PermissionDeniedError(
            "只有省联社员工可以修改全省规则；法人行社员工只能修改本机构的规则集。",
            "only province staff change province-wide rules; institution staff change their own rule sets",
        )


# --- rule sets ----------------------------------------------------------------------------------


def ruleset_create(
    *,
    code: str,
    name: str,
    kind: str,
    product_code: str = "",
    institution: Institution | None = None,
    owner: Staff | None = None,
    description: str = "",
    max_reasons: int = 3,
) -> RuleSet:
    if not CODE_RE.match(code or ""):
        raise ApplicationError(
            "规则集代码须以小写字母开头，只含小写字母、数字和下划线。",
            "invalid rule set code",
            code="invalid_code",
            extra={"field": "code"},
        )
    if kind not in RuleSet.Kind.values:
        raise ApplicationError("规则集类型无效。", "unknown rule set kind", code="invalid_kind", extra={"field": "kind"})
    try:
        with transaction.atomic():
            return RuleSet.objects.create(
                code=code,
                name=name,
                kind=kind,
                product_code=product_code,
                institution=institution,
                owner=owner,
                description=description,
                max_reasons=max_reasons,
            )
    except IntegrityError:
        raise Conflict("该规则集代码已存在。", "rule set code already exists", code="duplicate_ruleset") from None


# --- versions -----------------------------------------------------------------------------------


def _lock(version_id: int) -> RuleVersion:
    version = RuleVersion.objects.select_for_update(no_key=True).select_related("rule_set").filter(pk=version_id).first()
    if version is None:
        raise NotFound("规则版本不存在。", "rule version not found")
    return version


def _require_draft(version: RuleVersion) -> None:
    if version.status != RuleVersion.Status.DRAFT:
        raise ImmutableVersionError(
            f"版本 v{version.number} 状态为“{version.get_status_display()}”，不可修改；请复制为新版本后修改。",
            "only draft versions can be changed; copy it into a new draft",
        )


def _clean_cases(test_cases) -> list[dict]:
    cleaned = []
    for index, case in enumerate(test_cases or []):
        if not isinstance(case, dict) or not str(case.get("name", "")).strip():
            raise ApplicationError("每个测试用例须有名称。", "every test case needs a name", code="invalid_test_case")
        if not isinstance(case.get("inputs", {}), dict) or not isinstance(case.get("expected", {}), dict):
            raise ApplicationError(
                "测试用例的输入与期望须为对象。", "inputs and expected must be objects", code="invalid_test_case"
            )
        if not case.get("expected"):
            raise ApplicationError(
                f"测试用例“{case['name']}”缺少期望输出。", "a test case needs expected outputs", code="invalid_test_case"
            )
        cleaned.append(
            {
                "name": str(case["name"]).strip()[:100],
                "inputs": case.get("inputs") or {},
                "expected": case["expected"],
                "position": index,
            }
        )
    return cleaned


def version_create(
    *,
    rule_set: RuleSet,
    content: dict,
    author: Staff,
    change_note: str = "",
    test_cases: list[dict] | None = None,
    parent: RuleVersion | None = None,
) -> RuleVersion:
    """Create a draft version after the guard-rails pass; nothing is written otherwise."""
    check_actor_scope(author, rule_set)
    cases = _clean_cases(test_cases)
    input_variables, outcomes = validate(content=content, test_cases=cases, max_reasons=rule_set.max_reasons)
    with transaction.atomic():
        RuleSet.objects.select_for_update().filter(pk=rule_set.pk).first()
        number = (rule_set.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        version = RuleVersion.objects.create(
            rule_set=rule_set,
            number=number,
            content=content,
            engine_version=engine.ENGINE_VERSION,
            input_variables=input_variables,
            parent=parent,
            change_note=change_note,
            author=author,
            validation_report={"ok": True, "checked_at": timezone.now().isoformat()},
            test_report=_report(outcomes),
        )
        RuleTestCase.objects.bulk_create([RuleTestCase(version=version, **case) for case in cases])
    return version


def version_copy(*, version_id: int, author: Staff, change_note: str = "") -> RuleVersion:
    """新版本: a draft with the same content and test cases, its parent set to the source version."""
    source = RuleVersion.objects.select_related("rule_set").filter(pk=version_id).first()
    if source is None:
        raise NotFound("规则版本不存在。", "rule version not found")
    check_actor_scope(author, source.rule_set)
    return version_create(
        rule_set=source.rule_set,
        content=copy.deepcopy(source.content),
        author=author,
        change_note=change_note or f"复制自 v{source.number}",
        test_cases=_cases_of(source),
        parent=source,
    )


def version_update(
    *,
    version_id: int,
    actor: Staff,
    content: dict | None = None,
    test_cases: list[dict] | None = None,
    change_note: str | None = None,
) -> RuleVersion:
    """Change a draft's content and/or test cases. Guard-rails run before anything is written."""
    with transaction.atomic():
        version = _lock(version_id)
        check_actor_scope(actor, version.rule_set)
        _require_draft(version)
        new_content = content if content is not None else version.content
        cases = (
            _clean_cases(test_cases)
            if test_cases is not None
            else [{**case, "position": index} for index, case in enumerate(_cases_of(version))]
        )
        input_variables, outcomes = validate(content=new_content, test_cases=cases, max_reasons=version.rule_set.max_reasons)
        version.content = new_content
        version.input_variables = input_variables
        version.engine_version = engine.ENGINE_VERSION
        version.validation_report = {"ok": True, "checked_at": timezone.now().isoformat()}
        version.test_report = _report(outcomes)
        if change_note is not None:
            version.change_note = change_note
        version.save()
        if test_cases is not None:
            version.test_cases.all().delete()
            RuleTestCase.objects.bulk_create([RuleTestCase(version=version, **case) for case in cases])
    return version


def table_rows(content: dict, node_id: str) -> tuple[dict, list[dict]]:
    for node in content.get("nodes", []):
        if node.get("id") == node_id and node.get("type") == "decisionTableNode":
            return node, list(node.get("content", {}).get("rules", []))
    raise NotFound("决策表不存在。", "decision table not found")


def version_update_table(*, version_id: int, node_id: str, rows: list[dict], actor: Staff) -> RuleVersion:
    """Replace the rows of one decision table of a draft (admin row forms, Excel import)."""
    version = RuleVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise NotFound("规则版本不存在。", "rule version not found")
    _require_draft(version)
    content = copy.deepcopy(version.content)
    node, _old_rows = table_rows(content, node_id)
    columns = [c["id"] for c in node["content"].get("inputs", [])] + [c["id"] for c in node["content"].get("outputs", [])]
    new_rows = []
    used = set()
    for index, row in enumerate(rows):
        row_id = str(row.get("_id") or "").strip() or f"r{index + 1}"
        while row_id in used:
            row_id = f"{row_id}_{index + 1}"
        used.add(row_id)
        clean = {"_id": row_id}
        if str(row.get("_description", "") or "").strip():
            clean["_description"] = str(row["_description"]).strip()
        for column in columns:
            value = row.get(column, "")
            clean[column] = "" if value is None else str(value).strip()
        new_rows.append(clean)
    node["content"]["rules"] = new_rows
    return version_update(version_id=version_id, actor=actor, content=content)


def version_run_tests(*, version_id: int) -> dict:
    """Run the attached test cases (any status) and store the report; returns it."""
    version = RuleVersion.objects.select_related("rule_set").filter(pk=version_id).first()
    if version is None:
        raise NotFound("规则版本不存在。", "rule version not found")
    ensure_loaded(version.content_hash, version.content)
    outcomes = run_test_cases(
        key=version.content_hash,
        input_variables=list(version.input_variables),
        cases=_cases_of(version),
        catalogue=load_catalogue(),
        reason_texts=load_reason_texts(),
        max_reasons=version.rule_set.max_reasons,
    )
    report = _report(outcomes)
    RuleVersion.objects.filter(pk=version.pk).update(test_report=report)
    return report


def _require_tests_pass(version: RuleVersion) -> dict:
    report = version_run_tests(version_id=version.pk)
    if report["total"] == 0:
        raise ApplicationError("该版本没有测试用例，不能提交或复核。", "a version needs test cases", code="no_test_cases")
    if report["failed"]:
        failed = [case for case in report["cases"] if not case["passed"]]
        details = "；".join(f"{case['name']}（{'，'.join(case['mismatches'][:2]) or case['error']}）" for case in failed[:3])
        raise ApplicationError(
            f"测试用例未全部通过：{details}",
            f"{report['failed']} test case(s) failed",
            code="test_cases_failed",
            extra={"failed": [case["name"] for case in failed]},
        )
    return report


def _transition(version: RuleVersion, name: str, actor: Staff, comment: str) -> None:
    try:
        getattr(version, name)(by=actor.user, description=comment or None)
    except TransitionNotAllowed:
        raise Conflict(
            f"版本当前状态“{version.get_status_display()}”不允许此操作。", f"transition {name} not allowed from {version.status}"
        ) from None


def version_submit(*, version_id: int, actor: Staff, comment: str = "") -> RuleVersion:
    """提交复核: the author (or another officer) submits a draft whose test cases all pass."""
    with transaction.atomic():
        version = _lock(version_id)
        check_actor_scope(actor, version.rule_set)
        if version.status == RuleVersion.Status.IN_REVIEW:
            return version
        _require_draft(version)
        _require_tests_pass(version)
        _transition(version, "submit", actor, comment)
        version.save()
    return version


def version_send_back(*, version_id: int, actor: Staff, comment: str = "") -> RuleVersion:
    with transaction.atomic():
        version = _lock(version_id)
        check_actor_scope(actor, version.rule_set)
        if version.status == RuleVersion.Status.DRAFT:
            return version
        _transition(version, "send_back", actor, comment)
        version.save()
    return version


def version_approve(*, version_id: int, actor: Staff, comment: str = "") -> RuleVersion:
    """复核通过 (四眼原则): the approver must not be the author; the test cases must pass again."""
    with transaction.atomic():
        version = _lock(version_id)
        check_actor_scope(actor, version.rule_set)
        if version.status == RuleVersion.Status.APPROVED:
            return version
        if version.author_id == actor.pk:
            raise FourEyesError("复核人不能是起草人（双人复核）。", "the approver must not be the author (four-eyes)")
        if version.status != RuleVersion.Status.IN_REVIEW:
            raise Conflict(f"版本当前状态“{version.get_status_display()}”，不能复核。", "only versions in review can be approved")
        _require_tests_pass(version)
        _transition(version, "approve", actor, comment)
        version.approver = actor
        version.save()
    return version


def version_publish(
    *, version_id: int, actor: Staff, channel: str = "default", effective_from: dt.date | None = None, comment: str = ""
) -> RuleVersion:
    """发布: the approved version becomes the champion of the channel; the previous champion is retired."""
    with transaction.atomic():
        version = _lock(version_id)
        check_actor_scope(actor, version.rule_set)
        if version.status == RuleVersion.Status.PUBLISHED:
            return version
        if version.status != RuleVersion.Status.APPROVED:
            raise Conflict(
                f"版本当前状态“{version.get_status_display()}”，只有已复核的版本可以发布。",
                "only approved versions can be published",
            )
        day = effective_from or get_business_date()
        _transition(version, "publish", actor, comment)
        version.effective_from = day
        version.save()
        deployment = Deployment.objects.select_for_update().filter(rule_set_id=version.rule_set_id, channel=channel).first()
        if deployment is None:
            Deployment.objects.create(rule_set_id=version.rule_set_id, channel=channel, champion=version, updated_by=actor)
        else:
            previous_id = deployment.champion_id
            deployment.champion = version
            if deployment.challenger_id == version.pk:
                deployment.challenger = None
                deployment.challenger_percent = 0
                deployment.split_requested_by = None
                deployment.split_approved_by = None
            deployment.updated_by = actor
            deployment.save()
            still_used = (
                Deployment.objects.filter(champion_id=previous_id).exists()
                or Deployment.objects.filter(challenger_id=previous_id).exists()
            )
            if previous_id != version.pk and not still_used:
                previous = RuleVersion.objects.select_for_update(no_key=True).get(pk=previous_id)
                if previous.status == RuleVersion.Status.PUBLISHED:
                    _transition(previous, "retire", actor, f"被 v{version.number} 取代")
                    previous.effective_to = (
                        day - dt.timedelta(days=1) if previous.effective_from and previous.effective_from < day else day
                    )
                    previous.save()
    return version


def version_retire(*, version_id: int, actor: Staff, comment: str = "") -> RuleVersion:
    with transaction.atomic():
        version = _lock(version_id)
        check_actor_scope(actor, version.rule_set)
        if version.status == RuleVersion.Status.RETIRED:
            return version
        if Deployment.objects.filter(champion_id=version.pk).exists():
            raise Conflict(
                "该版本仍是冠军版本，请先发布替代版本。", "the version is still a champion; publish a replacement first"
            )
        Deployment.objects.filter(challenger_id=version.pk).update(
            challenger=None, challenger_percent=0, split_requested_by=None, split_approved_by=None
        )
        config_changed()  # update() sends no signal
        _transition(version, "retire", actor, comment)
        version.effective_to = get_business_date()
        version.save()
    return version


# --- deployments --------------------------------------------------------------------------------


def deployment_set_challenger(
    *,
    rule_set: RuleSet,
    channel: str,
    challenger_id: int | None,
    percent: int,
    mode: str,
    actor: Staff,
) -> Deployment:
    """冠军/挑战者: set (or clear with ``challenger_id=None``) the challenger of a channel. Shadow takes
    effect at once; split needs a second officer (``deployment_approve_split``) and runs as shadow until then."""
    if not (0 <= int(percent) <= 100):
        raise ApplicationError(
            "挑战者比例须在 0 到 100 之间。", "percent must be 0-100", code="invalid_percent", extra={"field": "percent"}
        )
    if mode not in Deployment.Mode.values:
        raise ApplicationError("部署模式无效。", "unknown mode", code="invalid_mode", extra={"field": "mode"})
    check_actor_scope(actor, rule_set)
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().filter(rule_set=rule_set, channel=channel).first()
        if deployment is None:
            raise NotFound("该渠道尚未部署冠军版本，请先发布。", "no champion deployed on this channel")
        if challenger_id is None:
            deployment.challenger = None
            deployment.challenger_percent = 0
            deployment.mode = Deployment.Mode.SHADOW
        else:
            challenger = RuleVersion.objects.filter(pk=challenger_id, rule_set=rule_set).first()
            if challenger is None:
                raise NotFound("挑战者版本不存在或不属于该规则集。", "challenger version not found in this rule set")
            if challenger.status not in (RuleVersion.Status.APPROVED, RuleVersion.Status.PUBLISHED):
                raise Conflict("挑战者版本须已复核。", "the challenger must be an approved version")
            if challenger.pk == deployment.champion_id:
                raise Conflict("挑战者不能与冠军为同一版本。", "challenger equals champion")
            deployment.challenger = challenger
            deployment.challenger_percent = int(percent)
            deployment.mode = mode
        deployment.split_requested_by = actor if deployment.challenger_id and mode == Deployment.Mode.SPLIT else None
        deployment.split_approved_by = None
        deployment.updated_by = actor
        deployment.save()
    return deployment


def deployment_approve_split(*, deployment_id: int, actor: Staff) -> Deployment:
    with transaction.atomic():
        deployment = Deployment.objects.select_for_update().filter(pk=deployment_id).first()
        if deployment is None:
            raise NotFound("部署不存在。", "deployment not found")
        check_actor_scope(actor, deployment.rule_set)
        if deployment.mode != Deployment.Mode.SPLIT or not deployment.challenger_id:
            raise Conflict("该部署没有待复核的分流。", "no split waiting for approval")
        if deployment.split_approved_by_id:
            return deployment
        if deployment.split_requested_by_id == actor.pk:
            raise FourEyesError("分流须由另一位风险管理员复核。", "a different officer must approve the split")
        deployment.split_approved_by = actor
        deployment.updated_by = actor
        deployment.save()
    return deployment


def reason_code_texts() -> dict[str, str]:
    return dict(ReasonCode.objects.values_list("code", "text_zh"))
