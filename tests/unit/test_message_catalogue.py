"""The message catalogue: every warning rule, fix confirmation, Pool fit recommendation, retry
question and refusal the backend writes for a person, rendered with realistic values, and read
the way a new user reads them. Each fails on what got in the way in the first hour: internal
names (``broker_url``, ``task_history_hide_args``), CLI flags where the window shows the text,
``None``/``null``, raw reprs (``*[null], **{}``, ``<object at 0x…>``), "(s)" plurals and
unbalanced quotes or brackets. (The window's own words — settings errors beside their fields,
launch and start dialogs — are checked in tests/desktop/test_desktop_refusals.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from pooldesk.backend.advisor import fixbuild
from pooldesk.backend.advisor.engine import fading
from pooldesk.backend.advisor.model import Advice, BatchObs, Observations, Thresholds, WorkerObs
from pooldesk.backend.advisor.rules import RULES, evaluate
from pooldesk.backend.batches.params import InvoiceParams, MonitorParams, ParamError
from pooldesk.backend.fit.table import build
from pooldesk.backend.taskhistory.actions import with_queue
from pooldesk.backend.taskhistory.query import TaskRow
from pooldesk.backend.taskhistory.retry import RetryError, RetryPlan, plan
from pooldesk.backend.telemetry.fitstate import TaskFit
from pooldesk.backend.units import plural
from pooldesk.backend.workers.defaults import Nature, propose
from pooldesk.backend.workers.inworker._pooldesk_check import describe
from pooldesk.backend.workers.spec import WorkerSpec

TH = Thresholds()
GiB = 2**30


# -- what a message must not contain -----------------------------------------------------------
INTERNAL = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # snake_case: a key, not a word
FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")
NONE = re.compile(r"\b(?:None|null|nan|NaN)\b")
RAW = re.compile(r"object at 0x|\*\[|\*\*\{|^\{|\bdict\(|\bTaskFit\(|\bWorkerObs\(")
PLURAL_HEDGE = re.compile(r"\w\((?:s|es)\)")
ONE_MANY = re.compile(
    r"(?<![\d.,])1 (?:tasks|cores|processes|runs|children|customers|invoices|workers)\b"
)
# Realistic values chosen without underscores, so any snake_case in a text is an internal name.
ALLOWED = {"task_id"}  # none expected; listed here if one ever must be shown verbatim


def faults(text: str, window: bool = True) -> list[str]:
    found = []
    names = [n for n in INTERNAL.findall(text) if n not in ALLOWED]
    if names:
        found.append(f"internal names {names}")
    if window and FLAG.search(text):
        found.append(f"a CLI flag {FLAG.findall(text)}")
    if NONE.search(text):
        found.append("None/null")
    if RAW.search(text):
        found.append("a raw repr")
    if PLURAL_HEDGE.search(text):
        found.append('a "(s)" plural')
    if ONE_MANY.search(text):
        found.append(f"a wrong plural {ONE_MANY.findall(text)}")
    bare = re.sub(r"(?<=\w)'(?=\w)", "", text)  # apostrophes: can't, worker's
    bare = re.sub(r"(?<=s)'(?=\s|$)", "", bare)  # the workers' queues
    if bare.count("'") % 2 or bare.count('"') % 2:
        found.append("unbalanced quotes")
    if bare.count("“") != bare.count("”") or bare.count("(") != bare.count(")"):
        found.append("unbalanced brackets")
    if bare.count("[") != bare.count("]"):
        found.append("unbalanced brackets")
    return found


# -- realistic situations ------------------------------------------------------------------------
def fit(task: str, queue: str, pool: str, runs: int, wall: float, cpu: float, hold: float,
        hold_max: float | None = None, declared: str | None = None) -> TaskFit:  # fmt: skip
    return TaskFit(
        task, queue, pool, runs, wall, cpu, cpu, hold,
        hold_max if hold_max is not None else (hold / runs if runs else 0.0),
        wall / runs if runs else 0.0, declared, wall,
    )  # fmt: skip


def worker(name: str, pool: str, concurrency: int, queues: list[str], **kw: object) -> WorkerObs:
    return WorkerObs(name, f"{name}@shop-1", True, pool, concurrency, queues, "online", **kw)  # type: ignore[arg-type]


def situations() -> Iterator[tuple[str, Observations]]:
    """Each rule's situation, as a user meets it (billing: CPU-bound, checks: sleeping I/O)."""
    natures = {"billing": "cpu", "checks": "io"}
    yield (
        "cpu on gevent, predicted",
        Observations(
            workers=[worker("mixed", "gevent", 50, ["billing", "checks"])], cores=4, natures=natures
        ),
    )
    yield "cpu on gevent, measured", Observations(
        workers=[
            worker("billing", "gevent", 50, ["billing"], active=12, cores_used=0.99,
                   loop_lag_ms_max=2148.6, blocked_reports_recent=12, ping_seconds=1.4)
        ],
        cores=4, natures=natures,
    )  # fmt: skip
    yield "blocking on gevent, probe", Observations(
        workers=[worker("db", "gevent", 40, ["reports"],
                        fit=[fit("shop.tasks.report", "reports", "gevent", 8, 2.4, 0.04, 2.35,
                                 0.31)])],
        cores=4, natures={},
    )  # fmt: skip
    yield "declared cpu, measured io", Observations(
        workers=[worker("g", "gevent", 50, ["billing"],
                        fit=[fit("shop.tasks.fetch", "billing", "gevent", 50, 10.0, 0.1, 0.1,
                                 0.01)])],
        cores=4, natures=natures,
    )  # fmt: skip
    yield "io on wide prefork", Observations(
        workers=[worker("checks", "prefork", 16, ["checks"], uss_bytes=16 * 40 * 2**20,
                        fit=[fit("shop.tasks.ping", "checks", "prefork", 40, 12.0, 0.1, 0.0)])],
        cores=4, natures=natures,
    )  # fmt: skip
    yield "io on wide prefork, declared", Observations(
        workers=[worker("checks", "prefork", 16, ["checks"], uss_bytes=16 * 40 * 2**20)],
        cores=4, natures=natures,
    )  # fmt: skip
    yield (
        "oversubscribed",
        Observations(
            workers=[worker("billing", "prefork", 8, ["billing"])], cores=2, natures=natures
        ),
    )
    yield (
        "one core, one child",
        Observations(
            workers=[worker("billing", "prefork", 3, ["billing", "orchestration"], active=3)],
            batches=[BatchObs("4f1c2d3e9a", "invoices", "billing", 1, 0)],
            cores=1,
            natures=natures,
        ),
    )
    yield (
        "batch waits, nobody consumes",
        Observations(
            batches=[BatchObs("4f1c2d3e9a", "invoices", "invoices", 12, 0)],
            queue_waiting={"invoices": 12, "billing": 40},
            cores=4,
            natures=natures,
        ),
    )
    yield "ram, crash loop, crashed", Observations(
        ram_available_bytes=300 * 2**20,
        ram_total_bytes=8 * GiB,
        workers=[
            WorkerObs("billing", "billing@shop-1", True, "prefork", 4, ["billing"], "crashed",
                      starts_recent=4, exit="exit code 1", gave_up=True),
            WorkerObs("checks", "checks@shop-1", True, "gevent", 100, ["checks"], "crashed",
                      exit="killed by signal 9 (SIGKILL)"),
            worker("big", "prefork", 4, ["billing"], uss_bytes=3 * GiB,
                   uss_growth_bytes_per_min=80 * 2**20),
        ],
        cores=4, natures=natures,
    )  # fmt: skip
    yield (
        "broker down",
        Observations(
            broker_up=False, broker_error="broker unreachable at redis://:****@10.0.0.5:6379/0"
        ),
    )
    yield (
        "worker off its broker",
        Observations(
            workers=[
                worker(
                    "billing", "prefork", 2, ["billing"],
                    off_broker="cannot reach its broker: started on redis://127.0.0.1:6390/0, "
                    "the broker is now at redis://127.0.0.1:6391/0; restart it",
                )
            ],
            cores=4,
            natures=natures,
        ),
    )  # fmt: skip
    yield (
        "process ceiling",
        Observations(
            workers=[
                worker("checks", "gevent", 100, ["checks"], cores_used=0.97, tasks_per_s=210.0)
            ],
            queue_waiting={"checks": 5000},
            cores=4,
            natures=natures,
        ),
    )


