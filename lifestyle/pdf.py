"""Merchant settlement statement (商户结算对账单) as PDF with Chinese text (reportlab built-in CID font)."""

import io

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
        _registered = True
    return FONT


def statement_pdf(batch, lines) -> bytes:
    font = _font()
    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=22, spaceAfter=6)
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=15)
    merchant = batch.merchant
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=f"商户结算对账单 {merchant.code} {batch.period_start}~{batch.period_end}",
        author="吉快金融",
    )
    story = [
        Paragraph("吉快·漫生活 商户结算对账单", title),
        Paragraph(f"商户：{merchant.name}（{merchant.code}）", body),
        Paragraph(
            f"结算期间：{batch.period_start} 至 {batch.period_end}　结算周期：{merchant.get_settlement_cycle_display()}", body
        ),
        Paragraph(f"结算账户：{merchant.settlement_account_name} {merchant.masked_settlement_account}", body),
        Paragraph(f"付款流水号：{batch.payout_reference}", body),
        Spacer(1, 6 * mm),
    ]
    rows = [["营业日期", "券码", "权益", "类型", "积分", "积分价值(元)", "银行承担", "金额(元)"]]
    for line in lines:
        rows.append(
            [
                str(line.business_date),
                line.voucher.code[:4] + "******",
                line.voucher.benefit.name[:14],
                line.get_kind_display().split(" ")[0],
                f"{line.points:,}",
                f"{line.yuan_per_point:.4f}",
                f"{line.bank_share:.2%}",
                f"{line.amount:,.2f}",
            ]
        )
    rows.append(["合计", "", "", f"{batch.line_count} 笔", f"{batch.points:,}", "", "", f"{batch.gross_amount:,.2f}"])
    table = Table(rows, repeatRows=1, colWidths=[22 * mm, 22 * mm, 36 * mm, 14 * mm, 18 * mm, 22 * mm, 18 * mm, 26 * mm])
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), font),
                ("FONTSIZE", (0, 0), (-1, -1), 8.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f5ee")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b8c4cc")),
                ("ALIGN", (4, 1), (-1, -1), "RIGHT"),
            ]
        )
    )
    story += [
        table,
        Spacer(1, 6 * mm),
        Paragraph(f"应付总额：{batch.gross_amount:,.2f} 元　服务费（{merchant.fee_rate:.2%}）：{batch.fee_amount:,.2f} 元", body),
        Paragraph(f"实付金额：<b>{batch.net_amount:,.2f} 元</b>", body),
        Spacer(1, 4 * mm),
        Paragraph(
            "请于收到对账单后3日内在商户端确认或提出异议，逾期视为确认。撤销核销的款项将作为负数明细在下一期结算中扣回。", body
        ),
        Paragraph(f"生成时间：{timezone.localtime():%Y-%m-%d %H:%M}", body),
    ]
    doc.build(story)
    return buffer.getvalue()
