"""The registry of model families (FAMILIES) and the lookups the packages below graft/ need.

A family is defined by one module under swiftplus/graft/families/ and registered there with one line; the list
itself sits here, in core/, so that recipe/ can ask a family (can this backend serve the recipe's ms-swift model
type?) without importing graft. swiftplus.graft.families fills it when it is imported; a lookup here that finds
the list empty loads that package by name first (as ms-swift loads a plugin), so no caller below graft/ gets an
empty registry for having imported nothing above it.

Only plain attributes of a family are read here: name, host, template_model_types, swift_types(), serving.
"""
from __future__ import annotations

import importlib
from contextlib import contextmanager
from typing import Iterator

FAMILIES: list = []  # filled by swiftplus.graft.families, one line per family; the first that matches wins
OWNER = "swiftplus.graft.families"  # the package that defines and registers every family


def families() -> list:
    """FAMILIES, its owner loaded on first use."""
    if not FAMILIES:
        importlib.import_module(OWNER)
    return FAMILIES


@contextmanager
def registered(family) -> Iterator:
    """`family` in the registry for the duration (a family a test defines); it is matched before the others."""
    families().insert(0, family)
    try:
        yield family
    finally:
        FAMILIES.remove(family)


def by_name(name: str | None):
    return next((f for f in families() if f.name == name), None)


def by_swift_type(model_type: str | None):
    """The family whose checkpoints ms-swift trains and serves as `model_type`, or None."""
    return next((f for f in families() if model_type in f.swift_types()), None)


def grafted_by(host: str, name: str | None = None):
    """The family a recipe's graft section settles without reading the template's config: graft.family if it
    names one, else the only family that grafts with graft.host; None when the template's model type decides."""
    if name is not None:
        return by_name(name)
    hosting = [f for f in families() if f.template_model_types and f.host == host]
    return hosting[0] if len(hosting) == 1 else None