def all_advice() -> list[tuple[str, Advice]]:
    return [(name, a) for name, obs in situations() for a in evaluate(obs, TH)]


def advice_texts(advice: Advice) -> list[str]:
    texts = [advice.title, advice.text]
    if advice.fix is not None:
        texts.append(advice.fix.confirm)
    return texts


# -- the tests ----------------------------------------------------------------------------------
def test_the_situations_cover_every_rule() -> None:
    """A new rule without a situation here would go unread: this fails until it has one."""
    fired = {a.rule for _, a in all_advice()}
    names = {rule.__name__ for rule in RULES}
    assert names - fired == set()


@pytest.mark.parametrize(("situation", "advice"), all_advice(), ids=lambda v: str(v)[:40])
def test_every_warning_reads_right(situation: str, advice: Advice) -> None:
    for text in advice_texts(advice) + advice_texts(fading(advice)):
        assert faults(text) == [], f"{situation} / {advice.rule}: {text!r}"


def test_every_pool_fit_recommendation_and_fix_reads_right() -> None:
    for name, obs in situations():
        for row in build(obs, TH):
            texts = [row.recommendation, row.basis] + ([row.fix.confirm] if row.fix else [])
            for text in texts:
                assert faults(text) == [], f"{name} / {row.queue}: {text!r}"


