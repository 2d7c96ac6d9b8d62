"""A batch's ledger in the result backend's Redis: what each watch round needs at constant cost.

The watcher used to read every child's result each second and carry the whole child list in its
own message, so its cost per child grew with the batch (2.7 ms per child at 1,000, 8.2 ms at
20,000). Here the plan is written once and every child reports its own end in O(1):

* ``plan``     hash  child index → ``{"id", "args", "items", "attempt"}`` (written by the
  parent in one script with ``counts``, ``meta`` and the lease: :mod:`.plan_write`; rewritten
  only for a resend or a retry; read when someone opens the batch);
* ``open``     set   child indices not ended yet (a resend or a retry adds them back);
* ``running``  set   child indices a worker has started;
* ``counts``   hash  items succeeded / failed / cancelled / started, and sums (runtime, invoices);
* ``failures`` list  the first :data:`MAX_FAILURES` failed items (index, id, reason);
* ``recent``   list  the last :data:`MAX_RECENT` ends, newest first;
* ``gen``      int   the generation of the batch's watcher (see :mod:`.watchdog`): a watch
  round of an older generation ends quietly, so re-arming never leaves two watchers.

One key is shared by every batch: ``pooldesk-batches:due``, a sorted set of the open batches
scored by the time (Redis's own clock) by which their watcher must have run again.

Ending is one Lua call that removes the child from ``open`` first: a child that ends twice (a
redelivery, a resend racing its original) is counted once. The batch is done when ``open`` is
empty. The watcher reads ``counts`` and ``SCARD open`` each round, and reads the open children's
Celery states only when nothing has ended for a while (see ``pooldesk.backend.tasks.batches``).

An *item* is what a person counts: an invoice chunk, or one URL of a monitoring chunk.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from celery import Celery

from pooldesk.backend.batches import plan_write, retry_write

log = logging.getLogger(__name__)

MAX_FAILURES = 50
MAX_RECENT = 100
COUNTED = ("succeeded", "failed", "cancelled", "started")
# How many times a child's own report is tried while Redis restarts; after that the watcher
# finds the child's end in its Celery result (the report is a shortcut, not the only path).
REPORT_TRIES = 3

_END = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local n = tonumber(ARGV[2])
if redis.call('SREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[3], 'started', -n)
end
redis.call('HINCRBY', KEYS[3], 'succeeded', ARGV[3])
redis.call('HINCRBY', KEYS[3], 'failed', ARGV[4])
redis.call('HINCRBY', KEYS[3], 'cancelled', ARGV[5])
local ttl = tonumber(ARGV[6])
redis.call('LPUSH', KEYS[5], ARGV[7])
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[8]) - 1)
redis.call('EXPIRE', KEYS[5], ttl)
local nfail = tonumber(ARGV[9])
local i = 10
for _ = 1, nfail do
  if redis.call('LLEN', KEYS[4]) < tonumber(ARGV[11 + nfail]) then
    redis.call('RPUSH', KEYS[4], ARGV[i])
  end
  i = i + 1
end
local nsum = tonumber(ARGV[i])
i = i + 2
for _ = 1, nsum do
  redis.call('HINCRBYFLOAT', KEYS[3], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('EXPIRE', KEYS[4], ttl)
return redis.call('SCARD', KEYS[1]) + 1
"""

_START = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[3], 'started', tonumber(ARGV[2]))
end
return 1
"""


DUE_KEY = "pooldesk-batches:due"

# A watch round of the current generation pushes its deadline on; an older one answers 0.
_ARM = """
pcall(redis.replicate_commands)
local gen = tonumber(redis.call('GET', KEYS[2]) or '0')
if gen ~= tonumber(ARGV[2]) then return 0 end
local t = redis.call('TIME')
redis.call('ZADD', KEYS[1], tonumber(t[1]) + tonumber(ARGV[3]), ARGV[1])
return 1
"""

# Claim batches whose watcher is overdue (mode 'overdue'), every open batch ('all') or one
# ('one', ARGV[5]): a new generation each, and a fresh deadline so no one else claims it.
_CLAIM = """
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ids
if ARGV[1] == 'one' then
  local due = redis.call('ZSCORE', KEYS[1], ARGV[5])
  if (not due) or (ARGV[6] == '0' and tonumber(due) > now) then return {} end
  ids = {ARGV[5]}
