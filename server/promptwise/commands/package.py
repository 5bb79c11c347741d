"""`promptwise package PATH [--name N] [--format json]`: an immutable, numbered version of a flow in
the registry (deploy/registry.py), after governance (no literal secret, no `check` error)."""

from __future__ import annotations

import argparse
import json
import sys

from promptwise.cli import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "package", help="store an immutable version of a flow in the registry",
        description="Package a flow as an immutable version: its content hash, a name (default: the flow's folder), "
                    "a number (v1, v2... per name; unchanged content returns the existing version) and a snapshot of "
                    "every file that changes its behaviour. Refused when the flow holds a literal secret or "
                    "`promptwise check` finds errors. The registry is .promptwise/registry.sqlite, or "
                    "`registry: {path: DIR}` (a shared folder) or `registry: {url: ${env:PROMPTWISE_REGISTRY_URL}}` (a "
                    "PostgreSQL team database) in promptwise.yaml.")
    parser.add_argument("path", metavar="PATH", help="flow folder, flow.dag.yaml, flow.flex.yaml or .prompty")
    parser.add_argument("--name", metavar="N", help="the version's name (default: the flow folder's name)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from promptwise.deploy.errors import DeployError
    from promptwise.deploy.service import describe, open_context, package, resolve_flow

    try:
        flow = resolve_flow(args.path)
        context = open_context(flow)
        try:
            version, created = package(context, flow, args.name)
        finally:
            context.close()
    except (DeployError, OSError, ValueError) as error:
        raise UserError(describe(error)) from None
    if args.format == "json":
        print(json.dumps({**version.to_json(), "created": created}, indent=2))
    else:
        state = "packaged" if created else "unchanged: already packaged as"
        print(f"{state} {version.id} ({version.content_hash})")
        print(f"  snapshot {version.snapshot} ({len(version.files)} files)", file=sys.stderr)
    return 0
