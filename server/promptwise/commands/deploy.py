"""`promptwise deploy FLOW --target T [--version V] [--out DIR]`: a packaged version onto a target.

Without --version the flow is packaged first (unchanged content reuses its version). Governance
runs before any call: no literal secret, no `check` error, and for cloud targets a region from
`deploy.allowed_regions`. --out writes the target's artefacts (for docker: the build context) and
changes nothing else; without it the target applies them (docker: build, tag, push). --weight N
gives the version N% of the traffic beside the version deployed before it (targets that split
traffic); --image names the container image it runs as."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from promptwise.cli import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "deploy", help="deploy a packaged version (docker build context, image, ...)",
        description="Deploy a flow's version to a target. --out DIR writes the artefacts only.")
    parser.add_argument("flow", metavar="FLOW", nargs="?", help="flow folder, flow.dag.yaml, flow.flex.yaml or .prompty")
    from promptwise.deploy.targets import target_names  # names only: no target module is imported

    parser.add_argument("--target", required=True, metavar="T", help=f"where to deploy: {', '.join(target_names())}")
    parser.add_argument("--version", metavar="V", help="NAME:vN, vN (of FLOW's name) or NAME (its newest); "
                                                       "default: package FLOW now")
    parser.add_argument("--weight", type=_percent, metavar="N",
                        help="the version's share of the traffic, 0-100 (kubernetes, azureml): the version "
                             "deployed before it keeps the rest; default 100")
    parser.add_argument("--image", metavar="REF", help="the container image the version runs as, e.g. "
                                                        "acme.azurecr.io/triage:v7 (default: from deploy.<target>)")
    parser.add_argument("--out", metavar="DIR", help="write the artefacts into DIR and stop")
    parser.add_argument("--workspace", default=".", metavar="PATH",
                        help="a folder inside the workspace, when no FLOW is given (default: .)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=handle)


def _percent(text: str) -> int:
    if not text.isdigit() or int(text) > 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole percent 0-100")
    return int(text)


def handle(args: argparse.Namespace) -> int:
    from promptwise.deploy.errors import DeployError
    from promptwise.deploy.service import deploy, describe, open_context, resolve_flow

    def progress(line: str) -> None:
        print(f"promptwise: {line}", file=sys.stderr, flush=True)

    try:
        flow = resolve_flow(args.flow) if args.flow else None
        if flow is None and not args.version:
            raise DeployError("deploy: give the flow to deploy (a folder or file), or --version NAME:vN")
        out = Path(args.out).resolve() if args.out else None
        if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise DeployError(f"--out {args.out}: not an empty folder; give a new or empty one (nothing was written)")
        context = open_context(flow or args.workspace)
        try:
            result = deploy(context, flow, args.target, version_ref=args.version, out=out, progress=progress,
                            weight=args.weight, image=args.image)
        finally:
            context.close()
    except (DeployError, OSError, ValueError) as error:
        raise UserError(describe(error)) from None
    if args.format == "json":
        print(json.dumps(result, indent=2))
    elif result["applied"]:
        print(f"{result['version']} on {result['target']}: {result['summary']}")
    else:
        print(f"{result['version']}: {result['target']} artefacts written to {result['out']} ({result['files']} files)")
    return 0
