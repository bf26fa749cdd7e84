"""Serving a checkpoint with `swift deploy`, and the endpoint a client uses.

command.py decides which checkpoint is served and its argv, server.py starts it, waits for it and stops it,
run.py is `swiftplus deploy` itself and endpoint.py the client's view, with the record of a detached one."""
