"""Streaming rows with their start lines: JSON arrays without loading them whole, JSON Lines by byte range."""
import json

import pytest

from swiftplus.data import reader
from tests.data.conftest import write_manifest


def rows(n, pad=0):
    return [{"id": i, "text": "x" * (pad + i % 7), "nested": {"a": [1, {"b": "]},["}]}} for i in range(n)]


@pytest.mark.parametrize("array", [False, True])
def test_start_lines_across_chunk_edges(array, tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "CHUNK", 64)  # every element straddles a chunk edge
    data = rows(40, pad=50)
    path = tmp_path / "m.json"
    starts = write_manifest(path, data, array=array)
    got = list(reader.iter_rows(str(path)))
    assert [(line, value) for line, value, _ in got] == list(zip(starts, data))
    assert all(err is None for *_, err in got)


def test_resync_after_a_broken_element(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "CHUNK", 50)
    data = rows(6)
    data[2] = '{"id": 2, "text": "unterminated}'
    data[4] = '{"id": 4, "text": }'
    path = tmp_path / "m.json"
    starts = write_manifest(path, data, array=True)
    got = list(reader.iter_array(str(path)))
    assert [line for line, _, _ in got] == starts
    assert [err is not None for _, _, err in got] == [False, False, True, False, True, False]


def test_minified_array_and_odd_whitespace(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('\ufeff  \r\n[{"a": 1},\r\n {"a": 2} ,{"a":3}\r\n]')
    assert [(line, v) for line, v, _ in reader.iter_rows(str(path))] == [(2, {"a": 1}), (3, {"a": 2}), (3, {"a": 3})]


def test_truncated_array_reports_instead_of_raising(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('[\n  {"a": 1},\n  {"a": 2')
    got = list(reader.iter_array(str(path)))
    assert got[0] == (2, {"a": 1}, None)
    assert got[1][0] == 3 and got[1][1] is None and got[1][2]


def test_jsonl_blank_lines_bom_errors(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n  \n{"a": 2} \n{"a": 3} trailing\n{"a": \xff}\n[1]\n')
    got = list(reader.iter_lines(str(path)))
    assert [(line, v) for line, v, _ in got] == [(1, {"a": 1}), (4, {"a": 2}), (5, None), (6, None), (7, [1])]
    assert "Extra data" in got[2][2]


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_byte_ranges_partition_the_lines(parts, tmp_path):
    path = tmp_path / "m.jsonl"
    data = rows(101)
    write_manifest(path, data, array=False)
    seen, offset = [], 0
    for start, end in reader.byte_ranges(str(path), parts):
        stats = {}
        for line, value, _ in reader.iter_lines(str(path), start, end, stats):
            seen.append((line + offset, value))
        offset += stats["lines"]
    assert seen == [(i + 1, row) for i, row in enumerate(data)]


def test_json_lines_in_a_json_file(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("\n".join(json.dumps(r) for r in rows(3)) + "\n")
    assert not reader.is_json_array(str(path))
    assert [line for line, _, _ in reader.iter_rows(str(path))] == [1, 2, 3]


def test_text_after_the_closing_bracket_is_reported(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('[\n  {"a": 1}\n]\n\n{"a": 2}\n')
    got = list(reader.iter_array(str(path)))
    assert got[0] == (2, {"a": 1}, None)
    assert got[1][:2] == (5, None) and "after the array" in got[1][2]


def test_array_with_a_broken_first_element_still_reads_the_rest(tmp_path):
    good = json.dumps({"id": 1}, indent=2)
    elements = [good.replace("1", "1 2"), good, good]
    body = ",\n".join("\n".join("  " + line for line in e.split("\n")) for e in elements)
    path = tmp_path / "a.json"
    path.write_text("[\n" + body + "\n]\n")
    rows = list(reader.iter_array(str(path)))
    assert [(value, error is not None) for _, value, error in rows] == [(None, True), ({"id": 1}, False),
                                                                        ({"id": 1}, False)]


def test_minified_array_broken_early_is_an_error_not_a_short_file(tmp_path):
    from swiftplus.core.errors import UserError

    path = tmp_path / "m.json"
    path.write_text('[{"id": 1}, {"id": 1 2}, {"id": 3}, {"id": 4}]')
    with pytest.raises(UserError, match="breaks at line 1.*every later row would be lost"):
        list(reader.iter_array(str(path)))
