"""`promptwise models`: list the model catalog; `promptwise models import FILE`: import prices.

The list is the shipped catalog with the workspace's overrides applied; every row says
where its figures came from (the catalog and its date, or the settings file and line).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from promptwise.commands.options import existing_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "models", help="list the model catalog (prices, context windows, tokenizers)",
        description="List the model catalog with the workspace's overrides, or import a LiteLLM price file.")
    _common(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(handler=run_list)
    actions = parser.add_subparsers(dest="models_action", metavar="ACTION")
    importer = actions.add_parser(
        "import", help="import a LiteLLM model_prices_and_context_window.json into promptwise.yaml",
        description="Add the chat models of a LiteLLM price file under `models:` in the workspace's "
                    "promptwise.yaml (entries the workspace already sets are kept).")
    importer.add_argument("file", type=Path, help="a JSON file in LiteLLM's format")
    importer.add_argument("--only", default="*", metavar="GLOB",
                          help="import only model names matching this pattern, e.g. 'azure/*'")
    importer.add_argument("--dry-run", action="store_true", help="print what would be added; change nothing")
    importer.add_argument("--all", action="store_true",
                          help=f"allow importing more than {MANY_MODELS} models at once (a whole LiteLLM file)")
    _common(importer)
    importer.set_defaults(handler=run_import)


# LiteLLM's full file has thousands of chat models; writing them all into promptwise.yaml is
# rarely meant, so more than this needs --only or --all.
MANY_MODELS = 100


def _common(parser) -> None:
    parser.add_argument("--workspace", type=Path, default=None, metavar="DIR",
                        help="workspace folder (default: found from the current folder)")
    parser.add_argument("--catalog", type=Path, default=None, metavar="FILE",
                        help="use this catalog file instead of the shipped one")


def _load(args):
    # Imported here, not at the top: --help should not load the catalog (pydantic, tiktoken).
    from promptwise.cli import UserError
    from promptwise.config import ConfigError, load_workspace
    from promptwise.costing.catalog import catalog_for

    existing_folder("--workspace", args.workspace)
    try:
        workspace = load_workspace(args.workspace or Path.cwd())
        return workspace, catalog_for(workspace, args.catalog)
    except ConfigError as error:
        raise UserError(str(error)) from None


def _price(value: float | None) -> str:
    return "-" if value is None else f"${value:g}"


def run_list(args) -> int:
    from promptwise.costing.catalog import FALLBACK_ENCODING

    workspace, catalog = _load(args)
    models = sorted(catalog.models.values(), key=lambda m: (m.provider != "openai", m.provider, m.name))
    if args.format == "json":
        json.dump({"as_of": catalog.as_of, "workspace": str(workspace.root),
                   "settings": str(workspace.source) if workspace.source else None,
                   "deployments": catalog.deployments,
                   "models": [model.to_json() for model in models]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    header = ("model", "provider", "tokenizer", "context", "max out", "in/1M", "cached/1M", "out/1M", "from")
    rows = [header]
    for model in models:
        tokenizer = model.tokenizer if model.exact_tokenizer else f"{model.tokenizer}*"
        rows.append((model.name, model.provider, tokenizer, f"{model.context_window:,}", f"{model.max_output:,}",
                     _price(model.input_per_1m), _price(model.cached_input_per_1m), _price(model.output_per_1m),
                     model.origin))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print(f"Model catalog as of {catalog.as_of} (prices in US dollars per 1M tokens)")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"* tokenizer not shipped with Promptwise: counted with {FALLBACK_ENCODING}, approximate")
    print("cached/1M '-': no cached-input discount")
    for deployment, model in sorted(catalog.deployments.items()):
        print(f"deployment {deployment} -> {model}")
    return 0


def run_import(args) -> int:
    from promptwise.cli import UserError
    from promptwise.config import ConfigError
    from promptwise.costing.litellm_import import apply_import, plan_import, read_litellm_file

    workspace, catalog = _load(args)
    try:
        data = read_litellm_file(args.file)
        plan = plan_import(data, workspace, catalog, args.only)
    except ConfigError as error:
        raise UserError(str(error)) from None
    for name, fields in plan.added.items():
        print(f"{'would add' if args.dry_run else 'add'} {name}: input ${fields['input_per_1m']:g}/1M, "
              f"output ${fields['output_per_1m']:g}/1M, context {fields['context_window']:,}, "
              f"tokenizer {fields['tokenizer']}")
    for name in plan.kept:
        print(f"keep {name}: already set in {workspace.source}")
    print(f"{len(plan.added)} to add, {len(plan.kept)} already in the workspace, "
          f"{len(plan.same_as_catalog)} same as the catalog, {len(plan.skipped)} not chat models or unpriced")
    if plan.skipped and (plan.added or plan.kept or plan.same_as_catalog):
        print(f"not imported: {plan.skipped_summary()}")
    if not plan.added:
        if not plan.kept and not plan.same_as_catalog:
            why = f" ({plan.skipped_summary()})" if plan.skipped else ""
            raise UserError(f"{args.file}: no chat model with input and output prices matched {args.only!r}{why}; "
                            "each entry needs input_cost_per_token, output_cost_per_token and max_input_tokens "
                            "(LiteLLM's format); check the file and the --only pattern")
        return 0
    if args.dry_run:
        return 0
    if len(plan.added) > MANY_MODELS and not args.all and args.only == "*":
        raise UserError(f"{args.file}: this would add {len(plan.added)} models to promptwise.yaml; pick them with "
                        "--only PATTERN (e.g. --only 'azure/*'), or pass --all to import every one")
    try:
        path = apply_import(plan, workspace)
    except (OSError, ConfigError) as error:
        raise UserError(str(error)) from None
    print(f"wrote {len(plan.added)} models to {path}")
    return 0