elseif ARGV[1] == 'all' then
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '+inf', 'LIMIT', 0, tonumber(ARGV[3]))
else
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
end
local out = {}
for _, id in ipairs(ids) do
  local key = 'pooldesk-batch:' .. id .. ':gen'
  local gen = redis.call('INCR', key)
  redis.call('EXPIRE', key, tonumber(ARGV[4]))
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
  table.insert(out, id)
  table.insert(out, gen)
end
return out
"""


class LedgerUnavailable(RuntimeError):
    """The result backend is not Redis: batches need its sets and scripts."""


@dataclass
class Outcome:
    """How one child ended, in items: what the ledger adds up."""

    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)  # {index, id, reason[, url]}
    sums: dict[str, float] = field(default_factory=dict)
    state: str = "SUCCESS"


@dataclass
class Snapshot:
    """One watch round's reading: O(1) in the batch size."""

    items: int
    open_children: int
    counts: dict[str, int]
    sums: dict[str, float]

    @property
    def ended(self) -> int:
        return self.counts["succeeded"] + self.counts["failed"] + self.counts["cancelled"]


class Ledger:
    def __init__(self, app: Celery) -> None:
        client = getattr(app.backend, "client", None)
        if client is None or not hasattr(client, "register_script"):
            raise LedgerUnavailable(
                "batches need a Redis result backend (set result_backend to redis://…)"
            )
        self.client = client
        expires = app.conf.result_expires
        seconds = expires.total_seconds() if hasattr(expires, "total_seconds") else expires
        self.ttl = int(seconds or 0) or 7 * 86400
        self._end = client.register_script(_END)
        self._start = client.register_script(_START)
        self._arm = client.register_script(_ARM)
        self._claim = client.register_script(_CLAIM)
        self._plan = client.register_script(plan_write.SCRIPT)
        self._retry = client.register_script(retry_write.SCRIPT)

    @staticmethod
    def key(batch_id: str, part: str) -> str:
        return f"pooldesk-batch:{batch_id}:{part}"

    def _keys(self, batch_id: str, *parts: str) -> list[str]:
        return [self.key(batch_id, p) for p in parts]

    # -- writing -----------------------------------------------------------------------------
    def write_plan(
        self,
        batch_id: str,
        children: list[dict[str, Any]],
        items: int,
        *,
        meta: dict[str, Any],
        token: str,
        lease: float,
    ) -> bool:
        """Store the plan, every child open, with the batch's ``meta`` and its watcher's lease
        (generation 0, ``lease`` s): all of it or none, once (see :mod:`.plan_write`). True when
        this call's ``token`` wrote it, False when the batch had been planned by another."""
        keys = [*self._keys(batch_id, *plan_write.PARTS), DUE_KEY]
        args = plan_write.script_args(batch_id, children, items, meta, token, self.ttl, lease)
        return bool(self._plan(keys=keys, args=args))

    def started(self, batch_id: str, index: int, items: int) -> None:
        keys = self._keys(batch_id, "open", "running", "counts")
        self._tried(lambda: self._start(keys=keys, args=[index, items]))

    def ended(self, batch_id: str, index: int, child_id: str, outcome: Outcome) -> int | None:
        """Record a child's end: how many children are still open, or None when it had
        already ended (or is in no plan)."""
        keys = self._keys(batch_id, "open", "running", "counts", "failures", "recent")
        recent = json.dumps(
            {"index": index, "id": child_id, "state": outcome.state, "at": round(time.time(), 3)}
        )
        args: list[Any] = [
            index,
            outcome.succeeded + outcome.failed + outcome.cancelled,
            outcome.succeeded,
            outcome.failed,
            outcome.cancelled,
            self.ttl,
            recent,
            MAX_RECENT,
            len(outcome.failures),
            *[json.dumps(f) for f in outcome.failures],
            len(outcome.sums),
            MAX_FAILURES,
        ]
        for name, value in outcome.sums.items():
            args += [name, repr(float(value))]
        left = int(self._end(keys=keys, args=args))
        return left - 1 if left else None

    def report_end(self, batch_id: str, index: int, child_id: str, outcome: Outcome) -> int | None:
        """A child's own report: tried a few times, then left to the watcher's scan."""
        return self._tried(lambda: self.ended(batch_id, index, child_id, outcome))

    def _tried(self, call: Any) -> Any:
        for attempt in range(REPORT_TRIES):
            try:
                return call()
            except Exception as exc:  # redis down/restarting: the watcher will find it
                log.info("batch ledger write failed (%s), attempt %d", exc, attempt + 1)
                time.sleep(0.5 * (attempt + 1))
        return None

    def write_meta(self, batch: dict[str, Any]) -> None:
        """The batch's own fields (kind, queue, params, round…), for whoever closes it."""
        key = self.key(batch["id"], "meta")
        self.client.set(key, json.dumps(batch), ex=self.ttl)

    def meta(self, batch_id: str) -> dict[str, Any] | None:
        raw = self.client.get(self.key(batch_id, "meta"))
        return json.loads(raw) if raw else None

    def replace_child(self, batch_id: str, child: dict[str, Any]) -> None:
        """A resend (new id, same index): the plan entry is rewritten."""
        self.client.hset(self.key(batch_id, "plan"), str(child["index"]), json.dumps(child))

    def begin_retry(
        self,
        batch_id: str,
        children: list[dict[str, Any]],
        *,
        round_: int,
        succeeded: int,
        meta: dict[str, Any],
        result_key: bytes | str,
        lease: float,
    ) -> tuple[int, int]:
        """A retry round, all of it or none, once (:mod:`.retry_write`). Returns (1 written,
        0 begun already, -1 no ledger; the round's watcher generation)."""
        keys = [*self._keys(batch_id, *retry_write.PARTS), DUE_KEY, result_key]
        args = retry_write.script_args(batch_id, children, round_, succeeded, meta, self.ttl, lease)
        done, gen = self._retry(keys=keys, args=args)
        return int(done), int(gen)

    def touch(self, batch_id: str) -> None:
        """Keep a long batch's ledger alive as long as its results."""
        pipe = self.client.pipeline(transaction=False)
        for part in plan_write.PARTS:
            pipe.expire(self.key(batch_id, part), self.ttl)
        pipe.execute()

    # -- the watcher's lease (see pooldesk.backend.batches.watchdog) --------------------------
    def arm(self, batch_id: str, gen: int, lease: float) -> bool:
        """A watch round of generation ``gen`` renews its lease; False: a newer watcher exists."""
        keys = [DUE_KEY, self.key(batch_id, "gen")]
        return bool(self._arm(keys=keys, args=[batch_id, gen, lease]))

    def claim(
        self, lease: float, mode: str = "overdue", batch_id: str = "", force: bool = False
    ) -> list[tuple[str, int]]:
        """Take over watchers: each claimed batch gets a new generation (older rounds end
        quietly) and a fresh deadline. ``mode``: 'overdue', 'all' or 'one' (``batch_id``,
        overdue only unless ``force``)."""
        raw = self._claim(keys=[DUE_KEY], args=[mode, lease, 100, self.ttl, batch_id, int(force)])
        return [(_text(raw[i]), int(raw[i + 1])) for i in range(0, len(raw), 2)]

    def disarm(self, batch_id: str) -> None:
        """The batch has closed: no watcher is due any more."""
        self.client.zrem(DUE_KEY, batch_id)

    def due_in(self, batch_id: str) -> float | None:
        """Seconds until the batch's watcher is overdue (negative: overdue); None: not armed."""
        pipe = self.client.pipeline(transaction=False)
        pipe.zscore(DUE_KEY, batch_id)
        pipe.time()
        due, (sec, usec) = pipe.execute()
        return None if due is None else float(due) - (sec + usec / 1e6)

    # -- reading -----------------------------------------------------------------------------
    def snapshot(self, batch_id: str) -> Snapshot | None:
        counts_key, open_ = self._keys(batch_id, "counts", "open")
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(counts_key)
        pipe.scard(open_)
        raw, open_children = pipe.execute()
        if not raw:
            return None
        values = {_text(k): float(v) for k, v in raw.items()}
        counts = {name: max(0, int(values.pop(name, 0))) for name in COUNTED}
        items = int(values.pop("items", 0))
        return Snapshot(items=items, open_children=int(open_children), counts=counts, sums=values)

    def open_indices(self, batch_id: str) -> list[int]:
        return sorted(int(i) for i in self.client.smembers(self.key(batch_id, "open")))

    def running_indices(self, batch_id: str) -> set[int]:
        return {int(i) for i in self.client.smembers(self.key(batch_id, "running"))}

    def children(self, batch_id: str, indices: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """Plan entries, by index: all of them (someone opened the batch) or the ones asked."""
        plan = self.key(batch_id, "plan")
        if indices is None:
            raw = self.client.hgetall(plan)
            out = [json.loads(v) for v in raw.values()]
        else:
            wanted = [str(i) for i in indices]
            out = []
            for start in range(0, len(wanted), 1000):
                values = self.client.hmget(plan, wanted[start : start + 1000])
                out += [json.loads(v) for v in values if v is not None]
        return sorted(out, key=lambda c: int(c["index"]))

    def failures(self, batch_id: str) -> list[dict[str, Any]]:
        return [json.loads(v) for v in self.client.lrange(self.key(batch_id, "failures"), 0, -1)]

    def recent(self, batch_id: str) -> list[dict[str, Any]]:
        return [json.loads(v) for v in self.client.lrange(self.key(batch_id, "recent"), 0, -1)]

    def exists(self, batch_id: str) -> bool:
        return bool(self.client.exists(self.key(batch_id, "counts")))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def counts_of(snap: Snapshot | None) -> dict[str, int]:
    """The ``counts`` shape of ``batch status --json``, in items (chunks, or URLs)."""
    if snap is None:
        return {"total": 0, "pending": 0, "started": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    c = snap.counts
    started = min(c["started"], max(0, snap.items - snap.ended))
    return {
        "total": snap.items,
        "pending": max(0, snap.items - snap.ended - started),
        "started": started,
        "succeeded": c["succeeded"],
        "failed": c["failed"],
        "cancelled": c["cancelled"],
    }


CLOSE_TASK = "pooldesk.batch.close"


def close_if_last(app: Celery, batch_id: str, left: int | None) -> None:
    """The child that ended the last open child asks for the summary now, instead of the
    batch waiting for the watcher's next round (up to two seconds later)."""
    if left != 0:
        return
    try:
        app.send_task(CLOSE_TASK, args=[batch_id], queue="orchestration")
    except Exception as exc:  # the watcher's next round closes it anyway
        log.info("asking to close batch %s failed: %s", batch_id, exc)


_cache: dict[int, Ledger] = {}


def ledger_for(app: Celery) -> Ledger:
    """One ledger per app (its scripts registered once); a worker's tasks share it."""
    ledger = _cache.get(id(app))
    if ledger is None:
        ledger = _cache[id(app)] = Ledger(app)
    return ledger
