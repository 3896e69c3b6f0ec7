"""Server-side SVG charts for the admin (no JavaScript, no CDN)."""

from django.utils.html import escape
from django.utils.safestring import mark_safe

WIDTH, HEIGHT, PAD = 640, 220, 36


def reconciliation_chart(reports) -> str:
    """Bars: mismatches per run (red when not balanced); line: points liability (Σ balances) per run."""
    if not reports:
        return ""
    balances = [int((r.totals or {}).get("balance", 0)) for r in reports]
    mismatches = [r.mismatches for r in reports]
    top_balance = max(max(balances), 1)
    top_mismatch = max(max(mismatches), 1)
    step = (WIDTH - 2 * PAD) / max(len(reports), 1)
    plot_h = HEIGHT - 2 * PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        'aria-label="对账趋势 reconciliation trend" style="max-width:720px;background:#fff;border-radius:8px">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#b8c4cc"/>',
    ]
    points = []
    for i, report in enumerate(reports):
        x = PAD + i * step
        bar_h = plot_h * mismatches[i] / top_mismatch if mismatches[i] else 0
        color = "#c0392b" if not report.ok else "#0b7a45"
        parts.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{HEIGHT - PAD - bar_h:.1f}" width="{step * 0.7:.1f}" height="{max(bar_h, 2):.1f}" fill="{color}">'
            f"<title>{escape(str(report.run_date))}: {mismatches[i]} 处差异</title></rect>"
        )
        points.append(f"{x + step / 2:.1f},{HEIGHT - PAD - plot_h * balances[i] / top_balance:.1f}")
        if len(reports) <= 12 or i % max(len(reports) // 8, 1) == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{HEIGHT - PAD + 14}" font-size="10" text-anchor="middle" fill="#6b7785">'
                f"{report.run_date:%m-%d}</text>"
            )
    parts.append(f'<polyline fill="none" stroke="#1f6feb" stroke-width="2" points="{" ".join(points)}"/>')
    parts.append(
        f'<text x="{PAD}" y="{PAD - 12}" font-size="11" fill="#1f6feb">— 积分负债 liability (max {top_balance:,})</text>'
    )
    parts.append(
        f'<text x="{WIDTH - PAD}" y="{PAD - 12}" font-size="11" fill="#c0392b" text-anchor="end">▮ 差异数 mismatches (max {top_mismatch})</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - built from numbers and escaped dates only
