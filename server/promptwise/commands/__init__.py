"""One module per CLI command; each exposes `register(subparsers)`. See `promptwise.cli`."""
