"""Recipes: the schema of swiftplus's own keys, loading (base:, --set), and the checks that need more than
the schema (stage wiring, tool flags against the installed versions)."""
