"""`swift deploy`: which checkpoint is served and its argv (command.py), the server's start, readiness and
stop (server.py), `swiftplus deploy` itself (run.py), and the endpoint a client uses, with the record of a
detached one (endpoint.py)."""
