"""Server-side inline SVG charts for schedules (no JavaScript, no external assets)."""

from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

# a phone shows the chart about 340 px wide: a narrow canvas keeps the 12–14 px text readable there
WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 480, 260, 58, 30, 30


def _text_width(text: str, size: int = 11) -> int:
    """Rough rendered width: CJK characters are square, Latin ones about 0.6 of the font size."""
    return sum(size if "\u2e80" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" else round(size * 0.6) for ch in text)


def schedule_svg(rows: list[dict], *, title: str | None = None) -> str:
    """Stacked bars (principal, interest) per installment and a line for the remaining balance.

    ``rows``: dicts with number, principal, interest, balance (Decimal)."""
    if not rows:
        return ""
    title = title or _("还款计划图")
    principal_tip, interest_tip = _("第%(n)s期 本金 %(amount)s"), _("第%(n)s期 利息 %(amount)s")
    top = max(max(r["principal"] + r["interest"] for r in rows), Decimal(1))
    balance_top = max(max(r["balance"] for r in rows), max(r["principal"] for r in rows), Decimal(1))
    plot_w = WIDTH - PAD_LEFT - 10
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / len(rows)
    bar_w = max(step * 0.7, 1.0)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" width="100%" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 10}" y2="{PAD_TOP + plot_h}" stroke="#9aa5b1"/>',
    ]
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h - plot_h * fraction
        label = f"{float(top) * fraction:,.0f}"
        parts.append(f'<text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" font-size="12" text-anchor="end" fill="#6b7785">{label}</text>')
    points = []
    for index, row in enumerate(rows):
        x = PAD_LEFT + index * step + (step - bar_w) / 2
        h_principal = float(row["principal"] / top) * plot_h
        h_interest = float(row["interest"] / top) * plot_h
        base = PAD_TOP + plot_h
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h_principal:.1f}" width="{bar_w:.1f}" height="{h_principal:.1f}" fill="#0b7a45">'
            f"<title>{escape(principal_tip % {'n': row['number'], 'amount': format(row['principal'], '.2f')})}</title></rect>"
        )
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h_principal - h_interest:.1f}" width="{bar_w:.1f}" height="{h_interest:.1f}" fill="#f0b429">'
            f"<title>{escape(interest_tip % {'n': row['number'], 'amount': format(row['interest'], '.2f')})}</title></rect>"
        )
        cx = PAD_LEFT + index * step + step / 2
        cy = PAD_TOP + plot_h - float(row["balance"] / balance_top) * plot_h
        points.append(f"{cx:.1f},{cy:.1f}")
        if len(rows) <= 12 or index % max(1, -(-len(rows) // 12)) == 0:
            parts.append(
                f'<text x="{cx:.1f}" y="{HEIGHT - 10}" font-size="12" text-anchor="middle" fill="#6b7785">{row["number"]}</text>'
            )
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#c0392b" stroke-width="2"/>')
    legend, x = ['<g font-size="14">'], 8
    for mark, label in (
        ('<rect x="{x}" y="4" width="12" height="12" fill="#0b7a45"/>', _("本金")),
        ('<rect x="{x}" y="4" width="12" height="12" fill="#f0b429"/>', _("利息")),
        ('<line x1="{x}" y1="10" x2="{x14}" y2="10" stroke="#c0392b" stroke-width="2"/>', _("剩余本金")),
    ):
        text = escape(str(label))
        legend.append(mark.format(x=x, x14=x + 14) + f'<text x="{x + 18}" y="15">{text}</text>')
        x += 18 + _text_width(text, 14) + 14
    legend.append("</g>")
    parts.append("".join(legend))
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (built from numbers and escaped text only)
