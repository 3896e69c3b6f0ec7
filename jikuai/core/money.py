"""Money helpers: the one place where amounts are parsed and rounded (half-up to the fen)."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def to_decimal(value) -> Decimal:
    """Parse str/int/Decimal into Decimal. Floats are refused: they cannot hold money exactly."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError("money must be given as str, int or Decimal, never float")
    if isinstance(value, int):
        return Decimal(value)
    try:
        return Decimal(str(value).strip().replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def round_fen(value) -> Decimal:
    """Round half-up to the fen (0.01 yuan)."""
    return to_decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def round_to(value, places: int) -> Decimal:
    return to_decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def yuan_to_fen(value) -> int:
    return int(round_fen(value) * 100)


def fen_to_yuan(fen: int) -> Decimal:
    return (Decimal(int(fen)) / 100).quantize(FEN)


def split_amount(total, weights) -> list[Decimal]:
    """Split ``total`` by ``weights`` into fen amounts that sum exactly to ``total``.

    Cumulative rounding: part k = round(total * W_k / W) - round(total * W_(k-1) / W), where W_k is the
    running weight sum. Parts sum exactly to the total, are never negative for non-negative weights,
    and each is within one fen of its exact share; the last part takes the remainder.
    """
    total = round_fen(total)
    weights = [to_decimal(w) for w in weights]
    if not weights:
        raise ValueError("at least one weight")
    weight_sum = sum(weights)
    if weight_sum <= 0 or any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative with a positive sum")
    parts: list[Decimal] = []
    running = Decimal(0)
    previous = ZERO
    for weight in weights[:-1]:
        running += weight
        cumulative = round_fen(total * running / weight_sum)
        parts.append(cumulative - previous)
        previous = cumulative
    parts.append(total - previous)
    return parts


def format_yuan(value) -> str:
    return f"{round_fen(value):,.2f}"
