"""Datasets: the seeds' four manifest formats, lint before training, conversion to ms-swift's jsonl.

    from swiftplus.data import DatasetSpec, TokenBudget, lint_dataset, convert_dataset
"""
from swiftplus.data.budget import TokenBudget
from swiftplus.data.formats import FORMATS, DatasetSpec
from swiftplus.data.kinds import ALL_KINDS, KINDS
from swiftplus.data.lint import Issue, LintReport, lint_dataset

__all__ = ["ALL_KINDS", "FORMATS", "KINDS", "DatasetSpec", "Issue", "LintReport", "TokenBudget", "lint_dataset"]
