"""Streaming lint over one or more manifests: every issue with file:line and kind, counts of rows by kind.

Large JSON Lines files are split by byte ranges across processes (each range owns the lines that start in
it, so line numbers are the range's offset plus its own count); JSON arrays stream in one process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import NamedTuple

from swiftplus.core.errors import UserError
from swiftplus.data import kinds as K
from swiftplus.data.budget import TokenBudget
from swiftplus.data.checks import RowChecker, duplicate_message
from swiftplus.data.formats import FORMATS, DatasetSpec, detect
from swiftplus.data.reader import byte_ranges, is_json_array, iter_lines, iter_rows

PARALLEL_MIN_BYTES = 16 << 20
SNIFF_ROWS = 50


class Issue(NamedTuple):
    file: str
    line: int
    kind: str
    message: str
    severity: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.message}"


@dataclass
class LintReport:
    rows: int = 0
    bad_rows: int = 0  # rows with an error: dropped by --fix / convert
    repaired_rows: int = 0  # rows kept after a repair
    counts: dict[str, int] = field(default_factory=dict)  # kind -> rows with it
    by_severity: dict[tuple, int] = field(default_factory=dict)  # (kind, severity) -> rows
    issues: list[Issue] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)  # {path, format, rows, bad_rows}
    file_errors: int = 0  # a file that is empty or has no recognisable format
    max_issues: int = 100_000
    issues_omitted: int = 0
    text_tokens: str | None = None  # "tokenizer" | "estimated" | None (no budget)

    @property
    def bad_fraction(self) -> float:
        return self.bad_rows / self.rows if self.rows else 0.0

    @property
    def ok(self) -> bool:
        return self.bad_rows == 0 and self.file_errors == 0

    def add(self, file: str, line: int, problems: list) -> None:
        """Record one row's problems; counts are exact even when the issue list is capped."""
        kinds, pairs = set(), set()
        worst = None
        for kind, message, severity in problems:
            if len(self.issues) < self.max_issues:
                self.issues.append(Issue(file, line, kind, message, severity))
            else:
                self.issues_omitted += 1
            kinds.add(kind)
            pairs.add((kind, severity))
            if severity == K.ERROR:
                worst = K.ERROR
            elif severity == K.REPAIRED and worst is None:
                worst = K.REPAIRED
        for kind in kinds:
            self.counts[kind] = self.counts.get(kind, 0) + 1
        for pair in pairs:
            self.by_severity[pair] = self.by_severity.get(pair, 0) + 1
        if worst == K.ERROR:
            self.bad_rows += 1
        elif worst == K.REPAIRED:
            self.repaired_rows += 1

    def merge(self, other: "LintReport", line_offset: int = 0) -> None:
        self.rows += other.rows
        self.bad_rows += other.bad_rows
        self.repaired_rows += other.repaired_rows
        for kind, n in other.counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        for pair, n in other.by_severity.items():
            self.by_severity[pair] = self.by_severity.get(pair, 0) + n
        room = max(0, self.max_issues - len(self.issues))
        self.issues += [i._replace(line=i.line + line_offset) for i in other.issues[:room]]
        self.issues_omitted += other.issues_omitted + max(0, len(other.issues) - room)

    def to_json(self) -> dict:
        return {
            "ok": self.ok, "rows": self.rows, "bad_rows": self.bad_rows, "repaired_rows": self.repaired_rows,
            "bad_fraction": self.bad_fraction, "file_errors": self.file_errors,
            "counts": dict(sorted(self.counts.items(), key=lambda kv: -kv[1])),
            "by_severity": {sev: {k: n for (k, s), n in sorted(self.by_severity.items()) if s == sev}
                            for sev in (K.ERROR, K.REPAIRED, K.WARNING)},
            "files": self.files,
            "text_tokens": self.text_tokens, "issues_omitted": self.issues_omitted,
            "issues": [i._asdict() for i in self.issues],
        }


def resolve_format(spec: DatasetSpec) -> str | None:
    """The spec's format: the explicit one, else what its first rows look like (None: nothing matched)."""
    if not os.path.isfile(spec.path):
        raise UserError(f"dataset {spec.path}: no such file")
    if spec.data_root and not os.path.isdir(spec.data_root):
        raise UserError(f"dataset {spec.path}: data_root {spec.data_root} is not a directory")
    if _is_one_object(spec.path):
        raise UserError(f"dataset {spec.path}: holds one pretty-printed JSON object; a manifest is JSON Lines "
                        f"(one row per line) or a JSON array of rows")
    if spec.format != "auto":
        if spec.format not in FORMATS:
            raise UserError(f"dataset {spec.path}: unknown format '{spec.format}'; "
                            f"use auto or one of {', '.join(FORMATS)}")
        return spec.format
    values = []
    for _, value, _ in iter_rows(spec.path):
        if value is not None:
            values.append(value)
            if len(values) >= SNIFF_ROWS:
                break
    return detect(values)


