"""Contract PDFs (reportlab, Chinese): 借款合同 (loan contract), 授信额度合同 (credit line agreement) and the
signing evidence page (签署确认页) appended before the institution signs.

Font: the contract embeds (subsets) Debian's WenQuanYi Micro Hei (``fonts-wqy-microhei``,
``JIKUAI_CONTRACT_FONT_PATH``) so the signed document looks the same on every reader, years later;
without that file it falls back to reportlab's built-in CID font STSong-Light, as the other PDFs of the
platform do (not embedded: the reader supplies a Song face).

The borrower's full name, ID number, mobile and address appear **only inside the PDF** (a contract must
identify the parties); they are passed in by the caller from the decrypted customer record and are never
stored in ``Contract.terms`` or logged. Output is deterministic for the same input (``invariant``), so
regenerating a contract gives the same bytes.
"""

import io
import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from django.conf import settings
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from lending.contracts.amounts import amount_in_chinese

EMBEDDED_FONT = "JikuaiContractSans"
METHOD_LABELS = {
    "sms_otp": "短信验证码（一次性，验证通过即作废）",
    "demo": "演示数据（未经客户确认，仅用于演示环境）",
    "drawdown": "客户在线确认支用（授信额度合同项下，支用时已展示金额、期限、利率与还款计划）",
}
EVIDENCE_INTROS = {
    "drawdown": "借款人在授信额度合同项下在线确认支用本笔借款，贷款人已按借款人指令放款。以下为支用确认证据；"
    "借据文本摘要为本页之前全部内容的 SHA-256 值。",
}
CID_FONT = "STSong-Light"


@cache
def _register(path: str) -> str:
    if path and Path(path).exists():
        pdfmetrics.registerFont(TTFont(EMBEDDED_FONT, path, subfontIndex=0))
        return EMBEDDED_FONT
    if CID_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    return CID_FONT


def font_name() -> str:
    return _register(str(settings.JIKUAI_CONTRACT_FONT_PATH or ""))


@dataclass(frozen=True)
class Borrower:
    """The borrower as printed in the contract (decrypted values; kept in memory only)."""

    name: str
    id_number: str
    mobile: str
    address: str


def _styles():
    font = font_name()
    base = ParagraphStyle("base", fontName=font, fontSize=10.5, leading=16, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=base, fontSize=20, leading=28, alignment=TA_CENTER, spaceAfter=4 * mm),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=9, alignment=TA_CENTER, textColor=colors.grey),
        "h": ParagraphStyle("h", parent=base, fontSize=12, leading=18, spaceBefore=3 * mm, spaceAfter=1 * mm),
        "p": base,
        "small": ParagraphStyle("small", parent=base, fontSize=8.5, leading=12),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
    }


def _esc(value) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def percent_text(value) -> str:
    """A fraction as a percentage with 2 to 4 decimals: 0.0435 → "4.35", 0.06525 → "6.525", 0.5 → "50.00"."""
    pct = (Decimal(str(value)) * 100).quantize(Decimal("0.0001"))
    text = f"{pct:f}".rstrip("0").rstrip(".")
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) == 1:
        text += "0"
    return text


def _pct(value) -> str:
    return f"{percent_text(value)}%"


def _money(value) -> str:
    return f"{Decimal(str(value)):,.2f}"


def _date(value: str) -> str:
    year, month, day = value.split("-")
    return f"{year}年{int(month)}月{int(day)}日"


def _table(rows, widths, *, header=True, font=None):
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("FONTNAME", (0, 0), (-1, -1), font or font_name()),
        ("FONTSIZE", (0, 0), (-1, -1), 8.5),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#888888")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEF2F7")), ("ALIGN", (0, 0), (-1, 0), "CENTER")]
    table.setStyle(TableStyle(style))
    return table


def _footer(institution_name: str, contract_no: str, page_label: str | None = None):
    def draw(canvas, doc):
        canvas.saveState()
        canvas.setFont(font_name(), 8)
        canvas.setFillColor(colors.grey)
        canvas.drawString(20 * mm, 10 * mm, f"{institution_name}  合同编号 {contract_no}")
        canvas.drawRightString(A4[0] - 20 * mm, 10 * mm, page_label or f"第 {doc.page} 页")
        canvas.restoreState()

    return draw


