"""Settlement certificate (结清证明) as PDF, with Chinese text (reportlab CID font, no font file)."""

import io

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

FONT = "STSong-Light"


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def settlement_certificate_pdf(*, loan, customer_name: str, masked_id: str, institution_name: str, issued_on) -> bytes:
    font = _font()
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    pdf.setTitle(f"结清证明 {loan.contract_no}")
    pdf.setAuthor(institution_name)
    width, height = A4
    pdf.setFont(font, 20)
    pdf.drawCentredString(width / 2, height - 40 * mm, "贷款结清证明")
    pdf.setFont(font, 12)
    lines = [
        f"借款人：{customer_name}（身份证号 {masked_id}）",
        f"合同编号：{loan.contract_no}",
        f"贷款产品：{loan.product.name}",
        f"贷款金额：人民币 {loan.principal:,.2f} 元",
        f"起息日：{loan.value_date:%Y年%m月%d日}    到期日：{loan.maturity_date:%Y年%m月%d日}",
        f"累计还款：人民币 {loan.paid_to_date:,.2f} 元",
        f"结清日期：{loan.settled_on:%Y年%m月%d日}",
        "",
        "兹证明上述借款人在本行的该笔贷款本金、利息及相关费用已全部结清，",
        "本行与借款人之间就该笔贷款不再存在债权债务关系。",
        "",
        f"出具机构：{institution_name}",
        f"出具日期：{issued_on:%Y年%m月%d日}",
    ]
    y = height - 60 * mm
    for line in lines:
        pdf.drawString(25 * mm, y, line)
        y -= 9 * mm
    pdf.setFont(font, 9)
    pdf.drawString(
        25 * mm, 20 * mm, "本证明由吉快金融平台根据贷款分户账生成。Settlement certificate generated from the loan ledger."
    )
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
