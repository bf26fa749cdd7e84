"""The rehearsal's data: samples keep the user's rows on their own lines, stand-ins are clean sets in each
recipe format."""
from __future__ import annotations

import json

import pytest

from swiftplus.data.formats import DatasetSpec
from swiftplus.data.lint import lint_dataset
from swiftplus.evaluate.local_sets import data_files
from swiftplus.recipe.schema import LocalBenchmark
from swiftplus.rehearse.rehearsal import Sample, Synthetic
from swiftplus.rehearse.samples import write_sample, write_synthetic


def test_a_jsonl_sample_is_the_first_rows_byte_for_byte(tmp_path):
    lines = ['{"a": 1}', "", "{broken", '{"a": 3}', '{"a": 4}', '{"a": 5}']
    src = tmp_path / "d.jsonl"
    src.write_text("\n".join(lines) + "\n")
    assert write_sample(Sample(str(src), str(tmp_path / "s.jsonl"), 3)) == 3
    # the broken row is kept for the lint to find, on the line it has in the source
    assert (tmp_path / "s.jsonl").read_text().splitlines() == lines[:4]


def test_a_json_array_sample_keeps_each_row_on_its_source_line(tmp_path):
    rows = [{"id": i, "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": str(i)}]}
            for i in range(10)]
    src = tmp_path / "d.json"
    src.write_text(json.dumps(rows, indent=2))
    dest = tmp_path / "s.json"
    assert write_sample(Sample(str(src), str(dest), 4)) == 4
    assert json.loads(dest.read_text()) == rows[:4]
    source_lines, sample_lines = src.read_text().splitlines(), dest.read_text().splitlines()
    assert sample_lines[:-2] == source_lines[: len(sample_lines) - 2]
    # a minified array cannot be cut by lines: its rows are rewritten
    src.write_text(json.dumps(rows))
    assert write_sample(Sample(str(src), str(dest), 4)) == 4 and json.loads(dest.read_text()) == rows[:4]
    assert write_sample(Sample(str(src), str(dest), 40)) == 10


@pytest.mark.parametrize("fmt", ["swift", "llava", "vision-tag", "cauldron"])
def test_stand_in_sets_are_clean_in_each_format(tmp_path, fmt):
    dest = write_synthetic(Synthetic(str(tmp_path / "data" / f"{fmt}.jsonl"), fmt, 8))
    report = lint_dataset([DatasetSpec(str(dest), fmt)])
    assert report.rows == 8 and report.bad_rows == 0, report.to_json()["issues"]


def test_a_stand_in_eval_set_is_an_evalscope_vmcq_directory(tmp_path):
    dest = write_synthetic(Synthetic(str(tmp_path / "eval-set"), "vmcq", 5))
    (file,) = data_files(LocalBenchmark(name="rehearsal", path=str(dest), kind="vmcq")).values()
    rows = [json.loads(line) for line in file.read_text().splitlines()]
    assert len(rows) == 5 and all(r["answer"] in "ABCD" and (tmp_path / r["image_1"]).is_file() for r in rows)