def _build(story, *, title: str, author: str, contract_no: str, page_label: str | None = None) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=title,
        author=author,
        subject=contract_no,
        creator="吉快金融 Jikuai",
        invariant=1,
    )
    footer = _footer(author, contract_no, page_label)
    with _BUILDING:
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


# reportlab's embedded TrueType font keeps its glyph-subset state on the shared font object: two documents
# built at once in one process (threads racing to sign) corrupt it (KeyError in makeSubset). One at a time.
_BUILDING = threading.Lock()


def _parties(terms: dict, borrower: Borrower, st) -> list:
    lender_label = "贷款人（甲方）" if terms["kind"] == "loan" else "授信人（甲方）"
    borrower_label = "借款人（乙方）" if terms["kind"] == "loan" else "被授信人（乙方）"
    institution = terms["institution"]
    rows = [
        [lender_label, Paragraph(_esc(institution["name"]), st["cell"])],
        ["机构代码", institution["code"]],
        ["经办网点", Paragraph(_esc(terms.get("branch") or "—"), st["cell"])],
        [borrower_label, borrower.name],
        ["身份证号码", borrower.id_number],
        ["联系电话", borrower.mobile],
        ["住址", Paragraph(_esc(borrower.address or "—"), st["cell"])],
    ]
    return [Paragraph("当事人", st["h"]), _table(rows, [35 * mm, 135 * mm], header=False), Spacer(1, 3 * mm)]


def _schedule_table(terms: dict, st) -> list:
    rows = [["期次", "还款日", "应还本金", "应还利息", "应还合计", "剩余本金"]]
    for row in terms["schedule"]:
        rows.append(
            [
                str(row["number"]),
                row["due_date"],
                _money(row["principal"]),
                _money(row["interest"]),
                _money(row["payment"]),
                _money(row["balance"]),
            ]
        )
    rows.append(["合计", "", _money(terms["amount"]), _money(terms["total_interest"]), _money(terms["total_payment"]), ""])
    table = _table(rows, [14 * mm, 28 * mm, 32 * mm, 30 * mm, 34 * mm, 32 * mm])
    table.setStyle(TableStyle([("ALIGN", (2, 1), (-1, -1), "RIGHT"), ("ALIGN", (0, 1), (1, -1), "CENTER")]))
    return [table]


def _rate_clauses(terms: dict, st, n: int) -> list:
    penalty = _pct(terms["penalty_rate"])
    markup = _pct(terms["penalty_markup"])
    grace = int(terms.get("grace_days") or 0)
    basis = int(terms.get("day_basis") or 360)
    out = [
        Paragraph(f"第{n}条 利率与年化利率", st["h"]),
        Paragraph(
            f"执行年利率为 <b>{_pct(terms['annual_rate'])}</b>（固定利率），日利率 = 年利率 ÷ {basis}。"
            f"按中国人民银行公告〔2021〕第3号的要求，以借款实际现金流（含一次性手续费 {_money(terms.get('upfront_fee', '0'))} 元）"
            f"按内部收益率法计算的年化利率（APR）为 <b>{terms['apr']}%</b>。",
            st["p"],
        ),
        Paragraph(f"第{n + 1}条 罚息与复利", st["h"]),
        Paragraph(
            f"借款人未按期偿还本金的，自逾期之日起对逾期本金按罚息利率按日计收罚息，罚息利率为执行年利率上浮 {markup}，"
            f"即年利率 <b>{penalty}</b>（罚息利率替代执行利率，不与之叠加）；对应付未付的利息按罚息利率按日计收复利。"
            + (f"还款日后 {grace} 天为宽限期，宽限期内足额还款不计罚息、不视为逾期。" if grace else "本合同不设宽限期。")
            + "罚息与复利按日累计，结计或偿还时按四舍五入精确到分。",
            st["p"],
        ),
    ]
    return out


