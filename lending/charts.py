"""Server-side inline SVG charts for schedules (no JavaScript, no external assets)."""

from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 240, 56, 28, 12


def schedule_svg(rows: list[dict], *, title: str = "还款计划图") -> str:
    """Stacked bars (principal, interest) per installment and a line for the remaining balance.

    ``rows``: dicts with number, principal, interest, balance (Decimal)."""
    if not rows:
        return ""
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
        parts.append(f'<text x="{PAD_LEFT - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#6b7785">{label}</text>')
    points = []
    for index, row in enumerate(rows):
        x = PAD_LEFT + index * step + (step - bar_w) / 2
        h_principal = float(row["principal"] / top) * plot_h
        h_interest = float(row["interest"] / top) * plot_h
        base = PAD_TOP + plot_h
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h_principal:.1f}" width="{bar_w:.1f}" height="{h_principal:.1f}" fill="#0b7a45">'
            f"<title>第{row['number']}期 本金 {row['principal']:.2f}</title></rect>"
        )
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h_principal - h_interest:.1f}" width="{bar_w:.1f}" height="{h_interest:.1f}" fill="#f0b429">'
            f"<title>第{row['number']}期 利息 {row['interest']:.2f}</title></rect>"
        )
        cx = PAD_LEFT + index * step + step / 2
        cy = PAD_TOP + plot_h - float(row["balance"] / balance_top) * plot_h
        points.append(f"{cx:.1f},{cy:.1f}")
        if len(rows) <= 24 or index % max(1, len(rows) // 12) == 0:
            parts.append(
                f'<text x="{cx:.1f}" y="{HEIGHT - 10}" font-size="10" text-anchor="middle" fill="#6b7785">{row["number"]}</text>'
            )
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#c0392b" stroke-width="2"/>')
    parts.append(
        f'<g font-size="11"><rect x="{PAD_LEFT}" y="2" width="10" height="10" fill="#0b7a45"/>'
        f'<text x="{PAD_LEFT + 14}" y="11">本金</text>'
        f'<rect x="{PAD_LEFT + 50}" y="2" width="10" height="10" fill="#f0b429"/>'
        f'<text x="{PAD_LEFT + 64}" y="11">利息</text>'
        f'<line x1="{PAD_LEFT + 100}" y1="7" x2="{PAD_LEFT + 114}" y2="7" stroke="#c0392b" stroke-width="2"/>'
        f'<text x="{PAD_LEFT + 118}" y="11">剩余本金</text></g>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (built from numbers and escaped text only)
