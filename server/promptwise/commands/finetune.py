"""`promptwise finetune check|submit|status`: fine-tuning data checks, cost, and jobs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from promptwise.commands.options import non_negative_number, plural, positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "finetune", help="check fine-tuning data and cost; submit and follow fine-tuning jobs",
        description="Check chat-format fine-tuning data (structure, tokens, duplicates, cost), "
                    "submit a job through an OpenAI or Azure OpenAI connection, and follow it.")
    actions = parser.add_subparsers(dest="finetune_action", metavar="ACTION", required=True)

    check = actions.add_parser("check", help="validate a JSONL training file and estimate the training cost")
    _data_options(check)
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument("--workspace", type=Path, default=None, metavar="DIR",
                       help="workspace folder, for its `models:` prices (default: found from the current folder)")
    check.set_defaults(handler=run_check)

    submit = actions.add_parser("submit", help="check, upload and start a fine-tuning job")
    _data_options(submit)
    _connection_options(submit)
    submit.add_argument("--suffix", default=None, help="a suffix for the fine-tuned model's name")
    submit.set_defaults(handler=run_submit)

    status = actions.add_parser("status", help="a fine-tuning job's state and events (default: the latest job)")
    status.add_argument("job", nargs="?", default=None, help="the job id (ftjob-...)")
    status.add_argument("--follow", action="store_true", help="poll until the job finishes")
    status.add_argument("--interval", type=non_negative_number("seconds"), default=10.0, metavar="SECONDS",
                        help="seconds between polls with --follow (default 10)")
    _connection_options(status)
    status.set_defaults(handler=run_status)


def _data_options(parser) -> None:
    parser.add_argument("data", type=Path, help="training data, one chat example per line (JSONL)")
    parser.add_argument("--model", required=True, help="the base model to fine-tune, e.g. gpt-4o-mini-2024-07-18")
    parser.add_argument("--validation", type=Path, default=None, metavar="FILE", help="validation data (JSONL)")
    parser.add_argument("--epochs", type=positive_int, default=None, metavar="N",
                        help="training epochs (default: the service's choice: 3 for 26 to 8,333 examples, more "
                             "below, fewer above; the estimate follows the same rule)")


def _connection_options(parser) -> None:
    parser.add_argument("--connection", default=None, metavar="NAME",
                        help="connection from promptwise.yaml (default: defaults.connection or the environment)")
    parser.add_argument("--workspace", type=Path, default=None, metavar="DIR",
                        help="workspace folder (default: found from the current folder)")


def _money(value: float | None) -> str:
    if value is None:
        return "price unknown"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def _check(args):
    from promptwise.cli import UserError
    from promptwise.config import ConfigError, load_workspace
    from promptwise.costing.catalog import catalog_for
    from promptwise.finetune.data import check

    for option, path in (("DATA", args.data), ("--validation", args.validation)):
        if path is not None and not path.is_file():
            raise UserError(f"{path}: no such file (given as {option}); pass a JSONL file of chat examples")
    try:
        # The workspace's `models:` section may set a price (Azure's differ by region) or a new model.
        catalog = catalog_for(load_workspace(args.workspace or Path.cwd()))
        return check(args.data, args.model, validation=args.validation, epochs=args.epochs, catalog=catalog)
    except ConfigError as error:
        raise UserError(str(error)) from None


def print_check(result, out=None) -> None:
    out = out or sys.stdout  # looked up now: a default bound at import would outlive a redirected stdout
    for problem in result.problems:
        print(problem, file=out)
    model = result.model if result.model_known else f"{result.model} (not in the catalog: limits and price default)"
    train = result.training
    print(f"model {model}; counted with {result.encoding}; limit {result.limit:,} tokens per example", file=out)
    print(f"training: {plural(train.examples, 'example')}, {plural(train.tokens, 'token')} "
          f"(longest {train.longest:,})", file=out)
    if result.validation is not None:
        print(f"validation: {result.validation.examples:,} examples, {result.validation.tokens:,} tokens", file=out)
    per_epoch = result.cost_per_epoch()
    if per_epoch is None:
        print(f"cost: price unknown (no fine-tuning training price for {result.model} in the catalog); "
              f"{train.tokens * result.epochs:,} billed tokens over {plural(result.epochs, 'epoch')}", file=out)
    else:
        print(f"cost: {_money(per_epoch)} per epoch, {_money(per_epoch * result.epochs)} for "
              f"{plural(result.epochs, 'epoch')} "
              f"({train.tokens * result.epochs:,} tokens at ${result.price_per_1m:g}/1M)", file=out)
    if not result.epochs_given:
        print(f"epochs: {result.epochs}, what the service picks for {train.examples:,} examples when none is "
              "given (--epochs N sets it)", file=out)
    errors = len(result.errors)
    print(f"{errors} error{'s' if errors != 1 else ''}" if errors else "ok: ready to submit", file=out)


def run_check(args) -> int:
    result = _check(args)
    if args.format == "json":
        print(json.dumps(result.to_json(), indent=2))
    else:
        print_check(result)
    return 1 if result.errors else 0


def run_submit(args) -> int:
    from promptwise.cli import UserError
    from promptwise.finetune import jobs

    result = _check(args)
    print_check(result, sys.stderr)
    if result.errors:
        raise UserError(f"{args.data}: not submitted: fix the errors above first (`promptwise finetune check`)")
    try:
        job = jobs.submit(jobs.connection_for(args.workspace, args.connection), args.data, args.model,
                          validation=args.validation, epochs=args.epochs, suffix=args.suffix)
    except jobs.FineTuneError as error:
        raise UserError(str(error)) from None
    print(f"started fine-tuning job {job.id} ({job.status}) on {job.model}")
    print(f"follow it with: promptwise finetune status {job.id} --follow")
    return 0


def run_status(args) -> int:
    from promptwise.cli import UserError
    from promptwise.finetune import jobs

    try:
        job = jobs.follow(jobs.connection_for(args.workspace, args.connection), args.job,
                          follow=args.follow, interval=args.interval, out=sys.stdout)
    except jobs.FineTuneError as error:
        raise UserError(str(error)) from None
    except KeyboardInterrupt:
        print("promptwise: stopped following; the job goes on at the service (`promptwise finetune status"
              + (f" {args.job}" if args.job else "") + "` to look again)", file=sys.stderr)
        return 130
    return 0 if job.status != "failed" and job.status != "cancelled" else 1
