"""Results of commands, told to editors that have no results panel.

VS Code's extension shows a run's, batch's or evaluation's answer in its own panels. Any other
editor (Neovim, Helix, Emacs) runs a lens's command through `workspace/executeCommand` and
drops the answer, so the server also says the outcome with `window/showMessage`: what ran, its
status, the figures that matter, and the path of the file holding the results.

The extension turns this off with the initialization option `resultMessages: false` (its
panels already say it); every other client gets the messages.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types

from promptwise.lsp.server import PromptwiseServer

logger = logging.getLogger("promptwise.lsp.announce")

OPTION = "resultMessages"
_ENABLED = "result_messages"
MAX_VALUE_CHARS = 160


def configure(ls: PromptwiseServer, options: Any) -> None:
    """Read `resultMessages` from the initialization options (default: on)."""
    value = options.get(OPTION) if isinstance(options, dict) else None
    ls.extensions[_ENABLED] = value is not False


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _cost(value: Any) -> str | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return f"${value:.2g}" if 0 < value < 0.01 else f"${value:,.4f}".rstrip("0").rstrip(".")


def _tokens(value: Any) -> str | None:
    total = value.get("total") if isinstance(value, dict) else value
    return f"{total:,} tokens" if isinstance(total, int) and not isinstance(total, bool) else None


def _headline(metric: Any) -> str:
    """One figure for a metric: its pass rate, else its mean, else the value itself."""
    if isinstance(metric, dict):
        for key in ("pass_rate", "mean", "value", "score"):
            value = metric.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return f"{value:.3g}"
        return _short(metric)
    return f"{metric:.3g}" if isinstance(metric, float) else _short(metric)


def _metrics(metrics: Any) -> str | None:
    if not isinstance(metrics, dict) or not metrics:
        return None
    shown = [f"{name} {_headline(value)}" for name, value in list(metrics.items())[:8]]
    more = f" (+{len(metrics) - 8} more)" if len(metrics) > 8 else ""
    return "metrics: " + ", ".join(shown) + more


def results_file(flow: Path, result: dict) -> Path | None:
    """The file holding the results: a batch's outputs, or the run folder's outputs.jsonl."""
    written = result.get("outputs_path")
    if isinstance(written, str) and written and Path(written).is_file():
        return Path(written)
    run = result.get("run")
    if not isinstance(run, str) or not run:
        return None
    try:
        from promptwise.config import load_workspace
        from promptwise.store.run_store import RUNS_DIR

        candidate = load_workspace(flow).state_dir / RUNS_DIR / run / "outputs.jsonl"
    except Exception:  # broken settings: the run's own answer says so
        return None
    return candidate if candidate.is_file() else None


def describe(kind: str, flow: Path, result: dict, results: Path | None) -> tuple[types.MessageType, str]:
    """The message for a finished command: (type, text)."""
    label = {"run": "Run", "batch": "Batch", "evaluate": "Evaluation"}.get(kind, kind)
    status = str(result.get("status") or "completed")
    run = result.get("run")
    head = f"Promptwise: {label} of {flow.name}" + (f" ({run})" if run else "") + f" {status}"
    if result.get("error") or status in ("error", "failed"):
        error = result.get("error") or "see the Promptwise log"
        return types.MessageType.Error, f"{head}: {_short(error)}"
    parts = []
    if kind == "run" and "outputs" in result:
        parts.append("outputs: " + _short(result.get("outputs")))
    if kind == "batch" and isinstance(result.get("rows"), int):
        parts.append(f"{result.get('completed', 0)}/{result['rows']} rows" + (f", {result['failed']} failed" if result.get("failed") else ""))
    parts += [p for p in (_metrics(result.get("metrics")), _tokens(result.get("tokens")), _cost(result.get("cost"))) if p]
    latency = result.get("latency_ms")
    if isinstance(latency, (int, float)) and not isinstance(latency, bool):
        parts.append(f"{latency:,.0f} ms")
    if results is not None:
        parts.append(f"results: {results}")
    if isinstance(run, str) and run:
        parts.append(f"again: promptwise runs show {run}")
    kind_of_message = types.MessageType.Warning if status == "canceled" or result.get("failed") else types.MessageType.Info
    return kind_of_message, head + (" · " + " · ".join(parts) if parts else "")


def describe_estimate(flow: Path, estimate: dict) -> tuple[types.MessageType, str]:
    if estimate.get("status") == "error":
        return types.MessageType.Error, f"Promptwise: estimate of {flow.name} failed: {_short(estimate.get('error'))}"
    total = estimate.get("total") if isinstance(estimate.get("total"), dict) else {}
    parts = []
    if isinstance(total.get("inputTokens"), int):
        parts.append(f"{total['inputTokens']:,} tokens in")
    output = total.get("outputTokens") if isinstance(total.get("outputTokens"), dict) else {}
    if isinstance(output.get("upperBound"), int):
        parts.append(f"≤ {output['upperBound']:,} out")
    cost = total.get("cost") if isinstance(total.get("cost"), dict) else {}
    for key, sign in (("expected", "≈"), ("upperBound", "≤")):
        shown = _cost(cost.get(key))
        if shown:
            parts.append(f"{sign} {shown}")
    rows = estimate.get("rows")
    over = f" over {rows:,} rows" if isinstance(rows, int) and rows > 1 else ""
    return types.MessageType.Info, f"Promptwise: estimate of {flow.name}{over}: " + (" · ".join(parts) or "no model calls")


def enabled(ls: PromptwiseServer) -> bool:
    return ls.extensions.get(_ENABLED, True) is not False


def show(ls: PromptwiseServer, message: tuple[types.MessageType, str]) -> None:
    if not enabled(ls):
        return
    kind, text = message
    try:
        ls.window_show_message(types.ShowMessageParams(type=kind, message=text))
    except Exception:  # the answer still goes back; a message that cannot be sent is logged
        logger.exception("cannot show the result message")


async def announce_job(ls: PromptwiseServer, kind: str, flow: Path, result: dict) -> None:
    if not enabled(ls):
        return
    results = await ls.run_cpu(results_file, flow, result)
    show(ls, describe(kind, flow, result, results))
