"""Datasets: the seeds' four manifest formats, lint before training, conversion to ms-swift's jsonl.

    from swiftplus.data import DatasetSpec, TokenBudget, lint_dataset, convert_dataset
    from swiftplus.data import prepare_datasets   # training: convert, store lint.json, refuse on bad data
"""
from swiftplus.data.budget import TokenBudget
from swiftplus.data.convert import ConvertResult, convert_dataset
from swiftplus.data.formats import FORMATS, DatasetSpec
from swiftplus.data.kinds import ALL_KINDS, KINDS
from swiftplus.data.lint import Issue, LintReport, lint_dataset
from swiftplus.data.prepare import prepare_datasets, prepare_for_training

__all__ = ["ALL_KINDS", "FORMATS", "KINDS", "ConvertResult", "DatasetSpec", "Issue", "LintReport", "TokenBudget",
           "convert_dataset", "lint_dataset", "prepare_datasets", "prepare_for_training"]