@pytest.mark.parametrize(
    "fix",
    [
        fixbuild.resize("billing-1", "prefork", 4, 2),
        fixbuild.resize("checks-1", "gevent", 100, 400),
        fixbuild.resize("solo-1", "threads", None, 1),
        fixbuild.restart("billing-1", "prefork", 4, "gevent", 50),
        fixbuild.restart("checks-1", "gevent", 200, None, None),
    ],
    ids=lambda f: f.confirm[:30],
)
def test_fix_confirmations_say_exactly_what_happens(fix: object) -> None:
    confirm = fix.confirm  # type: ignore[attr-defined]
    assert faults(confirm) == []
    assert re.search(r"\d", confirm)  # numbers, with their units
    assert re.search(r"\b(process|processes|greenlets?|threads?)\b|×", confirm)


def row(**data: object) -> TaskRow:
    base: dict[str, object] = {
        "id": "0c5f8a7e-7d1b-4a57-9a4e-3f2b1c0d9e8f",
        "name": "shop.tasks.invoice",
        "queue": None,
        "args": "(17, 'ACME Ltd.')",
        "kwargs": "{'dry': False}",
        "args_hidden": None,
        "worker": None,
    }
    return TaskRow({**base, **data})


def test_retry_questions_name_the_queue_and_show_the_call() -> None:
    question = with_queue(row(queue="billing"), plan(row(queue="billing"))).describe()
    assert question == "shop.tasks.invoice(17, 'ACME Ltd.', dry=False) to queue billing"
    assert faults(question) == []
    none_arg = RetryPlan("x", "shop.tasks.ping", [None], {}, "checks", False).describe()
    assert "*[" not in none_arg and "null" not in none_arg and "to queue checks" in none_arg
    edited = RetryPlan("x", "shop.tasks.ping", [1], {"url": "https://x.example/"}, "checks", True)
    assert faults(edited.describe()) == []


