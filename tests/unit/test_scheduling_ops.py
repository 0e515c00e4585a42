"""Nova's extra-spec operators (nova/scheduler/filters/extra_specs_ops.py), table-driven."""
from __future__ import annotations

import pytest

from osc_netpath.scheduling import extra_specs_ops as ops

MATCH = [
    # (host value, requirement, matches)
    # no operator: the whole requirement string, compared for equality
    ("1", "1", True),
    ("", "1", False),
    ("222", "2", False),
    ("true", "True", False),
    ("4", "> 2", False),  # '>' is not an operator: plain equality with "> 2"
    ("> 2", "> 2", True),
    ("a b", "a b", True),  # first word not an operator: compared whole, spaces included
    ("a", "a b", False),
    ("", "", True),
    # '=' is numeric "at least", not equality
    ("123", "= 123", True),
    ("124", "= 123", True),
    ("34", "= 234", False),
    ("1e3", "= 999", True),  # float() semantics, as in Nova
    (" 8 ", "= 4", True),
    ("34", "=", False),  # operator without operand matches nothing
    # numeric comparisons
    ("2", "== 2.0", True),
    ("2", "!= 2.0", False),
    ("3", ">= 1", True),
    ("2", ">= 3", False),
    ("2", "<= 10", True),
    ("3", "<= 2", False),
    # string comparisons (lexicographic)
    ("123", "s== 123", True),
    ("1234", "s== 123", False),
    ("1234", "s!= 123", True),
    ("123", "s!= 123", False),
    ("1000", "s>= 234", False),
    ("1234", "s<= 1000", False),
    ("2", "s< 12", False),
    ("12", "s> 2", False),
    ("b", "s> a", True),
    ("a", "s<= a", True),
    ("a", "s== ", False),  # 's==' alone: no operand
    # <in>: substring, first operand only
    ("12311321", "<in> 11", True),
    ("12310321", "<in> 11", False),
    ("12311321", "<in> 12311321 <in>", True),
    ("abc", "<in> zz b", False),  # only 'zz' is looked at
    # <all-in>: every operand a substring
    ("['aes', 'mmx', 'aux']", "<all-in> aes mmx", True),
    ("['aes', 'mmx', 'aux']", "<all-in>  txt", False),
    ("['aes', 'mmx', 'aux']", "<all-in> aes txt", False),
    ("x", "<all-in>", False),
    # <or>: every other word is a candidate, the words between are skipped unread
    ("12", "<or> 11 <or> 12", True),
    ("12", "<or> 11 <or> 12 <or>", True),
    ("13", "<or> 11 <or> 12", False),
    ("12", "<or> 11 x 12", True),  # 'x' is a separator, never compared
    ("x", "<or> 11 x 12", False),
    ("11", "<or> 11", True),
]


@pytest.mark.parametrize(("value", "req", "matches"), MATCH)
def test_match(value: str, req: str, matches: bool) -> None:
    assert ops.match(value, req) is matches


@pytest.mark.parametrize("req", ["= 1", "s== a", "<in> a", "<all-in> a", "<or> a"])
def test_operator_against_none_is_false(req: str) -> None:
    assert ops.match(None, req) is False


def test_no_operator_against_none_is_false() -> None:
    assert ops.match(None, "1") is False


RAISES = [
    # (host value, requirement, broken side): where Nova raises, we report
    ("fast", "= 4", "value"),
    ("fast", ">= 4", "value"),
    ("8", "== four", "requirement"),
    ("8", "<= x", "requirement"),
    ("fast", "!= x", "value"),  # Nova converts the value first
    ("a", "<or>", "requirement"),  # IndexError in Nova
]


@pytest.mark.parametrize(("value", "req", "side"), RAISES)
def test_nova_would_raise(value: str, req: str, side: str) -> None:
    with pytest.raises(ops.SpecError) as err:
        ops.match(value, req)
    assert err.value.side == side


def test_string_operator_never_raises_on_words() -> None:
    assert ops.match("fast", "s>= 4") is True


PROBLEMS = [
    ("true", None),
    ("= 4", None),
    ("= four", "numeric operator '=' with non-numeric operand 'four'"),
    ("<or>", "'<or>' has no value after it"),
    ("s==", "operator 's==' has no operand"),
    ("<in> x", None),
    ("> four", None),  # not an operator at all: plain string, fine
]


@pytest.mark.parametrize(("req", "expected"), PROBLEMS)
def test_requirement_problem(req: str, expected: str | None) -> None:
    problem = ops.requirement_problem(req)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and problem.startswith(expected)


def test_operator_set_is_novas() -> None:
    assert ops.OPERATORS == {
        "=", "==", "!=", ">=", "<=", "s==", "s!=", "s<", "s<=", "s>", "s>=", "<in>",
        "<all-in>", "<or>",
    }
