"""Before a stage trains: lint every local dataset entry and convert it into the jsonl swift reads.

The only place training touches swiftplus.data. A stage refuses to start when a dataset's share of bad
rows exceeds the stage's max_bad_fraction; every lint report is kept in the stage's run record.
"""
from __future__ import annotations

from pathlib import Path

from swiftplus import runs
from swiftplus.errors import UserError
from swiftplus.recipe_schema import TrainSection
from swiftplus.sft_command import dataset_specs


def prepare_datasets(section: TrainSection, stage_root: Path, record: Path, stage: str) -> list[Path]:
    """Lint + convert each local entry (train and val) to the path sft_command gave swift; returns the
    files an inputs record should hash (each source and its conversion)."""
    from swiftplus.data import DatasetSpec, convert_dataset, lint_dataset

    touched: list[Path] = []
    reports: dict[str, dict] = {}
    for key, prefix in (("dataset", "train"), ("val_dataset", "val")):
        for entry, target in dataset_specs(getattr(section, key), stage_root, prefix):
            if entry is None:
                continue  # a hub dataset id: swift fetches and reads it itself
            source = Path(entry.path).expanduser()
            if not source.exists():
                raise UserError(f"{stage}.{key}: {entry.path} does not exist (relative paths are read from "
                                f"{Path.cwd()})")
            spec = DatasetSpec(path=str(source), format=entry.format, data_root=entry.data_root)
            report = lint_dataset(spec)
            reports[str(source)] = report.to_json()
            if report.bad_fraction > section.max_bad_fraction:
                runs.write_json_atomic(record / "lint.json", reports)
                raise UserError(f"{stage}.{key}: {entry.path}: lint rejects {report.bad_fraction:.1%} of the rows, "
                                f"more than {stage}.max_bad_fraction={section.max_bad_fraction:g}. Details in "
                                f"{record / 'lint.json'}; see `swiftplus data lint {entry.path}`, fix the data or "
                                f"raise {stage}.max_bad_fraction.")
            convert_dataset(spec, Path(target))
            touched += [source, Path(target)]
    runs.write_json_atomic(record / "lint.json", reports)
    return touched
