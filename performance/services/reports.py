"""PDF reports (reportlab, Chinese with the built-in CID font STSong-Light, charts with reportlab.graphics)
per staff member, branch and period; archived in private storage with their SHA-256."""

import hashlib
import io
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count
from django.utils import timezone
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from jikuai.core.exceptions import ApplicationError
from jikuai.core.money import format_yuan
from performance.formulas import fmt
from performance.models import IncentiveAward, PerformanceReport, Period, ScoreLine, SubjectResult

FONT = "STSong-Light"
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def _styles():
    font = _font()
    return {
        "title": ParagraphStyle("title", fontName=font, fontSize=16, leading=22, spaceAfter=6),
        "h2": ParagraphStyle("h2", fontName=font, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4),
        "body": ParagraphStyle("body", fontName=font, fontSize=9.5, leading=14),
        "small": ParagraphStyle("small", fontName=font, fontSize=7.5, leading=10, textColor=colors.grey),
    }


def _table(rows: list[list], widths=None) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), _font()),
                ("FONTSIZE", (0, 0), (-1, -1), 8.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f0f7")),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#b0bec5")),
                ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _bar_chart(title: str, labels: list[str], values: list[Decimal], *, max_value: Decimal | None = None) -> Drawing:
    """A bar chart; values are converted for drawing only (the figures in the tables stay Decimal)."""
    font = _font()
    drawing = Drawing(170 * mm, 62 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 14 * mm, 14 * mm, 150 * mm, 40 * mm
    chart.data = [[float(v) for v in values] or [0.0]]  # drawing coordinates only
    chart.categoryAxis.categoryNames = [label[:8] for label in labels] or [""]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 6.5
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    if max_value is not None:
        chart.valueAxis.valueMax = float(max_value)
    chart.bars[0].fillColor = colors.HexColor("#1976d2")
    drawing.add(chart)
    drawing.add(String(14 * mm, 57 * mm, title, fontName=font, fontSize=9))
    return drawing


def _build(story: list) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title="吉快金融绩效报告",
        author="吉快金融",
    )
    doc.build(story)
    return buffer.getvalue()


def _header(period: Period, title: str) -> list:
    s = _styles()
    return [
        Paragraph(f"吉快金融 · {title}", s["title"]),
        Paragraph(
            f"{period.institution.name}　考核期 {period.label}（{period.start} 至 {period.end}）　方案 {period.scheme.name} v{period.scheme_version.number}",
            s["body"],
        ),
        Spacer(1, 4 * mm),
    ]


def _footer(period: Period) -> list:
    s = _styles()
    return [
        Spacer(1, 6 * mm),
        Paragraph(
            f"快照摘要 snapshot SHA-256: {period.snapshot_hash or '—'}　生成时间 {timezone.localtime():%Y-%m-%d %H:%M}",
            s["small"],
        ),
    ]


def _percent(ratio: Decimal | None) -> str:
    return "—" if ratio is None else f"{fmt(ratio * 100)}%"


def staff_report_pdf(result: SubjectResult) -> bytes:
    period = result.period
    s = _styles()
    staff = result.staff
    story = _header(period, "个人绩效报告")
    story.append(
        Paragraph(
            f"员工 {staff.name}（工号 {staff.employee_no}）　网点 {result.branch.name if result.branch_id else '—'}　同组 {result.peer_group}",
            s["body"],
        )
    )
    story.append(
        Paragraph(
            f"总分 <b>{result.total}</b>　等级 <b>{result.final_grade or result.grade or '—'}</b>　组内排名 {result.peer_rank or '—'}/{result.peer_size or '—'}"
            f"　全行排名 {result.overall_rank or '—'}",
            s["body"],
        )
    )
    lines = list(ScoreLine.objects.filter(result=result).select_related("indicator", "item").order_by("item__order", "item_id"))
    rows = [["指标", "类型", "权重", "目标", "实际", "完成率", "得分"]]
    for line in lines:
        rows.append(
            [
                line.indicator.name,
                line.item.get_kind_display().split(" ")[0],
                fmt(line.item.weight),
                fmt(line.target),
                fmt((line.actual or 0) + line.adjustment),
                _percent(line.ratio),
                fmt(line.score) if line.score is not None else (line.note[:10] or "—"),
            ]
        )
    story += [
        Paragraph("指标明细", s["h2"]),
        _table(rows, widths=[52 * mm, 16 * mm, 14 * mm, 26 * mm, 26 * mm, 18 * mm, 18 * mm]),
    ]
    weighted = [line for line in lines if line.item.kind == "weighted"]
    story.append(
        _bar_chart(
            "完成率 %（封顶显示 200）",
            [line.indicator.name for line in weighted],
            [min(Decimal(200), (line.ratio or Decimal(0)) * 100) for line in weighted],
            max_value=Decimal(200),
        )
    )
    award = IncentiveAward.objects.filter(result=result).first()
    if award is not None:
        story.append(Paragraph("绩效薪酬", s["h2"]))
        story.append(
            Paragraph(
                f"应发 {format_yuan(award.gross)} 元　当期发放 {format_yuan(award.immediate)} 元　延期支付 {format_yuan(award.deferred)} 元",
                s["body"],
            )
        )
        schedule = [["期次", "发放日", "金额", "已追索"]] + [
            [str(i.number), str(i.due_date), format_yuan(i.amount), format_yuan(i.clawed_back)]
            for i in award.installments.order_by("number")
        ]
        if len(schedule) > 1:
            story.append(_table(schedule, widths=[20 * mm, 40 * mm, 40 * mm, 40 * mm]))
    story += _footer(period)
    return _build(story)


