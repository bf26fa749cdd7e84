"""Any supported manifest(s) -> one ms-swift JSON Lines file, plus the list of every row dropped or repaired.

One streaming pass runs the same checks as lint: rows with errors are dropped, repairable rows are written
repaired, and each of those is one line of `<out>.fixes.jsonl` (file, line, action, kind, kinds, why), so
every input row is either in the output or in the fixes list. `data lint --fix` is this with a report.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from swiftplus.core.errors import UserError
from swiftplus.data import kinds as K
from swiftplus.data.budget import TokenBudget
from swiftplus.data.formats import DatasetSpec
from swiftplus.data.lint import LintReport, checker_for, finish_file, resolve_format
from swiftplus.data.reader import iter_rows
from swiftplus.data.writer import AtomicFile, SwiftWriter

KEEP_DROPPED = 1000  # dropped rows kept in the result object; the fixes file has them all


@dataclass
class ConvertResult:
    out_path: str
    fixes_path: str
    rows: int = 0  # input rows
    written: int = 0
    repaired: int = 0
    dropped: int = 0
    dropped_rows: list[dict] = field(default_factory=list)  # the first KEEP_DROPPED fixes entries that dropped
    note: str | None = None  # a reordering the writer had to make
    report: LintReport = field(default_factory=LintReport)

    def to_json(self) -> dict:
        return {"out": self.out_path, "fixes": self.fixes_path, "rows": self.rows, "written": self.written,
                "repaired": self.repaired, "dropped": self.dropped, "note": self.note}


def fixes_path_for(out_path: str) -> str:
    base = out_path[: -len(".jsonl")] if out_path.endswith(".jsonl") else out_path
    return base + ".fixes.jsonl"


def convert_dataset(specs: list[DatasetSpec], out_path: str, *, deep: bool = False,
                    budget: TokenBudget | None = None, check_media: bool = True,
                    fixes_path: str | None = None) -> ConvertResult:
    if not str(out_path).endswith(".jsonl"):
        raise UserError(f"output {out_path}: must end in .jsonl (swift sft picks the reader from the extension)")
    out_path = str(out_path)
    inputs = {os.path.abspath(s.path) for s in specs}
    if os.path.abspath(out_path) in inputs:
        raise UserError(f"output {out_path} is also an input; write the converted file elsewhere")
    result = ConvertResult(out_path, fixes_path or fixes_path_for(out_path))
    if budget is not None:
        result.report.text_tokens = "tokenizer" if budget.exact_text else "estimated"
    formats = [resolve_format(spec) for spec in specs]  # every input checked before anything is written
    writer, fixes = SwiftWriter(out_path), AtomicFile(result.fixes_path)
    try:
        for spec, fmt in zip(specs, formats):
            _convert_one(spec, fmt, writer, fixes.f, result, deep=deep, budget=budget, check_media=check_media)
        writer.commit()
        fixes.commit()
    except BaseException:
        writer.abort()
        fixes.abort()
        raise
    result.written, result.note = writer.rows, writer.note
    return result


def _convert_one(spec, fmt, writer: SwiftWriter, fixes, result: ConvertResult, **options) -> None:
    report = LintReport(max_issues=result.report.max_issues)
    check = checker_for(spec, fmt, **options).check
    path = spec.path
    for lineno, value, error in iter_rows(path):
        report.rows += 1
        sample, problems = check(lineno, value, error)
        if problems:
            report.add(path, lineno, problems)
        if sample is not None:
            writer.write(sample)
            repaired = [p for p in problems if p[2] == K.REPAIRED]
            if repaired:
                result.repaired += 1
                fixes.write(_entry(path, lineno, "repaired", repaired))
        else:
            result.dropped += 1
            entry = _entry(path, lineno, "dropped", [p for p in problems if p[2] == K.ERROR] or problems)
            fixes.write(entry)
            if len(result.dropped_rows) < KEEP_DROPPED:
                result.dropped_rows.append(json.loads(entry))
    finish_file(spec, fmt, report)
    result.rows += report.rows
    result.report.files.append({"path": path, "format": fmt, "rows": report.rows, "bad_rows": report.bad_rows})
    result.report.file_errors += report.file_errors
    result.report.merge(report)


def _entry(path: str, line: int, action: str, problems: list) -> str:
    return json.dumps({"file": path, "line": line, "action": action, "kind": problems[0][0],
                       "kinds": list(dict.fromkeys(p[0] for p in problems)),
                       "why": "; ".join(p[1] for p in problems)}, ensure_ascii=False) + "\n"
