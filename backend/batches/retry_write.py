"""A demo batch's retry reaches the ledger whole or not at all, once: one Lua script.

A retry used to be written in steps: the counts reset and the old failures dropped, each child to
run again rewritten and reopened, the watcher generation bumped, the batch's fields (``meta``)
and its lease written, the old summary forgotten. Redis failing between two of them (a restart,
a dropped connection) left a prefix nothing finished and the person saw redis-py's error: counts
reset with no child reopened; children reopened that no one sent and no lease brought back; the
batch's old SUCCESS kept, so the round's own summary was never stored (the Redis backend never
overwrites a SUCCESS). And a second try was not the same retry: a monitoring retry appends its
children after the plan's last index, so after a partial write it appended them again.

Here all of that is one script, so Redis applies all of it or none:

* **none**: the batch is as it was (finished, its summary kept); the person is told to retry;
* **all**: the round is planned and leased. Whatever fails after it (the round's PROGRESS, the
  children's or the watcher's publish) is the lease's: a watchdog re-arms the batch once the
  lease lapses, and its watcher sends the children no worker holds as orphans.

It is idempotent per round: the script finds ``meta``'s ``retry_round`` already at this round
(written by a call whose reply was lost, or by another window's retry) and writes nothing; the
caller then only shows the batch running and leaves the rest to the lease (``begun`` False).
"""

from __future__ import annotations

import json
from typing import Any

PARTS = ("plan", "open", "running", "counts", "failures", "meta", "gen")

# KEYS: the batch's PARTS (in that order), the shared due set, the batch's Celery result key.
# ARGV: batch id, round, ttl, lease, succeeded, meta JSON, then index/child JSON pairs.
# Returns {1, gen}: written, under watcher generation gen; {0, gen}: this round was begun
# already; {-1, 0}: no ledger (expired).
SCRIPT = """
pcall(redis.replicate_commands)
local raw = redis.call('GET', KEYS[6])
if raw then
  local ok, meta = pcall(cjson.decode, raw)
  if ok and tonumber(meta['retry_round'] or 0) >= tonumber(ARGV[2]) then
    return {0, tonumber(redis.call('GET', KEYS[7]) or '0')}
  end
end
if redis.call('EXISTS', KEYS[4]) == 0 then return {-1, 0} end
redis.call('DEL', KEYS[3], KEYS[5])
redis.call('HSET', KEYS[4], 'succeeded', ARGV[5], 'failed', 0, 'cancelled', 0, 'started', 0)
for i = 7, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('SADD', KEYS[2], ARGV[i])
end
local gen = redis.call('INCR', KEYS[7])
local ttl = tonumber(ARGV[3])
for _, key in ipairs({KEYS[1], KEYS[2], KEYS[4], KEYS[7]}) do redis.call('EXPIRE', key, ttl) end
redis.call('SET', KEYS[6], ARGV[6], 'EX', ttl)
local t = redis.call('TIME')
redis.call('ZADD', KEYS[8], tonumber(t[1]) + tonumber(ARGV[4]), ARGV[1])
redis.call('DEL', KEYS[9])
return {1, gen}
"""


def script_args(
    batch_id: str,
    children: list[dict[str, Any]],
    round_: int,
    succeeded: int,
    meta: dict[str, Any],
    ttl: int,
    lease: float,
) -> list[Any]:
    """The script's ARGV: the round's fields, then each child as its index and its JSON."""
    args: list[Any] = [batch_id, round_, ttl, lease, succeeded, json.dumps(meta)]
    for child in children:
        args += [str(child["index"]), json.dumps(child)]
    return args
