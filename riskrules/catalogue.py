"""The variable catalogue as plain frozen specs (one query), type coercion of inputs and the JSON schema
of a variable for the ZEN input node.

Types as they enter ZEN: number → int/float, integer → int, fen → int (money is integer fen, never a
float), string/enum → str, boolean → bool, date → "YYYY-MM-DD", list → list of scalars.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from jikuai.core.exceptions import ApplicationError


class InputTypeError(ApplicationError):
    code = "invalid_input"
    status = 400


@dataclass(frozen=True)
class VariableSpec:
    code: str
    label: str
    type: str
    source: str
    source_key: str = ""
    expression: str = ""
    enum_values: tuple = ()
    missing_policy: str = "refer"
    default_value: object = None
    unit: str = ""

    @property
    def json_type(self) -> str:
        return JSON_TYPES[self.type]

    def json_schema(self, *, nullable: bool) -> dict:
        schema: dict = {"type": [self.json_type, "null"] if nullable else self.json_type, "title": self.label}
        if self.type == "enum" and self.enum_values:
            schema["enum"] = [*self.enum_values, None] if nullable else list(self.enum_values)
        if self.type == "date":
            schema["format"] = "date"
        return schema


JSON_TYPES = {
    "number": "number",
    "integer": "integer",
    "fen": "integer",
    "string": "string",
    "enum": "string",
    "boolean": "boolean",
    "date": "string",
    "list": "array",
}

# JSON-schema types a property may declare for a variable of each catalogue type
COMPATIBLE_SCHEMA_TYPES = {
    "number": {"number", "integer"},
    "integer": {"integer"},
    "fen": {"integer"},
    "string": {"string"},
    "enum": {"string"},
    "boolean": {"boolean"},
    "date": {"string"},
    "list": {"array"},
}


def spec_from_model(variable) -> VariableSpec:
    return VariableSpec(
        code=variable.code,
        label=variable.label,
        type=variable.type,
        source=variable.source,
        source_key=variable.source_key,
        expression=variable.expression,
        enum_values=tuple(variable.enum_values or ()),
        missing_policy=variable.missing_policy,
        default_value=variable.default_value,
        unit=variable.unit,
    )


def load_catalogue() -> dict[str, VariableSpec]:
    """All active variables, keyed by code (one query)."""
    from riskrules.models import Variable

    return {v.code: spec_from_model(v) for v in Variable.objects.filter(is_active=True)}


def load_reason_texts() -> dict[str, str]:
    from riskrules.models import ReasonCode

    return dict(ReasonCode.objects.values_list("code", "text_zh"))


def _type_error(spec: VariableSpec, expected_zh: str, expected_en: str, value) -> InputTypeError:
    shown = repr(value)[:40]
    return InputTypeError(
        f"输入“{spec.label}”({spec.code}) 应为{expected_zh}，收到 {shown}。",
        f"input {spec.code} must be {expected_en}, got {shown}",
        extra={"field": spec.code},
    )


def coerce(spec: VariableSpec, value):
    """Convert a supplied or resolved value to the type ZEN receives; None stays None (missing)."""
    if value is None:
        return None
    kind = spec.type
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise _type_error(spec, "布尔值 true/false", "a boolean", value)
    if kind in ("integer", "fen"):
        if isinstance(value, bool):
            raise _type_error(spec, "整数", "an integer", value)
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if value.is_integer():
                return int(value)
            raise _type_error(spec, "整数（金额以分为单位）" if kind == "fen" else "整数", "an integer", value)
        if isinstance(value, Decimal | str):
            try:
                number = Decimal(str(value).strip())
            except InvalidOperation:
                raise _type_error(spec, "整数", "an integer", value) from None
            if number != number.to_integral_value():
                raise _type_error(spec, "整数（金额以分为单位）" if kind == "fen" else "整数", "an integer", value)
            return int(number)
        raise _type_error(spec, "整数", "an integer", value)
    if kind == "number":
        if isinstance(value, bool):
            raise _type_error(spec, "数值", "a number", value)
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return int(value) if value.is_integer() else value
        if isinstance(value, Decimal | str):
            try:
                number = Decimal(str(value).strip())
            except InvalidOperation:
                raise _type_error(spec, "数值", "a number", value) from None
            if not number.is_finite():
                raise _type_error(spec, "数值", "a number", value)
            return int(number) if number == number.to_integral_value() else float(number)
        raise _type_error(spec, "数值", "a number", value)
    if kind == "string":
        if isinstance(value, str):
            return value
        raise _type_error(spec, "文本", "a string", value)
    if kind == "enum":
        if isinstance(value, str) and (not spec.enum_values or value in spec.enum_values):
            return value
        allowed = "、".join(spec.enum_values)
        raise _type_error(spec, f"以下之一：{allowed}", f"one of {', '.join(spec.enum_values)}", value)
    if kind == "date":
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                raise _type_error(spec, "日期 YYYY-MM-DD", "a date YYYY-MM-DD", value) from None
        raise _type_error(spec, "日期 YYYY-MM-DD", "a date YYYY-MM-DD", value)
    if kind == "list":
        if isinstance(value, list | tuple) and all(isinstance(item, str | int | bool) for item in value):
            return list(value)
        raise _type_error(spec, "列表", "a list", value)
    raise _type_error(spec, kind, kind, value)
