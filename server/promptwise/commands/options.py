"""Option values that several commands read the same way."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def parse_variants(pairs: list[str], example: str) -> dict[str, str]:
    """`--variant NODE=ID` options (repeatable) as {node: variant id}; a malformed one is a
    UserError that shows how to write it, with `example` (e.g. "summarize=variant_1")."""
    from promptwise.cli import UserError  # promptwise.cli imports the command modules

    variants = {}
    for pair in pairs:
        node, sep, variant = pair.partition("=")
        if not sep or not node or not variant:
            raise UserError(f"--variant {pair!r}: write it as NODE=VARIANT_ID, e.g. --variant {example}")
        variants[node] = variant
    return variants


def concurrency_or_default(value: int | None) -> int:
    """`--concurrency N` for commands that run a flow: the batch default when not given."""
    from promptwise.cli import UserError

    if value is None:
        from promptwise.engine.batch import DEFAULT_CONCURRENCY  # imports the engine: only when running

        return DEFAULT_CONCURRENCY
    if value < 1:
        raise UserError(f"--concurrency must be at least 1 (got {value})")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run_name(text: str) -> str:
    """argparse type for `--name`: a run's name is also a folder under .promptwise/runs/, so a
    name with a path separator or a leading dot would write outside it (`--name ../../x`)."""
    from promptwise.run_names import RULE, is_safe_run_name

    if not text.strip():
        raise argparse.ArgumentTypeError("a run name cannot be empty")
    if not is_safe_run_name(text):
        raise argparse.ArgumentTypeError(
            f"{text!r}: a run name is also a folder name under .promptwise/runs/ ({RULE}); use letters, digits, "
            "'-', '_' and '.'")
    return text


def existing_folder(option: str, path: Path | str | None) -> None:
    """A `--workspace DIR` that does not exist is a mistake, not an empty workspace."""
    from promptwise.cli import UserError

    if path is not None and not Path(path).exists():
        raise UserError(f"{option} {path}: no such folder; pass a folder inside the workspace (the one holding "
                        "promptwise.yaml or .promptwise/)")


class RunTracker:
    """Follows the batch run that `eval` / `compare --variants` start, so that Ctrl-C can say
    which run holds the finished rows and how to go on from there."""

    def __init__(self, forward=None):
        self.name: str | None = None
        self.rows_left = True
        self._forward = forward

    def on_start(self, name: str) -> None:
        self.name = name
        self.rows_left = True

    def on_progress(self, progress) -> None:
        self.rows_left = progress.done < progress.total
        if self._forward is not None:
            self._forward(progress)

    def interrupted_message(self) -> str:
        if self.name is None:
            return "promptwise: interrupted before a run started; nothing was stored"
        if self.rows_left:
            return (f"promptwise: interrupted; the finished rows of run {self.name} are saved. Continue with: "
                    f"promptwise batch --resume {self.name}, then promptwise eval --run {self.name}")
        return (f"promptwise: interrupted while evaluating run {self.name} (its rows are all saved). "
                f"Evaluate it with: promptwise eval --run {self.name}")


def strict_json(value):
    """`value` with NaN and ±Infinity (which a tool may return) as null: json.dumps would write
    them as bare NaN/Infinity, which JSON parsers other than Python's reject."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def json_text(value, *, indent: int | None = None) -> str:
    """The JSON our `--format json` outputs print: strict (see strict_json), UTF-8 as is."""
    return json.dumps(strict_json(value), indent=indent, ensure_ascii=False, default=str)
