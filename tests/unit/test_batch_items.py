"""A project batch's items: every file format, ranges, chunking, and each bad input's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pooldesk.backend.batches.items import (
    ItemError,
    calls,
    children_count,
    covered,
    parse_range,
    read_items,
)
from pooldesk.backend.batches.project_target import close_matches, resolve_backend


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_rows_are_positional_args_in_column_order_or_kwargs_by_header(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "customer,period\n7,2026-11\n\n9,2026-12\n")
    items = read_items(path)
    assert [c.args for c in calls(items, None)] == [["7", "2026-11"], ["9", "2026-12"]]
    by_name = read_items(path, kwargs=True)
    assert [c.kwargs for c in calls(by_name, None)][1] == {"customer": "9", "period": "2026-12"}
    assert covered(items, next(calls(items, None))) == {"items": [1, 1], "lines": [2, 2]}


def test_jsonl_list_object_and_scalar_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "j.jsonl", '[1, 2]\n{"x": 3}\n"four"\n\n5\n')
    out = list(calls(read_items(path), None))
    assert [(c.args, c.kwargs) for c in out] == [
        ([1, 2], {}), ([], {"x": 3}), (["four"], {}), ([5], {})
    ]  # fmt: skip


def test_txt_one_value_a_line_and_chunks_as_one_list_argument(tmp_path: Path) -> None:
    path = write(tmp_path, "t.txt", "# ids\na\nb\nc\nd\ne\n")
    out = list(calls(read_items(path), 2))
    assert [c.args for c in out] == [[["a", "b"]], [["c", "d"]], [["e"]]]  # last one shorter
    assert children_count(5, 2) == 3 and children_count(5, None) == 5


def test_range_is_inclusive_and_chunks_cover_value_ranges() -> None:
    items = parse_range("1:6000")
    assert len(items) == 6000
    chunks = list(calls(items, 500))
    assert len(chunks) == 12 and chunks[-1].args == [list(range(5501, 6001))]
    assert covered(items, chunks[1]) == {"items": [501, 1000], "range": [501, 1000]}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.jsonl", '[1]\n{"x": \n', "line 2: not JSON"),
        ("bad.csv", "a,b\n1,2\n3\n", "line 3: 1 values, the header has 2"),
        ("empty.txt", "# nothing\n\n", "no items"),
        ("items.xml", "<a/>", "use a .csv, .jsonl or .txt"),
    ],
)
def test_bad_files_name_their_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    with pytest.raises(ItemError, match=message):
        read_items(write(tmp_path, name, text))


def test_bad_ranges_and_chunk_sizes() -> None:
    with pytest.raises(ItemError, match="greater than B"):
        parse_range("9:3")
    with pytest.raises(ItemError, match="two whole numbers"):
        parse_range("1-5")
    with pytest.raises(ItemError, match="must be 1 or more"):
        list(calls(parse_range("1:3"), 0))


def test_close_matches_and_relative_sqlite_backend(tmp_path: Path) -> None:
    assert "shop.tasks.bill" in close_matches("shop.tasks.bil", ["shop.tasks.bill", "x.y"])
    assert "shop.tasks.bill" in close_matches("bill", ["shop.tasks.bill", "x.y"])
    assert (
        resolve_backend("db+sqlite:///results.db", "/srv/app") == "db+sqlite:////srv/app/results.db"
    )
    assert resolve_backend("db+sqlite:////abs/r.db", "/srv/app") == "db+sqlite:////abs/r.db"
    with pytest.raises(ValueError, match="rpc://"):
        resolve_backend("rpc://", "/srv/app")
