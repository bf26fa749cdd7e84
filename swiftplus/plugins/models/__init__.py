"""transformers (and vLLM) model classes that transformers lacks, for the ms-swift plugins beside this package.

Each module registers its classes with transformers' Auto classes when imported; nothing here is imported by
`import swiftplus.plugins.models` itself, and these files are not ms-swift plugins (they are not listed by
`swiftplus.plugins.available_plugins`).
"""