def _common_tail(terms: dict, st, n: int) -> list:
    institution = terms["institution"]["name"]
    return [
        Paragraph(f"第{n}条 提前还款", st["h"]),
        Paragraph(
            "借款人可申请提前偿还部分或全部借款，提前还款部分的利息按实际占用天数和日利率计算，不收取提前还款违约金；"
            "部分提前还款时借款人可选择缩短期限（月供不变）或减少月供（期限不变）。",
            st["p"],
        ),
        Paragraph(f"第{n + 1}条 借款人的声明与承诺", st["h"]),
        Paragraph(
            "借款人保证所提供的身份、收入等资料真实、完整、有效；借款用途合法合规，不用于购房、股票、期货、理财等投资，"
            "不用于国家法律法规禁止的用途；按时足额还款；联系方式变更时及时通知贷款人。",
            st["p"],
        ),
        Paragraph(f"第{n + 2}条 违约责任", st["h"]),
        Paragraph(
            "借款人未按约定还款、挪用借款或提供虚假资料的，贷款人有权按本合同计收罚息和复利、宣布借款提前到期、"
            "要求借款人立即清偿全部借款本息，并依法报送金融信用信息基础数据库。",
            st["p"],
        ),
        Paragraph(f"第{n + 3}条 争议解决", st["h"]),
        Paragraph(
            f"因本合同引起的或与本合同有关的争议，双方应协商解决；协商不成的，任何一方均可向{_esc(institution)}住所地有管辖权的"
            "人民法院提起诉讼。争议期间，各方仍应履行本合同中不涉及争议的条款。",
            st["p"],
        ),
        Paragraph(f"第{n + 4}条 电子签署与合同生效", st["h"]),
        Paragraph(
            "本合同以电子数据形式订立。借款人通过本人手机号接收的短信验证码确认签署，该确认即为借款人的可靠电子签名；"
            "贷款人以其数字证书对合同文件加盖电子签章（PAdES 数字签名），签章后文件的任何改动均可被检验发现。"
            "依据《中华人民共和国电子签名法》《中华人民共和国民法典》，本合同自借款人确认且贷款人电子签章完成之日起生效，"
            "与纸质合同具有同等法律效力。借款人可随时在线下载本合同并在合同验证页校验其完整性。",
            st["p"],
        ),
    ]


