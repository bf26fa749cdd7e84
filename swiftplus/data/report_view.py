"""A lint report as a person reads it: files, rows by kind, the first issues with file:line."""
from __future__ import annotations

from swiftplus.data import kinds as K

STYLE = {K.ERROR: "red", K.REPAIRED: "yellow", K.WARNING: "cyan"}


def shown_issues(issues, show: int) -> list[tuple]:
    """(issue, how many rows of its file share its kind) for the first `show` lines: errors first, one line per
    row; a repair or warning that repeats through a file (a relative path resolved beside the manifest, on
    every row) once per file with its count, so it cannot push the errors off the first screen."""
    errors = [(i, 1) for i in issues if i.severity == K.ERROR]
    notes: dict[tuple, list] = {}
    for i in issues:
        if i.severity != K.ERROR:
            notes.setdefault((i.file, i.kind), []).append(i)
    return (errors + [(same[0], len(same)) for same in notes.values()])[:show]


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

    shown = shown_issues(report.issues, show)
    if shown:
        issues = Table(title=f"first issues of {len(report.issues) + report.issues_omitted:,} (a repair or warning "
                             "that repeats through a file: once, with its count)", title_justify="left")
        for col in ("where", "kind", "message"):
            issues.add_column(col, overflow="fold")
        for i, count in shown:
            more = f" [dim](and {count - 1:,} more rows of this file like it)[/]" if count > 1 else ""
            issues.add_row(f"{i.file}:{i.line}", f"[{STYLE[i.severity]}]{i.kind}[/]", i.message + more)
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
