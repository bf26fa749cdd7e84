"""A lint report as a person reads it: files, rows by kind, the first issues with file:line."""
from __future__ import annotations

from swiftplus.data import kinds as K

STYLE = {K.ERROR: "red", K.REPAIRED: "yellow", K.WARNING: "cyan"}


def render(report, result=None, show: int = 20) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    files = Table(title="files", title_justify="left")
    for col in ("path", "format", "rows", "bad rows"):
        files.add_column(col, justify="right" if col in ("rows", "bad rows") else "left")
    for f in report.files:
        files.add_row(f["path"], f["format"] or "[red]unknown[/]", f"{f['rows']:,}", f"{f['bad_rows']:,}")
    console.print(files)

    if report.counts:
        kinds = Table(title="rows by kind", title_justify="left")
        for col in ("kind", "severity", "rows", "meaning"):
            kinds.add_column(col, justify="right" if col == "rows" else "left")
        order = {K.ERROR: 0, K.REPAIRED: 1, K.WARNING: 2}
        for (kind, sev), n in sorted(report.by_severity.items(), key=lambda kv: (order[kv[0][1]], -kv[1], kv[0])):
            kinds.add_row(kind, f"[{STYLE[sev]}]{sev}[/]", f"{n:,}", K.KINDS[kind][1])
        console.print(kinds)

    shown = sorted(report.issues, key=lambda i: i.severity != K.ERROR)[:show]
    if shown:
        issues = Table(title=f"first {len(shown)} of {len(report.issues) + report.issues_omitted:,} issues",
                       title_justify="left")
        for col in ("where", "kind", "message"):
            issues.add_column(col, overflow="fold")
        for i in shown:
            issues.add_row(f"{i.file}:{i.line}", f"[{STYLE[i.severity]}]{i.kind}[/]", i.message)
        console.print(issues)

    verdict = "[green]clean[/]" if report.ok else "[red]errors[/]"
    line = (f"{verdict}: {report.rows:,} rows, {report.bad_rows:,} with errors ({report.bad_fraction:.2%}), "
            f"{report.repaired_rows:,} repairable")
    if report.text_tokens == "estimated":
        line += "; text tokens estimated (bytes/4): pass --tokenizer to count them"
    console.print(line)
    if result is not None:
        console.print(f"wrote {result.written:,} rows to {result.out_path} ({result.repaired:,} repaired, "
                      f"{result.dropped:,} dropped); every dropped or repaired row: {result.fixes_path}")
        if result.note:
            console.print(f"note: {result.note}")
