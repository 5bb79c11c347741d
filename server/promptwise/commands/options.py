"""Option values that several commands read the same way."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def display_path(path: Path | str) -> str:
    """Relative to the current folder when inside it, else absolute: the same file always
    written the same way (never `../f/flow.dag.yaml` beside `/abs/f/chat.jinja2`)."""
    import os

    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return os.path.abspath(path) if relative.startswith("..") else relative


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`1 model call`, `3 model calls`, `0 rows`."""
    return f"{count:,} {noun if count == 1 else (plural_form or noun + 's')}"


def warn(message: str) -> None:
    """A warning found before any call (on_warning of a batch): on stderr, at once."""
    import sys

    print(f"promptwise: warning: {message}", file=sys.stderr, flush=True)


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


def non_negative_number(unit: str = ""):
    """argparse type: a finite number, 0 or more (`unit` names it in the error, e.g. "seconds").
    float() takes "nan" and "inf", which would compare false with everything or never end."""
    what = f"number of {unit}" if unit else "number"
    at_least = f"0 {unit}" if unit else "a number of 0"  # "must be 0 seconds or more"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {what}, got {text!r}") from None
        if not (math.isfinite(value) and value >= 0):
            raise argparse.ArgumentTypeError(f"must be {at_least} or more, got {text}")
        return value

    return parse


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


def workspace_or_error(path: Path | str):
    """The workspace at `path`, or a UserError carrying the configuration's own message (file,
    line, what to do) — the same answer from every command that reads promptwise.yaml."""
    from promptwise.cli import UserError  # promptwise.cli imports the command modules
    from promptwise.config import ConfigError, load_workspace

    try:
        return load_workspace(Path(path))
    except ConfigError as error:
        raise UserError(str(error)) from None


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


# Subtrees that may hold the user's own data (a flow's inputs and outputs, an aggregation node's
# metrics): never rounded.
USER_DATA_KEYS = frozenset({"inputs", "outputs", "output", "data", "details", "init", "metrics"})


def tidy_figure(key: str, value):
    """One of our figures without float noise (`342.59994400002824` ms, `0.014200000000000001` $):
    milliseconds to 0.1, seconds to 0.001, dollars and per-row figures to 6 significant digits.
    Any other value (timestamps, scores, not a float) is returned as is."""
    if not isinstance(value, float) or not math.isfinite(value):
        return value
    if key.endswith("_ms") or key == "latency":
        return round(value, 1)
    if key in ("elapsed", "seconds") or key.endswith("_seconds"):
        return round(value, 3)
    if "cost" in key or key.endswith("_per_row") or key in ("values", "deltas"):
        return float(f"{value:.6g}")
    return value  # timestamps, scores, anything else: as is


def tidy_figures(value, key: str = ""):
    """`value` with every float that is ours (not under USER_DATA_KEYS) passed through tidy_figure."""
    if isinstance(value, dict):
        return {k: item if k in USER_DATA_KEYS else tidy_figures(item, str(k)) for k, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [tidy_figures(item, key) for item in value]
    return tidy_figure(key, value)


def json_text(value, *, indent: int | None = None) -> str:
    """The JSON our `--format json` outputs print: strict (see strict_json), our figures without
    float noise (see tidy_figures), UTF-8 as is."""
    return json.dumps(strict_json(tidy_figures(value)), indent=indent, ensure_ascii=False, default=str)
