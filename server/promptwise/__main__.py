from promptwise.cli import main

raise SystemExit(main())
