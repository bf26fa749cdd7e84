"""`swiftplus VERB RECIPE ...`: verbs map to functions; every user error is one clean message, exit 2.

Heavy modules (torch, swift, evalscope) are imported only inside the verbs that run them, so
`validate` and `plan` stay instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from swiftplus.core.errors import UserError
from swiftplus.core.stages import ALIASES, DONOR, HOST_PREFIX, SOURCES
from swiftplus.data.cli import add_data_parser

# verb -> (module, function, help). Each function takes the parsed args and returns an exit status.
VERBS = {
    "validate": ("swiftplus.commands.inspect", "validate", "check a recipe (schema, tool flags, stage wiring)"),
    "plan": ("swiftplus.commands.inspect", "show_plan", "print every command and environment that would run"),
    "graft": ("swiftplus.commands.graft", "main", "build the grafted checkpoint (template vision + donor LLM)"),
    "train": ("swiftplus.commands.train", "main", "run swift sft for --stage 1, 2 or lora"),
    "export": ("swiftplus.commands.export", "main", "merge LoRA adapters into a model with swift export"),
    "deploy": ("swiftplus.commands.deploy", "main", "serve a checkpoint with swift deploy (OpenAI-compatible)"),
    "eval": ("swiftplus.commands.evaluate", "main", "evaluate a checkpoint through its endpoint with EvalScope"),
    "perf": ("swiftplus.commands.evaluate", "perf", "load-test the endpoint with evalscope perf"),
    "run": ("swiftplus.commands.run", "main", "every stage of the recipe, in order"),
    "rehearse": ("swiftplus.commands.rehearse", "main",
                 "the whole pipeline on tiny models of the recipe's families, with its settings, in minutes"),
    "data": ("swiftplus.data.cli", "main", "lint or convert datasets"),
    "ls": ("swiftplus.commands.inspect", "list_recipes", "list the shipped recipes"),
    "cp": ("swiftplus.commands.inspect", "copy_recipe", "fork a shipped recipe into a new file"),
    "doctor": ("swiftplus.commands.doctor", "main", "versions, GPUs, disk; with a recipe, whether its needs are met"),
}


FROM_HELP = " | ".join((*SOURCES, DONOR, f"{HOST_PREFIX}HOST", "PATH"))


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of argparse's usage dump
        raise UserError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _recipe_args(p: argparse.ArgumentParser, *, dry_run: bool = True, preflight: bool = False) -> None:
    p.add_argument("recipe", help="recipe name (recipes/NAME.yaml) or path")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe key, e.g. stage1.learning_rate=2e-5 (repeatable)")
    if dry_run:
        p.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    if preflight:
        p.add_argument("--skip-preflight", action="store_true",
                       help="launch without checking GPUs, packages, memory and disk first (`swiftplus doctor`)")


def build_parser() -> Parser:
    parser = Parser(prog="swiftplus", description="Graft, train, serve and evaluate VLMs through ms-swift.")
    parser.add_argument("--version", action="version", version=f"swiftplus {__import__('swiftplus').__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)
    sub.required = True
    p = {name: sub.add_parser(name, help=help_) for name, (_, _, help_) in VERBS.items() if name != "data"}

    _recipe_args(p["validate"], dry_run=False)
    _recipe_args(p["plan"], dry_run=False)
    p["plan"].add_argument("--stage", action="append", help="only these stages (repeatable)")
    p["plan"].add_argument("--json", action="store_true", help="machine-readable output")

    _recipe_args(p["graft"], preflight=True)
    p["graft"].add_argument("--force", action="store_true", help="rebuild even if a complete output exists")
    p["graft"].add_argument("--no-proof", action="store_true", help="skip the equivalence / reachability proof")

    _recipe_args(p["train"], preflight=True)
    p["train"].add_argument("--stage", required=True, choices=list(ALIASES))
    p["train"].add_argument("--resume", action="store_true", help="continue an interrupted stage from its last checkpoint")

    _recipe_args(p["export"], preflight=True)
    p["export"].add_argument("--merge-lora", action="store_true", default=True)

    _recipe_args(p["deploy"], preflight=True)
    p["deploy"].add_argument("--from", dest="source", help=FROM_HELP)
    p["deploy"].add_argument("--port", type=int)
    p["deploy"].add_argument("--detach", action="store_true", help="start in the background and return")
    p["deploy"].add_argument("--stop", action="store_true", help="stop a detached endpoint")

    for verb in ("eval", "perf"):
        _recipe_args(p[verb])
        p[verb].add_argument("--from", dest="source", help=FROM_HELP)
        p[verb].add_argument("--endpoint", help="use this running endpoint (base URL) instead of starting one")
    p["eval"].add_argument("--compare", help="comma-separated checkpoints, e.g. graft,stage1,stage2")
    p["eval"].add_argument("--limit", type=float, help="samples per benchmark (overrides the recipe)")
    p["perf"].add_argument("--parallel", type=int, action="append", help="concurrent requests (repeatable)")
    p["perf"].add_argument("--number", type=int, action="append", help="requests per parallel setting")

    _recipe_args(p["run"], preflight=True)
    p["run"].add_argument("--resume", action="store_true")
    p["run"].add_argument("--rehearse", action="store_true", help="rehearse the recipe first; stop if that fails")

    _recipe_args(p["rehearse"], dry_run=False)
    p["rehearse"].add_argument("--keep", action="store_true", help="keep the rehearsal's run directory")

    p["cp"].add_argument("recipe", help="shipped recipe to fork")
    p["cp"].add_argument("dest", help="new recipe name (recipes/NAME.yaml) or path")
    p["doctor"].add_argument("recipe", nargs="?", help="check what this recipe needs against this machine")
    p["doctor"].add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                             help="override a recipe key (repeatable)")

    add_data_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        module, func, _ = VERBS[args.verb]
        return int(getattr(importlib.import_module(module), func)(args) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
