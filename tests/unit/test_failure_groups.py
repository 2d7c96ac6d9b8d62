"""Failure grouping over real Python exception messages: the group a user reads on the Tasks
page keeps the words of the message (apostrophes, type names, errnos) and only replaces what
varies from one failure to the next (ids, numbers, quoted values, paths)."""

from __future__ import annotations

import uuid

import pytest

from pooldesk.backend.taskhistory.normalise import failure_group


def repr_of(exc: BaseException) -> str:
    """What Celery's task-failed event carries: the exception's repr."""
    return repr(exc)


def raised(code: str) -> BaseException:
    try:
        exec(code, {})
    except BaseException as exc:
        return exc
    raise AssertionError(f"{code!r} did not raise")


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("[1] * 'x'", "TypeError: can't multiply sequence by non-int of type 'str'"),
        ("iter(None)", "TypeError: 'NoneType' object is not iterable"),
        ("1 + 'a'", "TypeError: unsupported operand type(s) for +: 'int' and 'str'"),
        ("None.total", "AttributeError: 'NoneType' object has no attribute <str>"),
        ("{}['customer_42']", "KeyError: <str>"),
        ("int('12abc')", "ValueError: invalid literal for int() with base <n>: <str>"),
        (
            "open('/tmp/pooldesk-nope/run-17/in.csv')",
            "FileNotFoundError: [Errno 2] No such file or directory",
        ),
        ("import shop_nope_module", "ModuleNotFoundError: No module named <str>"),
        ("undefined_name_x", "NameError: name <str> is not defined"),
        ("[][3]", "IndexError: list index out of range"),
        ("1 / 0", "ZeroDivisionError: division by zero"),
    ],
)
def test_real_messages_keep_their_words(code: str, group: str) -> None:
    assert failure_group(repr_of(raised(code))) == group


def test_no_group_has_a_stray_quote_or_a_cut_word() -> None:
    """The reported garbling: a group must never end inside a quote nor eat a word."""
    for code in ("[1] * 'x'", "iter(None)", "1 + 'a'", "None.total"):
        group = failure_group(repr_of(raised(code)))
        assert group is not None
        assert (group.count("'") - group.count("can't")) % 2 == 0, group
        words = group.replace("can't", "cannot").replace("'", " ").split()
        assert all(word.count("<") == word.count(">") for word in words), group
        assert "can<" not in group and "<str> object" not in group


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (ValueError("Customer 17 not found"), ValueError("Customer 912 not found")),
        (KeyError("invoice-2026-0001"), KeyError("invoice-2026-0917")),
        (RuntimeError(f"task {uuid.uuid4()} lost"), RuntimeError(f"task {uuid.uuid4()} lost")),
        (TimeoutError("gave up after 1.5 s"), TimeoutError("gave up after 30 s")),
        (ValueError("can't bill customer 'ACME Ltd.'"), ValueError("can't bill customer 'Zeta'")),
        (OSError("object at 0x7f3a2c1d9e80 closed"), OSError("object at 0x7f00aa closed")),
        (ValueError('path "/srv/a b/1.csv" is empty'), ValueError('path "/srv/c/2.csv" is empty')),
        (ValueError("customer's balance -3 below 0"), ValueError("customer's balance -40 below 0")),
    ],
)
def test_what_varies_falls_into_one_group(first: Exception, second: Exception) -> None:
    assert failure_group(repr(first)) == failure_group(repr(second))


def test_different_failures_stay_apart() -> None:
    assert failure_group("ValueError('x')") != failure_group("TypeError('x')")
    not_found = failure_group(repr(raised("open('/tmp/pooldesk-nope/x')")))
    denied = failure_group("PermissionError(13, 'Permission denied')")
    assert not_found != denied
    # The type name says what went wrong, so it is not a varying value.
    assert failure_group(repr(raised("iter(None)"))) != failure_group(repr(raised("iter(3)")))


def test_a_message_with_both_quotes_is_unescaped_once() -> None:
    exc = ValueError('can\'t parse "x" here')
    assert failure_group(repr(exc)) == "ValueError: can't parse <str> here"


def test_a_key_error_with_a_sentence_keeps_it() -> None:
    assert failure_group("KeyError('customer 17 not found')") == (
        "KeyError: customer <n> not found"
    )
