"""`promptwise init DIR [--template chat|rag|classifier|prompty]`: start a project.

The files come from `promptwise.scaffold`; this module only parses and prints."""

from __future__ import annotations

import sys
from pathlib import Path

TEMPLATE_NAMES = ("chat", "rag", "classifier", "prompty")  # kept equal to scaffold.TEMPLATES (tested)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "init", help="start a project from a template (chat, rag, classifier, prompty)",
        description="Create a working project in DIR: the flow or prompty, promptwise.yaml with a connection "
                    "read from the environment, sample data, a README and rules for the local scripted model "
                    "(the classifier adds eval.yaml). Refuses a folder that is not empty unless --force; "
                    "never overwrites a file.")
    parser.add_argument("folder", type=Path, metavar="DIR", help="the new project's folder (created if missing)")
    parser.add_argument("--template", choices=TEMPLATE_NAMES, default="chat", help="what to start from (default chat)")
    parser.add_argument("--force", action="store_true",
                        help="add the files to a folder that is not empty (files already there are kept)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from promptwise.cli import UserError
    from promptwise.scaffold import ScaffoldError, scaffold

    try:
        result = scaffold(args.folder, args.template, force=args.force)
    except ScaffoldError as error:
        raise UserError(str(error)) from None
    for path in result.written:
        print(f"created {path}")
    for path in result.kept:
        print(f"kept    {path} (already there; not overwritten)", file=sys.stderr)
    for note in result.notes:
        print(f"promptwise: warning: {note}", file=sys.stderr)
    import shlex

    here = Path(args.folder).resolve() == Path.cwd().resolve()
    print(f"\nNext: {'' if here else f'cd {shlex.quote(str(args.folder))} and '}follow README.md (it starts the "
          "local scripted model; `promptwise check .` should report no problems).")
    return 0