def _is_one_object(path: str) -> bool:
    with open(path, "rb") as f:
        for raw in f:
            if raw.strip():
                return raw.strip().lstrip(b"\xef\xbb\xbf") == b"{"
    return False


def checker_for(spec: DatasetSpec, fmt: str | None, **options) -> RowChecker:
    return RowChecker(fmt, data_root=spec.data_root, manifest_dir=os.path.dirname(os.path.abspath(spec.path)),
                      **options)



def lint_dataset(specs: list[DatasetSpec], *, deep: bool = False, budget: TokenBudget | None = None,
                 check_media: bool = True, workers: int | None = None, max_issues: int = 100_000,
                 min_image_side: int | None = None) -> LintReport:
    """Lint every row of every manifest. Options: deep (full PIL decode), budget (token budget check),
    check_media=False (schema checks only: no file access), workers (processes for big JSON Lines files;
    default: the idle cores, at most 2)."""
    report = LintReport(max_issues=max_issues)
    if budget is not None:
        report.text_tokens = "tokenizer" if budget.exact_text else "estimated"
    options = {"deep": deep, "budget": budget, "check_media": check_media, "need_sample": False}
    if min_image_side is not None:
        options["min_image_side"] = min_image_side
    for spec in specs:
        fmt = resolve_format(spec)
        part = LintReport(max_issues=max_issues)
        n = workers if workers is not None else idle_cores()
        if n > 1 and os.path.getsize(spec.path) >= PARALLEL_MIN_BYTES and not is_json_array(spec.path):
            _lint_parallel(spec, fmt, options, n, part)
        else:
            _lint_range(spec, fmt, options, part)
        finish_file(spec, fmt, part)
        report.files.append({"path": spec.path, "format": fmt, "rows": part.rows, "bad_rows": part.bad_rows})
        report.file_errors += part.file_errors
        report.merge(part)
    return report


def idle_cores(cap: int = 2) -> int:
    """Cores nobody else is using: splitting a file across busy cores is slower than one process."""
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cap, round((os.cpu_count() or 1) - busy)))


def finish_file(spec: DatasetSpec, fmt: str | None, part: LintReport) -> None:
    if part.rows == 0:
        part.file_errors += 1
        part.add(spec.path, 1, [(K.EMPTY_DATASET, "the file holds no rows", K.ERROR)])
    elif fmt is None:
        part.file_errors += 1


def _lint_range(spec, fmt, options, report: LintReport, start: int = 0, end: int | None = None,
                stats: dict | None = None) -> dict:
    checker = checker_for(spec, fmt, **options)
    check, add, path = checker.check, report.add, spec.path
    rows = iter_lines(path, start, end, stats) if end is not None else iter_rows(path)
    n = 0
    for lineno, value, error in rows:
        n += 1
        _, problems = check(lineno, value, error)
        if problems:
            add(path, lineno, problems)
    report.rows += n
    return checker


def _range_worker(args):
    spec, fmt, options, start, end, max_issues = args
    part, stats = LintReport(max_issues=max_issues), {}
    checker = _lint_range(spec, fmt, options, part, start, end, stats)
    return part, stats.get("lines", 0), checker.ids, checker.repeats


def _lint_parallel(spec, fmt, options, n: int, report: LintReport) -> None:
    import multiprocessing

    jobs = [(spec, fmt, options, s, e, report.max_issues) for s, e in byte_ranges(spec.path, n)]
    with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
        results = pool.map(_range_worker, jobs)
    # Each range knows only its own ids: repeats are re-pointed at the first use in the whole file, and
    # ids first used in a range but seen in an earlier one become repeats.
    offset, first_seen = 0, {}
    for part, lines, ids, repeats in results:
        local_first = {}
        for key, line in ids.items():
            first = first_seen.setdefault(key, line + offset)
            local_first[key] = first
            if first != line + offset:
                report.counts[K.DUPLICATE_ID] = report.counts.get(K.DUPLICATE_ID, 0) + 1
                pair = (K.DUPLICATE_ID, K.WARNING)
                report.by_severity[pair] = report.by_severity.get(pair, 0) + 1
                if len(report.issues) < report.max_issues:
                    report.issues.append(Issue(spec.path, line + offset, K.DUPLICATE_ID,
                                               duplicate_message(key, first), K.WARNING))
        part.issues = [i._replace(message=duplicate_message(repeats[i.line], local_first[repeats[i.line]]))
                       if i.kind == K.DUPLICATE_ID else i for i in part.issues]
        report.merge(part, offset)
        offset += lines
    report.issues.sort(key=lambda i: i.line)
