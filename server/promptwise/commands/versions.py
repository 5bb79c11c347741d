"""`promptwise versions list|show|diff`: packaged versions with their evidence (the runs and
evaluations of exactly their content) and what changed between two of them.

    promptwise versions list [NAME] [--format json]
    promptwise versions show VERSION [--format json]
    promptwise versions diff OLD NEW [--format json]

VERSION is NAME:vN, NAME (its newest), or a content hash prefix (sha256:3f2a1b2c).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from promptwise.cli import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser("versions", help="list, show and diff packaged versions",
                                   description="Packaged flow versions (promptwise package) with their evaluation "
                                               "evidence, and the prompt, setting and metric changes between two.")
    parser.add_argument("--workspace", default=".", metavar="PATH", help="a folder inside the workspace (default: .)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="versions, newest first")
    listing.add_argument("name", nargs="?", metavar="NAME", help="only the versions of this name")
    show = actions.add_parser("show", help="one version: content, files, runs and evaluations of its content")
    show.add_argument("version", metavar="VERSION")
    compare = actions.add_parser("diff", help="file changes and metric deltas between two versions")
    compare.add_argument("old", metavar="OLD")
    compare.add_argument("new", metavar="NEW")
    for sub in (listing, show, compare):
        sub.add_argument("--format", choices=("text", "json"), default="text")
        sub.add_argument("--workspace", default=argparse.SUPPRESS, metavar="PATH", help=argparse.SUPPRESS)
    parser.set_defaults(handler=handle, parser=parser)


def handle(args: argparse.Namespace) -> int:
    if args.action is None:
        args.parser.print_help()
        return 2
    from promptwise.deploy.errors import DeployError
    from promptwise.deploy.service import open_context

    try:
        context = open_context(args.workspace, readonly=True)
    except DeployError as error:
        if args.action == "list" and "no registry here yet" in str(error):  # nothing packaged: an empty list
            print("[]" if args.format == "json" else f"no versions yet ({error})")
            return 0
        raise UserError(str(error)) from None
    try:
        return {"list": _list, "show": _show, "diff": _diff}[args.action](context, args)
    except DeployError as error:
        raise UserError(str(error)) from None
    finally:
        context.close()


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def _list(context, args) -> int:
    from promptwise.deploy.service import evidence, evidence_line

    versions = context.registry.list(args.name)
    if args.name and not versions:
        context.registry.get(args.name)  # the did-you-mean error
    state_dir = context.workspace.state_dir
    if args.format == "json":
        print(json.dumps([{**v.to_json(), "evidence": evidence(v, state_dir, 1)} for v in versions], indent=2))
        return 0
    if not versions:
        print(f"no versions in the registry {context.registry.location}; package one with: promptwise package FLOW")
        return 0
    for version in versions:
        print(f"{version.id:<24} {_when(version.created_at)}  {version.created_by}")
        print(f"    {evidence_line(version, evidence(version, state_dir, 1))}")
    return 0


def _show(context, args) -> int:
    from promptwise.commands.options import plural
    from promptwise.costing.calls import format_usd
    from promptwise.deploy.service import evidence, evidence_line

    version = context.registry.get(args.version)
    found = evidence(version, context.workspace.state_dir)
    if args.format == "json":
        print(json.dumps({**version.to_json(), "evidence": found}, indent=2))
        return 0
    print(evidence_line(version, found))
    print(f"  content   {version.content_hash}")
    print(f"  packaged  {_when(version.created_at)} by {version.created_by} from {version.source}")
    print(f"  snapshot  {version.snapshot / version.flow}")
    print(f"  files     {', '.join(sorted(version.files))}")
    for item in found["evaluations"]:
        metrics = ", ".join(f"{k} {v:.3g}" for k, v in item["metrics"].items()) or "no scores"
        cost = f", {format_usd(item['cost_per_row'])}/row" if item.get("cost_per_row") is not None else ""
        print(f"  evaluation {item['evaluation']} (run {item['run']}, {plural(item['rows'], 'row')}): {metrics}{cost}")
    for item in found["runs"]:
        print(f"  run {item['run']} ({item['kind']}, {item['status']}): {plural(item['rows_completed'], 'row')} completed, "
              f"{item['rows_failed']} failed")
    if not found["runs"]:
        print("  no run of this content in this workspace yet: promptwise eval / batch on the flow record evidence")
    return 0


def _diff(context, args) -> int:
    from promptwise.deploy.service import diff

    old = context.registry.get(args.old)
    new = context.registry.get(args.new)
    result = diff(old, new, context.workspace.state_dir)
    if args.format == "json":
        print(json.dumps(result, indent=2))
        return 0
    if not result["files"]:
        print(f"{old.id} and {new.id} have the same files")
    for change in result["files"]:
        print(change["diff"], end="" if change["diff"].endswith("\n") else "\n")
    if result["metrics"]:
        print(f"metrics ({old.id} -> {new.id}, latest evaluation of each):")
        for name, figures in result["metrics"].items():
            delta = figures["delta"]
            shown = f"{delta:+.3g}" if delta is not None else "n/a"
            print(f"  {name}: {_value(figures['from'])} -> {_value(figures['to'])} ({shown})")
    else:
        print("metrics: neither version has an evaluation in this workspace")
    return 0


def _value(value) -> str:
    return "-" if value is None else f"{value:.3g}"
