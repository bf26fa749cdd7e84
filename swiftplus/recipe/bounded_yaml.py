"""Recipe YAML read with its expansion bounded: an alias bomb is one clear error, not a hang.

Anchors, aliases and merge keys stay legal (the shipped recipes use them); a recipe that expands past a stated size
once its aliases are followed is refused, naming the file and line.

PyYAML builds an alias as a reference to the anchored node, so nine nested aliases of nine (a "billion laughs",
a few hundred bytes) load at once into a tree of 9**9 leaves, and whatever walks it next (the duplicate-key
check, deep_merge, pydantic, the run record's dump) runs for hours. The composed node graph is measured before
anything walks it: each alias counts every time it is used, while each distinct node is measured once, so the
measuring itself is as cheap as the text.
"""
from __future__ import annotations

from typing import Any

import yaml

from swiftplus.core.errors import UserError

# The shipped recipes expand to well under 1,000 nodes and 20,000 characters; these leave room for any real one.
MAX_NODES = 100_000
MAX_TEXT = 10_000_000  # characters of scalar text, an aliased string counted each time it is used


def parse(text: str, where: str, *, lines: bool = True) -> tuple[Any, yaml.Node | None]:
    """(data, composed node) of one YAML document, safe types only. yaml.YAMLError for a syntax error (the caller
    says where); UserError for an expansion past the limits, a recursive alias or nesting too deep to follow,
    naming `where` (and the line in it, for a file). The node is composed apart from the data: constructing
    merges `<<:` keys into the nodes it reads, and the node is the recipe as written (lines, keys given twice)."""
    try:
        node = _compose(text)
        if node is None:
            return None, None
        check_size(node, where, lines=lines)
        return yaml.safe_load(text), node
    except RecursionError:
        raise UserError(f"{where}: the YAML is nested too deeply to read; a recipe needs a few levels") from None


def _compose(text: str) -> yaml.Node | None:
    loader = yaml.SafeLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def check_size(root: yaml.Node, where: str, *, lines: bool = True) -> None:
    """UserError at the innermost value whose expansion passes MAX_NODES or MAX_TEXT, or at an alias inside the
    very value it names (which no recipe setting can hold)."""
    sizes: dict[int, tuple[int, int]] = {}
    inside: set[int] = set()

    def measure(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        at = f"{where}:{node.start_mark.line + 1}" if lines else where
        if key in inside:
            raise UserError(f"{at}: this value holds an alias (*name) of itself, so the recipe would be infinitely "
                            f"deep. Alias a value outside its own anchor instead")
        inside.add(key)
        if isinstance(node, yaml.ScalarNode):
            nodes, chars = 1, len(node.value)
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
            nodes, chars = 1, 0
            for child in children:
                n, c = measure(child)
                nodes, chars = nodes + n, chars + c
        inside.discard(key)
        if nodes > MAX_NODES or chars > MAX_TEXT:
            what = f"{MAX_NODES:,} YAML nodes" if nodes > MAX_NODES else f"{MAX_TEXT:,} characters"
            raise UserError(f"{at}: this value expands to more than {what} once its aliases (*name) are "
                            f"followed, each as many times as it is used (nested aliases multiply: a \"billion "
                            f"laughs\"). A recipe is far smaller; anchors, aliases and merge keys are fine, but "
                            f"use fewer or less deeply nested ones")
        sizes[key] = (nodes, chars)
        return nodes, chars

    measure(root)
