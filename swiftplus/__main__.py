from swiftplus.cli import main

raise SystemExit(main())