def _signature_block(terms: dict, borrower: Borrower, st) -> list:
    lender = "贷款人（甲方）" if terms["kind"] == "loan" else "授信人（甲方）"
    debtor = "借款人（乙方）" if terms["kind"] == "loan" else "被授信人（乙方）"
    rows = [
        [f"{lender}（电子签章）", f"{debtor}（电子签名）"],
        [Paragraph(_esc(terms["institution"]["name"]), st["cell"]), borrower.name],
        ["签章方式：机构数字证书 PAdES 签章", "签署方式：短信验证码确认"],
        ["签章日期：见签署确认页", "签署日期：见签署确认页"],
    ]
    table = _table(rows, [85 * mm, 85 * mm], header=False)
    table.setStyle(TableStyle([("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))
    return [Spacer(1, 4 * mm), KeepTogether([Paragraph("签署", st["h"]), table])]


def loan_contract_pdf(*, terms: dict, borrower: Borrower) -> bytes:
    """借款合同."""
    st = _styles()
    amount = Decimal(terms["amount"])
    story = [
        Paragraph("个人借款合同", st["title"]),
        Paragraph(
            f"合同编号：{_esc(terms['contract_no'])}　　申请编号：{_esc(terms.get('application_no', ''))}　　"
            f"产品：{_esc(terms['product']['name'])}（第{terms['product'].get('version', 1)}版）",
            st["subtitle"],
        ),
        *_parties(terms, borrower, st),
        Paragraph("借款人因生产经营或生活消费需要向贷款人申请借款，贷款人同意发放。双方经平等协商，订立本合同。", st["p"]),
        Paragraph("第1条 借款金额", st["h"]),
        Paragraph(
            f"人民币（大写）<b>{amount_in_chinese(amount)}</b>，（小写）¥{_money(amount)}。",
            st["p"],
        ),
        Paragraph("第2条 借款用途", st["h"]),
        Paragraph(_esc(terms.get("purpose") or "生产经营及日常消费"), st["p"]),
        Paragraph("第3条 借款期限", st["h"]),
        Paragraph(
            f"借款期限 {terms['term_months']} 个月，自放款日（起息日）起算；按计划放款日 {_date(terms['value_date'])} 测算，"
            f"到期日为 {_date(terms['maturity_date'])}。实际起息日以放款日为准，各期还款日随之顺延，"
            "还款日为起息日在每月的对应日（当月无对应日的为当月最后一日）。",
            st["p"],
        ),
        *_rate_clauses(terms, st, 4),
        Paragraph("第6条 还款方式与还款计划", st["h"]),
        Paragraph(
            f"还款方式：<b>{_esc(terms['method_label'])}</b>。按计划放款日测算的还款计划如下（单位：元），"
            "实际以放款后生成的还款计划为准；借款人授权贷款人在还款日从其签约还款账户扣收应还款项。",
            st["p"],
        ),
        Spacer(1, 2 * mm),
        *_schedule_table(terms, st),
        *_common_tail(terms, st, 7),
        *_signature_block(terms, borrower, st),
    ]
    return _build(
        story, title=f"借款合同 {terms['contract_no']}", author=terms["institution"]["name"], contract_no=terms["contract_no"]
    )


def line_agreement_pdf(*, terms: dict, borrower: Borrower) -> bytes:
    """授信额度合同."""
    st = _styles()
    amount = Decimal(terms["amount"])
    revolving = bool(terms.get("revolving"))
    story = [
        Paragraph("个人授信额度合同", st["title"]),
        Paragraph(
            f"合同编号：{_esc(terms['contract_no'])}　　申请编号：{_esc(terms.get('application_no', ''))}　　"
            f"产品：{_esc(terms['product']['name'])}（第{terms['product'].get('version', 1)}版）",
            st["subtitle"],
        ),
        *_parties(terms, borrower, st),
        Paragraph("被授信人向授信人申请个人授信额度，授信人同意在下列额度和期限内向被授信人提供贷款。双方订立本合同。", st["p"]),
        Paragraph("第1条 授信额度", st["h"]),
        Paragraph(f"人民币（大写）<b>{amount_in_chinese(amount)}</b>，（小写）¥{_money(amount)}。", st["p"]),
        Paragraph("第2条 额度有效期", st["h"]),
        Paragraph(
            f"自 {_date(terms['valid_from'])} 起至 {_date(terms['valid_until'])} 止（{terms['validity_months']} 个月）。"
            "有效期届满未使用的额度自动失效；有效期内发放的贷款按其借款期限执行。",
            st["p"],
        ),
        Paragraph("第3条 额度使用方式", st["h"]),
        Paragraph(
            (
                "本额度为<b>循环额度</b>：在有效期内，已使用额度随贷款本金的归还而恢复，可循环支用，"
                "任一时点未归还的贷款本金合计不超过授信额度。"
                if revolving
                else "本额度为<b>一次性额度</b>：已使用的额度不因还款而恢复。"
            ),
            st["p"],
        ),
        Paragraph("第4条 支用条件", st["h"]),
        Paragraph(
            "被授信人可通过手机银行、网页或客户经理申请支用（用信）。每笔支用金额不超过当时的可用额度，期限可选 "
            f"{_esc('、'.join(str(t) for t in terms.get('term_options', [])))} 个月，还款方式可选 "
            f"{_esc('、'.join(terms.get('method_labels', [])))}。每笔支用前授信人将重新核验黑名单及准入条件，"
            "并向被授信人展示该笔支用的还款计划和年化利率，经确认后发放；每笔支用即为本合同项下的一笔借款，"
            "适用本合同约定。额度被冻结、到期或关闭后不得支用。",
            st["p"],
        ),
        *_rate_clauses(terms, st, 5),
        Paragraph("第7条 参考还款计划", st["h"]),
        Paragraph(
            f"以全额支用、期限 {terms['term_months']} 个月、{_esc(terms['method_label'])}、"
            f"{_date(terms['value_date'])} 放款测算（单位：元），实际以每笔支用生成的还款计划为准：",
            st["p"],
        ),
        Spacer(1, 2 * mm),
        *_schedule_table(terms, st),
        *_common_tail(terms, st, 8),
        *_signature_block(terms, borrower, st),
    ]
    return _build(
        story, title=f"授信额度合同 {terms['contract_no']}", author=terms["institution"]["name"], contract_no=terms["contract_no"]
    )


def contract_pdf(*, terms: dict, borrower: Borrower) -> bytes:
    builder = loan_contract_pdf if terms["kind"] == "loan" else line_agreement_pdf
    return builder(terms=terms, borrower=borrower)


def drawdown_receipt_pdf(*, terms: dict, borrower: Borrower) -> bytes:
    """借款借据: the voucher of one drawdown under a credit line agreement — amount, rate, dates, schedule."""
    st = _styles()
    amount = Decimal(terms["amount"])
    institution = terms["institution"]
    rows = [
        ["借据编号", terms["contract_no"]],
        ["授信额度合同编号", terms.get("line_contract_no") or "—"],
        ["借款合同号（贷款账号）", terms["loan_contract_no"]],
        ["支用编号", terms["drawdown_no"]],
        ["贷款人", Paragraph(_esc(institution["name"]), st["cell"])],
        ["经办网点", Paragraph(_esc(terms.get("branch") or "—"), st["cell"])],
        ["借款人", borrower.name],
        ["身份证号码", borrower.id_number],
        ["贷款产品", Paragraph(_esc(terms["product"]["name"]), st["cell"])],
        ["借款金额", Paragraph(f"人民币（大写）{amount_in_chinese(amount)}　（小写）¥{_money(amount)}", st["cell"])],
        ["年利率（单利）", f"{terms['annual_rate_percent']}%"],
        ["年化利率（APR）", f"{terms['apr']}%" if terms.get("apr") else "—"],
        ["逾期罚息利率", f"{terms['penalty_rate_percent']}%（在借款利率基础上加收 {terms['penalty_markup_percent']}%）"],
        ["借款期限", f"{terms['term_months']} 个月"],
        ["起息日（放款日）", _date(terms["value_date"])],
        ["到期日", _date(terms["maturity_date"])],
        ["还款方式", terms["method_label"]],
        ["支用渠道", terms.get("channel_label") or "—"],
    ]
    story = [
        Paragraph("借款借据", st["title"]),
        Paragraph(f"借据编号：{_esc(terms['contract_no'])}", st["subtitle"]),
        _table(rows, [45 * mm, 125 * mm], header=False),
        Spacer(1, 3 * mm),
        Paragraph("还款计划（单位：元）", st["h"]),
        *_schedule_table(terms, st),
        Spacer(1, 3 * mm),
        Paragraph(
            f"本借据是编号为 {_esc(terms.get('line_contract_no') or '—')} 的《授信额度合同》项下的借款凭证，"
            "是该合同不可分割的组成部分，与该合同具有同等法律效力；本借据未约定的事项按该合同执行。"
            "借款人按上述还款计划按期归还本息，逾期部分自逾期之日起按逾期罚息利率计收罚息。",
            st["p"],
        ),
        Spacer(1, 4 * mm),
        Paragraph(f"贷款人（电子签章）：{_esc(institution['name'])}", st["p"]),
    ]
    return _build(story, title=f"借款借据 {terms['contract_no']}", author=institution["name"], contract_no=terms["contract_no"])


def evidence_page_pdf(*, contract_no: str, institution_name: str, evidence: dict) -> bytes:
    """签署确认页: the customer's confirmation evidence, appended to the contract before it is signed."""
    st = _styles()
    rows = [
        ["合同编号", contract_no],
        ["合同文本摘要（SHA-256）", Paragraph(_esc(evidence["document_sha256"]), st["cell"])],
        ["确认人", evidence["customer_name_masked"]],
        ["确认手机号", evidence["mobile_masked"]],
        ["确认方式", METHOD_LABELS.get(evidence.get("method", "sms_otp"), evidence.get("method", ""))],
        ["确认时间", evidence["confirmed_at_local"]],
        ["确认 IP 地址", evidence.get("ip_address") or "—"],
        ["客户端", Paragraph(_esc(evidence.get("user_agent") or "—"), st["cell"])],
        ["电子签章机构", Paragraph(_esc(institution_name), st["cell"])],
    ]
    story = [
        Paragraph("电子合同签署确认页", st["title"]),
        Paragraph(f"合同编号：{_esc(contract_no)}", st["subtitle"]),
        Spacer(1, 4 * mm),
        Paragraph(
            EVIDENCE_INTROS.get(
                evidence.get("method", ""),
                "借款人已在线阅读本合同全文，并通过向其本人手机号发送的短信验证码确认签署。以下为确认证据；"
                "合同文本摘要为借款人确认时所阅读合同文件（本页之前的全部内容）的 SHA-256 值。",
            ),
            st["p"],
        ),
        Spacer(1, 3 * mm),
        _table(rows, [45 * mm, 125 * mm], header=False),
        Spacer(1, 4 * mm),
        Paragraph(
            "本页添加后，贷款人以其数字证书对整份文件进行 PAdES 电子签章；签章时间与签章证书可在 PDF 阅读器的签名面板"
            "或吉快金融合同验证页查看。签章后的任何改动都会使签名验证失败。",
            st["small"],
        ),
    ]
    return _build(
        story, title=f"签署确认页 {contract_no}", author=institution_name, contract_no=contract_no, page_label="签署确认页"
    )
