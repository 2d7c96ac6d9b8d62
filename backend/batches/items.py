"""A project batch's items: read from a file or a range, then cut into task calls.

What a person hands Pooldesk is a list of *items* (a customer id, a row of a CSV, a JSON
object); what a worker receives is a *call* (positional and keyword arguments). The formats:

* ``.csv`` with a header row: each row → the task's positional arguments in column order, or
  (``kwargs=True``) keyword arguments named by the header. Values stay strings, as the file
  says them: Pooldesk does not guess types for a user's task.
* ``.jsonl``: one JSON value a line; a list → positional arguments, an object → keyword
  arguments, anything else → one argument. Blank lines are skipped.
* ``.txt``: one value a line (one argument); blank lines and ``#`` comments skipped.
* ``A:B``: the integers A to B inclusive (``1:6000`` is 6,000 items) — never materialised as a
  file, so a 100,000-item range costs nothing to describe.

A chunked batch (``chunk_size`` N) sends one call per N items with the chunk's items as one list
argument (the case study's "12 chunks of 500"); each item in the list is its argument list when
it had several (CSV rows, JSON lists), its dict for keyword items, else the single value.

Every mistake is an :class:`ItemError` naming the file and line, raised before anything is sent.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = (".csv", ".jsonl", ".txt")
MAX_ITEMS = 1_000_000


class ItemError(ValueError):
    """Bad input about the items (a file that does not parse, an empty list, a bad range)."""


@dataclass(frozen=True)
class Item:
    """One item as a call: positional ``args`` and/or ``kwargs``; ``line`` where it was read."""

    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    line: int | None = None

    @property
    def value(self) -> Any:
        """The item as one JSON value: what a chunk's list holds, and what status shows."""
        if self.kwargs:
            return dict(self.kwargs)
        return self.args[0] if len(self.args) == 1 else list(self.args)


@dataclass(frozen=True)
class Items:
    """The whole list (``values``), or a range described by its ends."""

    source: str  # the file's path, or "range A:B"
    values: tuple[Item, ...] = ()
    start: int | None = None
    end: int | None = None

    def __len__(self) -> int:
        if self.start is not None and self.end is not None:
            return self.end - self.start + 1
        return len(self.values)

    @property
    def is_range(self) -> bool:
        return self.start is not None

    def item(self, position: int) -> Item:
        if self.start is not None:
            return Item(args=(self.start + position,))
        return self.values[position]

    def preview(self, rows: int = 5) -> list[Any]:
        return [self.item(i).value for i in range(min(rows, len(self)))]


def parse_range(text: str) -> Items:
    """``A:B`` inclusive; A ≤ B (one clear line otherwise)."""
    first, sep, last = text.strip().partition(":")
    try:
        if not sep:
            raise ValueError
        start, end = int(first), int(last)
    except ValueError:
        raise ItemError(f"--range {text!r}: give A:B, two whole numbers (1:6000)") from None
    if start > end:
        raise ItemError(f"--range {text}: A ({start}) is greater than B ({end})")
    if end - start + 1 > MAX_ITEMS:
        raise ItemError(f"--range {text}: at most {MAX_ITEMS:,} items in one batch")
    return Items(source=f"range {start}:{end}", start=start, end=end)


def read_items(path: str | Path, kwargs: bool = False) -> Items:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ItemError(f"{path}: use a .csv, .jsonl or .txt file (not {suffix or 'no suffix'!r})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ItemError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ItemError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ItemError(f"{path}: {exc.strerror}") from None
    return parse_items(text, suffix, str(path), kwargs)


def parse_items(text: str, suffix: str, source: str, kwargs: bool = False) -> Items:
    if kwargs and suffix != ".csv":
        raise ItemError(f"{source}: --kwargs applies to .csv files (.jsonl objects already are)")
    parse = {".csv": _csv, ".jsonl": _jsonl, ".txt": _txt}[suffix]
    values = tuple(parse(text, source, kwargs))
    if not values:
        raise ItemError(f"{source}: no items in the file")
    if len(values) > MAX_ITEMS:
        raise ItemError(f"{source}: at most {MAX_ITEMS:,} items in one batch")
    return Items(source=source, values=values)


def _txt(text: str, source: str, _: bool) -> Iterator[Item]:
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            yield Item(args=(line,), line=number)


def _jsonl(text: str, source: str, _: bool) -> Iterator[Item]:
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ItemError(f"{source}, line {number}: not JSON ({exc.msg})") from None
        if isinstance(value, list):
            yield Item(args=tuple(value), line=number)
        elif isinstance(value, dict):
            yield Item(kwargs=tuple((str(k), v) for k, v in value.items()), line=number)
        else:
            yield Item(args=(value,), line=number)


def _csv(text: str, source: str, kwargs: bool) -> Iterator[Item]:
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise ItemError(f"{source}, line 1: a header row is needed (the column names)")
        names = [h.strip() for h in header]
        if kwargs:
            bad = [n for n in names if not n.isidentifier()]
            if bad:
                raise ItemError(
                    f"{source}, line 1: column {bad[0]!r} is not a keyword-argument name"
                )
        for row in reader:
            number = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                raise ItemError(
                    f"{source}, line {number}: {len(row)} values, the header has {len(names)}"
                )
            if kwargs:
                yield Item(kwargs=tuple(zip(names, row, strict=True)), line=number)
            else:
                yield Item(args=tuple(row), line=number)
    except csv.Error as exc:
        raise ItemError(f"{source}, line {reader.line_num}: {exc}") from None


@dataclass(frozen=True)
class Call:
    """One child: the call sent, and which items (positions, 0-based inclusive) it covers."""

    index: int
    args: list[Any]
    kwargs: dict[str, Any]
    first: int
    last: int


def calls(items: Items, chunk_size: int | None) -> Iterator[Call]:
    """One call per item, or one per chunk of ``chunk_size`` (the chunk as one list argument)."""
    if chunk_size is not None and chunk_size < 1:
        raise ItemError(f"--chunk-size {chunk_size}: must be 1 or more")
    total = len(items)
    if chunk_size is None:
        for position in range(total):
            item = items.item(position)
            yield Call(position, list(item.args), dict(item.kwargs), position, position)
        return
    for index, first in enumerate(range(0, total, chunk_size)):
        last = min(total, first + chunk_size) - 1
        chunk = [items.item(p).value for p in range(first, last + 1)]
        yield Call(index, [chunk], {}, first, last)


def children_count(items: int, chunk_size: int | None) -> int:
    return items if not chunk_size else -(-items // chunk_size)


def covered(items: Items, call: Call) -> dict[str, Any]:
    """What ``batch status --children`` shows a child covered: its item range, and for a
    range batch the values (``range: [A, B]``), else the file lines when known."""
    out: dict[str, Any] = {"items": [call.first + 1, call.last + 1]}
    if items.start is not None:
        out["range"] = [items.start + call.first, items.start + call.last]
    else:
        lines = (items.values[call.first].line, items.values[call.last].line)
        if lines[0] is not None:
            out["lines"] = list(lines)
    return out
