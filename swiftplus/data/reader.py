"""Stream a manifest's rows with the line each starts on, never holding the whole file.

A manifest is either JSON Lines or one JSON array (json.dump(rows, f, indent=2)); which one is decided by the
first non-blank byte, not the extension, because `.json` files holding JSON Lines are common. Rows come out
as (line, value, error): value is the parsed row, or None with a one-line error for rows that are not JSON.
"""
from __future__ import annotations

import io
import json
import json.scanner
import os
import re
from typing import Iterator

from swiftplus.core.errors import UserError

CHUNK = 1 << 20
_decoder = json.JSONDecoder()
_scan = json.scanner.make_scanner(_decoder)
_ws = re.compile(r"[ \t\r\n]*")


def is_json_array(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096)
        while head and not head.strip():
            head = f.read(4096)
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] == b"["


def iter_rows(path: str) -> Iterator[tuple[int, object, str | None]]:
    return iter_array(path) if is_json_array(path) else iter_lines(path)


def iter_lines(path: str, start: int = 0, end: int | None = None,
               stats: dict | None = None) -> Iterator[tuple[int, object, str | None]]:
    """JSON Lines rows starting in the byte range [start, end), numbered from 1 within the range.

    stats["lines"] gets the number of lines the range holds (blank ones included) once it is exhausted.
    """
    lineno = 0
    with open(path, "rb") as f:
        if start:
            f.seek(start - 1)
            f.readline()  # the line in progress at `start` belongs to the previous range
        lines = f if end is None else _until(f, end)
        for raw in lines:
            lineno += 1
            # The C scanner without json.loads' two whitespace regexes: twice as fast on valid rows;
            # anything odd goes through json.loads for its exact error.
            try:
                text = raw.decode()
                value, stop = _scan(text, 0)
                if stop != len(text) and text[stop:].strip():
                    raise ValueError
            except (ValueError, StopIteration):
                if not raw.strip():
                    continue
                try:
                    value = json.loads(raw.lstrip(b"\xef\xbb\xbf") if lineno == 1 else raw)
                except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
                    yield lineno, None, _short(e)
                    continue
            yield lineno, value, None
    if stats is not None:
        stats["lines"] = lineno


def _until(f, end: int):
    """The lines of f that start before byte `end`."""
    pos = f.tell()
    for raw in f:
        if pos >= end:
            return
        pos += len(raw)
        yield raw


def byte_ranges(path: str, parts: int) -> list[tuple[int, int]]:
    size = os.path.getsize(path)
    step = max(1, size // parts)
    cuts = [min(size, i * step) for i in range(parts)] + [size]
    return [(cuts[i], cuts[i + 1]) for i in range(parts) if cuts[i] < cuts[i + 1]]


def iter_array(path: str) -> Iterator[tuple[int, object, str | None]]:
    """Elements of a top-level JSON array with the line each starts on.

    raw_decode parses one element at C speed; an element cut by the chunk boundary is retried with more
    text. After a broken element, parsing resumes at the next line indented like the earlier elements'
    starts; a single-line (minified) array cannot resync, and its first error is a UserError rather than a
    silent end of the rows.
    """
    with open(path, "r", encoding="utf-8-sig", errors="replace") as f:
        buf, eof = _read(f, "")
        line = 1
        pos = _ws.match(buf, 0).end()
        line += buf.count("\n", 0, pos)
        if buf[pos:pos + 1] != "[":
            yield line, None, "expected a JSON array"
            return
        pos += 1
        indent: str | None = None
        aligned = False
        while True:
            if pos > CHUNK and not eof:  # drop what has been consumed
                buf, pos = buf[pos:], 0
            ws_end = _ws.match(buf, pos).end()
            while ws_end == len(buf) and not eof:
                buf, eof = _read(f, buf)
                ws_end = _ws.match(buf, pos).end()
            line += buf.count("\n", pos, ws_end)
            pos = ws_end
            if pos >= len(buf):
                yield line, None, "unterminated JSON array (no closing ])"
                return
            ch = buf[pos]
            if ch == "]":
                yield from _after_array(f, buf, pos + 1, line)
                return
            if ch == ",":
                pos += 1
                continue
            start_col = pos - (buf.rfind("\n", 0, pos) + 1)
            if indent is None:  # before decoding: a broken first element must still let the next be found
                lead = buf[pos - start_col:pos]
                aligned = lead.strip() == ""  # elements start their own lines (json.dump(indent=...) layout)
                indent = lead if aligned else ""
            while True:
                try:
                    value, end = _decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as e:
                    if not eof and _maybe_cut(e, buf):
                        buf, eof = _read(f, buf)
                        continue
                    bad = line + buf.count("\n", pos, e.pos)
                    yield bad, None, f"{e.msg} (column {e.colno})"
                    resume = _resync(f, buf, pos, eof, indent)
                    if resume is None:
                        if aligned:
                            return  # no element starts a line after it: the broken one was the last
                        raise UserError(f"dataset {path}: the JSON array breaks at line {bad} and the elements "
                                        f"after it cannot be found (the array keeps its elements on shared "
                                        f"lines), so every later row would be lost; fix line {bad} and lint again")
                    buf, eof, nxt = resume
                    line += buf.count("\n", pos, nxt)
                    pos = nxt
                    break
                yield line, value, None
                line += buf.count("\n", pos, end)
                pos = end
                break


def _after_array(f, buf: str, pos: int, line: int):
    """Only whitespace may follow the closing ]; anything else means rows were lost to a malformed layout."""
    rest = buf[pos:]
    while not rest.strip():
        more = f.read(CHUNK)
        if not more:
            return
        line += rest.count("\n")
        rest = more
    stripped = rest.lstrip()
    yield line + rest[: len(rest) - len(stripped)].count("\n"), None, "text after the array's closing ]"


def _read(f: io.TextIOBase, buf: str) -> tuple[str, bool]:
    more = f.read(CHUNK)
    return buf + more, not more


def _maybe_cut(e: json.JSONDecodeError, buf: str) -> bool:
    # An element cut by the chunk edge fails at the end of the buffer, or as a string that never closes.
    return e.pos >= len(buf) - 1 or e.msg.startswith("Unterminated string")


def _resync(f, buf: str, pos: int, eof: bool, indent: str | None):
    if indent is None:
        return None
    pattern = re.compile(r"\n" + re.escape(indent) + r"[{\[]")
    while True:
        m = pattern.search(buf, pos + 1)
        if m:
            return buf, eof, m.start() + 1 + len(indent)
        if eof:
            return None
        buf, eof = _read(f, buf)


def _short(e: Exception) -> str:
    if isinstance(e, json.JSONDecodeError):
        return f"{e.msg} (column {e.colno})"
    return str(e).splitlines()[0][:200]
