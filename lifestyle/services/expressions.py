"""ZEN expressions (GoRules zen-engine) for rule conditions and points formulas."""

import json
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

import zen

from jikuai.core.exceptions import ApplicationError


class ExpressionError(ApplicationError):
    code = "invalid_expression"


def _message(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    try:
        return json.loads(text).get("source", text)
    except (ValueError, AttributeError):
        return text


def expression_validate(expression: str) -> None:
    """Raise ExpressionError when the expression does not parse."""
    if not expression.strip():
        return
    problem = zen.validate_expression(expression)
    if problem:
        detail = problem.get("source", problem) if isinstance(problem, dict) else problem
        raise ExpressionError(f"表达式有误：{detail}", f"invalid expression: {detail}")


def evaluate(expression: str, context: dict):
    try:
        return zen.evaluate_expression(expression, context)
    except RuntimeError as exc:
        raise ExpressionError(f"表达式计算失败：{_message(exc)}", f"expression failed: {_message(exc)}") from exc


def condition_holds(expression: str, context: dict) -> bool:
    if not expression.strip():
        return True
    return evaluate(expression, context) is True


def points_from(expression: str, context: dict) -> int:
    """Evaluate a points formula; the result is floored to whole points and must not be negative."""
    value = evaluate(expression, context)
    if isinstance(value, bool) or value is None:
        raise ExpressionError("积分公式结果不是数字。", "points formula did not return a number")
    try:
        points = int(Decimal(str(value)).to_integral_value(rounding=ROUND_FLOOR))
    except (InvalidOperation, ValueError) as exc:
        raise ExpressionError("积分公式结果不是数字。", "points formula did not return a number") from exc
    return max(points, 0)
