"""`promptwise audit [--name N] [--limit N] [--format json]`: the append-only log of package,
deploy, promote and rollback (who, what, when, from which version to which)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from promptwise.cli import UserError
from promptwise.commands.options import positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser("audit", help="the append-only log of package, deploy, promote and rollback",
                                   description="Who packaged, deployed, promoted or rolled back which version, when, "
                                               "and from which version to which (oldest first).")
    parser.add_argument("--workspace", default=".", metavar="PATH", help="a folder inside the workspace (default: .)")
    parser.add_argument("--name", metavar="N", help="only entries about this version name")
    parser.add_argument("--limit", type=positive_int, metavar="N", help="only the last N entries")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from promptwise.deploy import audit
    from promptwise.deploy.errors import DeployError
    from promptwise.deploy.service import open_context

    try:
        context = open_context(args.workspace, readonly=True)
    except DeployError as error:
        if "no registry here yet" in str(error):
            print("[]" if args.format == "json" else "no audit entries yet (nothing was packaged or deployed)")
            return 0
        raise UserError(str(error)) from None
    try:
        entries = audit.entries(context.registry.database, name=args.name, limit=args.limit)
    finally:
        context.close()
    if args.format == "json":
        print(json.dumps([e.to_json() for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no audit entries for {args.name!r} (see `promptwise audit` for every name)" if args.name
              else "no audit entries yet")
    for entry in entries:
        when = datetime.fromtimestamp(entry.at).strftime("%Y-%m-%d %H:%M:%S")
        change = " -> ".join(v for v in (entry.from_version, entry.to_version) if v) or entry.name or ""
        where = f" on {entry.target}" if entry.target else ""
        reason = entry.details.get("reason") if entry.outcome in ("refused", "failed") else None
        print(f"{when}  {entry.who}  {entry.action}{where} {change}  [{entry.outcome}]" + (f" {reason}" if reason else ""))
    return 0
