"""Amounts in Chinese capital numerals (大写金额), as written on contracts and cheques.

Rules (中国人民银行《支付结算办法》附件 "正确填写票据和结算凭证的基本规定"):

* digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟, groups 万 亿 (万亿 above);
* a run of zeros inside the number is written as one 零; zeros at the end of a group or of the
  number are not written (壹拾万柒仟, but 壹拾万零伍佰); the tens digit 1 is written 壹拾 (壹拾万元整);
* the amount ends with 整 when it stops at 元 or 角; nothing follows 分;
* a zero 元 digit (or zero 角) before a non-zero fraction is written 零: 壹仟陆佰捌拾元零叁角贰分,
  叁佰贰拾伍元零肆分.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

DIGITS = "零壹贰叁肆伍陆柒捌玖"
UNITS = ("", "拾", "佰", "仟")
GROUPS = ("", "万", "亿", "万亿")
MAX_AMOUNT = Decimal(10) ** 16


def amount_in_chinese(value) -> str:
    """``Decimal("100000")`` → ``"壹拾万元整"``; amounts are rounded half-up to the fen first."""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if amount < 0:
        raise ValueError("negative amounts have no capital form here")
    if amount >= MAX_AMOUNT:
        raise ValueError("amount too large")
    fen_total = int(amount * 100)
    yuan, fraction = divmod(fen_total, 100)
    jiao, fen = divmod(fraction, 10)

    out: list[str] = []
    if yuan:
        digits = str(yuan)
        digits = "0" * (-len(digits) % 4) + digits
        groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
        pending_zero = False
        for index, group in enumerate(groups):
            group_unit = GROUPS[len(groups) - 1 - index]
            # zeros closing the previous group (its 万位/亿位) need no 零 when this group's 仟 digit is
            # not zero: 壹拾万柒仟 (the regulation's own example), but 壹拾万零伍佰
            pending_zero = False
            for position, char in enumerate(group):
                digit = int(char)
                if digit == 0:
                    pending_zero = pending_zero or bool(out)
                    continue
                if pending_zero:
                    out.append("零")
                    pending_zero = False
                out.append(DIGITS[digit] + UNITS[3 - position])
            if int(group):
                out.append(group_unit)
        out.append("元")

    if jiao == 0 and fen == 0:
        return ("".join(out) or "零元") + "整"
    if jiao:
        if yuan and yuan % 10 == 0:
            out.append("零")
        out.append(DIGITS[jiao] + "角")
        if not fen:
            out.append("整")
    if fen:
        if yuan and not jiao:
            out.append("零")
        out.append(DIGITS[fen] + "分")
    return "".join(out)
