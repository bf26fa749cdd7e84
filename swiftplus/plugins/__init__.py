"""ms-swift plugins (`--external_plugins FILE`) that register model types and templates ms-swift lacks.

Recipes name them under `plugins:`; swiftplus passes the file to every swift command.
"""
