"""swiftplus: graft a language model into a vision-language model, then train, serve and
evaluate it through ms-swift and EvalScope."""

__version__ = "0.1.0"
