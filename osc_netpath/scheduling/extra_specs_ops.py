"""Nova's extra-spec operators, matched exactly (a clean re-implementation).

Semantics of ``nova/scheduler/filters/extra_specs_ops.py`` (``match(value, req)``), which both
AggregateInstanceExtraSpecsFilter and ComputeCapabilitiesFilter use:

* the requirement is split on whitespace; if its first word is not an operator the whole
  requirement string is compared with ``==`` to the value (``"a b"`` matches only ``"a b"``);
* ``=`` is *numeric greater-or-equal* (not equality), ``==``/``!=``/``>=``/``<=`` are numeric;
* ``s==``, ``s!=``, ``s<``, ``s<=``, ``s>``, ``s>=`` compare strings;
* ``<in>`` is a substring test with the first operand only; ``<all-in>`` needs every operand to be
  a substring of the value;
* ``<or>`` reads every *other* word after it as a candidate (the words in between are skipped
  unread, whatever they are): ``<or> a <or> b`` and ``<or> a x b`` both accept ``a`` and ``b``;
* an operator without an operand matches nothing.

Where Nova itself raises (``float()`` of a non-number: ``ValueError``; ``<or>`` with nothing after
it: ``IndexError``) the scheduler request dies with that exception. Here that is a
:class:`SpecError`: a configuration problem to report, never a crash of this tool.
"""
from __future__ import annotations

import operator
from collections.abc import Callable

NUMERIC_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.ge,  # Nova's '=' means "at least"
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
}
STRING_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "s==": operator.eq,
    "s!=": operator.ne,
    "s<": operator.lt,
    "s<=": operator.le,
    "s>": operator.gt,
    "s>=": operator.ge,
}
OPERATORS: frozenset[str] = frozenset(
    [*NUMERIC_OPERATORS, *STRING_OPERATORS, "<in>", "<all-in>", "<or>"]
)


class SpecError(ValueError):
    """Nova's scheduler would raise on this comparison (a configuration problem).

    ``side`` says which input is broken: ``"value"`` (the aggregate metadata / host value) or
    ``"requirement"`` (the flavor's extra spec).
    """

    def __init__(self, message: str, side: str) -> None:
        super().__init__(message)
        self.side = side


def _number(text: str, side: str) -> float:
    try:
        return float(text)  # the same conversion Nova applies, so "1e3", " 2 ", "inf" behave alike
    except ValueError:
        raise SpecError(f"{text!r} is not a number", side) from None


def match(value: str | None, req: str) -> bool:
    """True when ``value`` satisfies the extra-spec requirement ``req``; SpecError where Nova raises."""
    words = req.split()
    op = words[0] if words else None
    if op not in OPERATORS:
        return value == req
    if value is None:
        return False
    operands = words[1:]
    if op == "<or>":
        if not operands:
            raise SpecError("'<or>' has no value after it", "requirement")
        return value in operands[::2]
    if not operands:
        return False
    if op == "<all-in>":
        return all(word in value for word in operands)
    if op == "<in>":
        return operands[0] in value
    if op in STRING_OPERATORS:
        return STRING_OPERATORS[op](value, operands[0])
    # Nova converts the value first, then the operand: keep that order for the reported side.
    left = _number(value, "value")
    return NUMERIC_OPERATORS[op](left, _number(operands[0], "requirement"))


def requirement_problem(req: str) -> str | None:
    """What is wrong with ``req`` on its own, whatever the host value (None when nothing is)."""
    words = req.split()
    if not words or words[0] not in OPERATORS:
        return None
    op, operands = words[0], words[1:]
    if not operands:
        if op == "<or>":
            return "'<or>' has no value after it: Nova's scheduler raises IndexError"
        return f"operator {op!r} has no operand: it matches nothing"
    if op in NUMERIC_OPERATORS:
        try:
            float(operands[0])
        except ValueError:
            return (f"numeric operator {op!r} with non-numeric operand {operands[0]!r}: "
                    "Nova's scheduler raises ValueError")
    return None
