"""`python -m swiftplus`: the same CLI as the `swiftplus` command (cli.py)."""
from swiftplus.cli import main

raise SystemExit(main())
