"""Splitting a big JSON Lines file across processes changes nothing in the report but the time it takes."""
from swiftplus.data import DatasetSpec, lint_dataset
from swiftplus.data import lint as lint_module
from tests.data.test_lint_kinds import CASES, GOOD


def test_two_workers_report_exactly_what_one_does(manifest, media, monkeypatch):
    broken = [row for kind, sev, fmt, row, opts in CASES if fmt == "llava" and not opts]
    rows = []
    for i in range(300):
        rows.append(dict(GOOD["llava"][i % 2], id=f"r{i}"))
        rows.append(broken[i % len(broken)])
    rows.append(dict(GOOD["llava"][0], id="r7"))  # a duplicate whose first use is in the other half
    path, starts = manifest(rows)
    monkeypatch.setattr(lint_module, "PARALLEL_MIN_BYTES", 0)
    spec = DatasetSpec(str(path), data_root=str(media))
    one = lint_dataset([spec], workers=1)
    two = lint_dataset([spec], workers=2)
    assert one.rows == two.rows == len(rows)
    assert (one.bad_rows, one.repaired_rows, one.counts) == (two.bad_rows, two.repaired_rows, two.counts)
    assert sorted(one.issues) == sorted(two.issues)
    assert {i.line for i in one.issues} <= set(starts)
    assert any(i.kind == "duplicate_id" and i.line == starts[-1] for i in two.issues)