def branch_report_pdf(period: Period, branch) -> bytes:
    s = _styles()
    results = list(SubjectResult.objects.filter(period=period, branch=branch).select_related("staff").order_by("peer_rank", "id"))
    awards = {a.result_id: a for a in IncentiveAward.objects.filter(result__in=results)}
    story = _header(period, f"网点绩效报告 · {branch.name}")
    rows = [["组内排名", "姓名/网点", "总分", "等级", "应发(元)"]]
    for result in results:
        award = awards.get(result.pk)
        rows.append(
            [
                str(result.peer_rank or "—"),
                result.subject_name,
                str(result.total),
                result.final_grade or result.grade or "—",
                format_yuan(award.gross) if award else "—",
            ]
        )
    story += [
        Paragraph(f"考核对象 {len(results)} 个", s["body"]),
        _table(rows, widths=[22 * mm, 50 * mm, 25 * mm, 20 * mm, 35 * mm]),
    ]
    story.append(_bar_chart("总分", [r.subject_name for r in results[:20]], [r.total for r in results[:20]]))
    story += _footer(period)
    return _build(story)


def period_report_pdf(period: Period) -> bytes:
    s = _styles()
    results = SubjectResult.objects.filter(period=period)
    story = _header(period, "全行绩效报告")
    grades = list(results.values("final_grade").annotate(n=Count("id")).order_by("final_grade"))
    story.append(Paragraph(f"考核对象 {results.count()} 个", s["body"]))
    story.append(_bar_chart("等级分布（人数）", [g["final_grade"] or "—" for g in grades], [Decimal(g["n"]) for g in grades]))
    by_branch = list(results.values("branch__name").annotate(avg=Avg("total"), n=Count("id")).order_by("branch__name"))
    rows = [["网点", "人数", "平均分"]] + [
        [b["branch__name"] or "—", str(b["n"]), fmt(Decimal(str(b["avg"])) if b["avg"] is not None else None)] for b in by_branch
    ]
    story += [Paragraph("各网点平均分", s["h2"]), _table(rows, widths=[70 * mm, 25 * mm, 30 * mm])]
    top = list(results.select_related("staff", "branch").order_by("overall_rank", "id")[:10])
    rows = [["全行排名", "姓名/网点", "网点", "总分", "等级"]] + [
        [str(r.overall_rank or "—"), r.subject_name, r.branch.name if r.branch_id else "—", str(r.total), r.final_grade or "—"]
        for r in top
    ]
    story += [Paragraph("前十名", s["h2"]), _table(rows, widths=[22 * mm, 40 * mm, 45 * mm, 25 * mm, 20 * mm])]
    story += _footer(period)
    return _build(story)


def _archive(period: Period, key: str, kind: str, content: bytes, *, staff=None, branch=None) -> PerformanceReport:
    relative = Path("performance") / "reports" / str(period.pk) / f"{key}.pdf"
    target = Path(settings.PRIVATE_MEDIA_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    try:
        with transaction.atomic():
            return PerformanceReport.objects.create(
                period=period,
                kind=kind,
                key=key,
                staff=staff,
                branch=branch,
                path=str(relative),
                sha256=hashlib.sha256(content).hexdigest(),
                size=len(content),
            )
    except IntegrityError:
        return PerformanceReport.objects.get(period=period, key=key)


def reports_generate(*, period_id: int) -> int:
    """Generate the missing reports of a finalised period (idempotent: existing archives are kept)."""
    period = Period.objects.select_related("institution", "scheme", "scheme_version").get(pk=period_id)
    if period.state != Period.State.FINALISED:
        raise ApplicationError(
            "只有定稿的考核期生成报告 / reports are generated for finalised periods", code="period_not_finalised"
        )
    existing = set(PerformanceReport.objects.filter(period=period).values_list("key", flat=True))
    made = 0
    for result in SubjectResult.objects.filter(period=period, staff__isnull=False).select_related("staff", "branch", "period"):
        key = f"staff-{result.staff_id}"
        if key not in existing:
            result.period = period
            _archive(
                period, key, PerformanceReport.Kind.STAFF, staff_report_pdf(result), staff=result.staff, branch=result.branch
            )
            made += 1
    branch_ids = set(SubjectResult.objects.filter(period=period, branch__isnull=False).values_list("branch_id", flat=True))
    from jikuai.org.models import Branch

    for branch in Branch.objects.filter(pk__in=branch_ids):
        key = f"branch-{branch.pk}"
        if key not in existing:
            _archive(period, key, PerformanceReport.Kind.BRANCH, branch_report_pdf(period, branch), branch=branch)
            made += 1
    if "period" not in existing:
        _archive(period, "period", PerformanceReport.Kind.PERIOD, period_report_pdf(period))
        made += 1
    return made


class ReportTampered(ApplicationError):
    code = "report_tampered"
    status = 409


def report_read(report: PerformanceReport) -> bytes:
    """The archived bytes, refused when they no longer match the recorded SHA-256."""
    content = (Path(settings.PRIVATE_MEDIA_ROOT) / report.path).read_bytes()
    if hashlib.sha256(content).hexdigest() != report.sha256:
        raise ReportTampered("报告文件与存档摘要不一致 / the archived report does not match its hash")
    return content