@pytest.mark.parametrize(
    "data",
    [
        {"args": None},  # never seen
        {"args_hidden": 1},
        {"args": "(" + "'a', " * 300 + "'b')"},  # cut by Celery
        {"kwargs": "{'password': '****'}"},  # masked
        {"args": "(datetime.datetime(2026, 1, 1),)"},
    ],
    ids=["unseen", "hidden", "cut", "masked", "not-plain"],
)
def test_retry_refusals_in_the_window_quote_no_flag(data: dict[str, object]) -> None:
    with pytest.raises(RetryError) as refused:
        plan(row(queue="billing", **data), asker="window")
    text = str(refused.value)
    assert "--" not in text and "task_history" not in text
    assert "Edit and retry" in text or "not recorded" in text or "hidden" in text


def test_retry_without_a_queue_asks_for_one_on_the_cli(home: object) -> None:
    """Never Celery's default queue, where nobody may listen: with the queue never reported
    and the worker not ours on one queue, the CLI refuses and names its flag."""
    with pytest.raises(RetryError) as refused:
        with_queue(row(), plan(row()), asker="cli")
    assert "give --queue" in str(refused.value) and "never reported" in str(refused.value)


def test_retry_refusal_without_a_queue_in_the_window(home: object) -> None:
    with pytest.raises(RetryError) as refused:
        with_queue(row(), plan(row()), asker="window")
    assert "--queue" not in str(refused.value) and "which queue" in str(refused.value)


@pytest.mark.parametrize(
    "spec",
    [
        WorkerSpec(name="a b", pool="gevent", concurrency=0, queues=("x y",)),
        WorkerSpec(name="w1", pool="solo", concurrency=4, queues=("billing", "billing")),
        WorkerSpec(name="w1", pool="gevent", concurrency=20_000, queues=()),
    ],
    ids=["names", "solo", "gevent"],
)
def test_start_refusals_read_right(spec: WorkerSpec) -> None:
    problems = spec.problems("linux")
    assert problems
    for text in problems:
        assert faults(text, window=False) == [], text


def test_launch_refusals_read_right() -> None:
    cases = [
        InvoiceParams(period="2026-13", customers=0, chunk_size=0, queue=""),
        MonitorParams(urls=("ftp://x.example/",), timeout=0, queue="a b", urls_per_task=0),
    ]
    for params in cases:
        with pytest.raises(ParamError) as refused:
            params.validate()
        for text in refused.value.problems:
            assert faults(text, window=False) == [], text
            assert "''" not in text  # an empty value is said in words


def test_start_dialog_proposal_notes_read_right() -> None:
    natures = {"billing": Nature("cpu", "measured"), "checks": Nature("io", "declared"),
               "reports": Nature("blocking", "measured")}  # fmt: skip
    for pool in ("prefork", "gevent", "threads", "solo"):
        note = propose(pool, ["billing", "checks", "reports"], natures).note(pool)
        assert faults(note) == [], note


def test_a_missing_app_attribute_is_said_as_such() -> None:
    error = describe("json:nope").get("error")
    assert error == (
        "the module json imported, but it has no attribute 'nope' (check the part after the colon)"
    )
    assert faults(error) == []


@pytest.mark.parametrize(
    ("count", "noun", "many", "text"),
    [(0, "task", None, "0 tasks"), (1, "task", None, "1 task"), (2, "process", "processes",
     "2 processes"), (1200, "run", None, "1,200 runs"), (1, "process", "processes", "1 process")],
)  # fmt: skip
def test_plurals(count: int, noun: str, many: str | None, text: str) -> None:
    assert plural(count, noun, many) == text


def test_the_checks_catch_what_they_are_for() -> None:
    """Each check fails on the fault it names (else the catalogue would pass anything)."""
    assert faults("broker_url: bad") and faults("send *[null], **{} again")
    assert faults("1 runs on 1 process(es)") and faults("give --queue")
    assert faults("can<str>str'") and faults("value None") and faults("(open")
    assert faults("can't stop the workers' queue billing") == []
    assert faults("on 1 cores") and faults("waits for 1 children") and not faults("21 tasks")
