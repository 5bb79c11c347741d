"""Estimating one LLM call: its input tokens, output bound, and cost, from the catalog.

A `PlannedCall` is a chat request as a run would send it (rendered messages, tools,
response_format, max_tokens, the model or deployment named). `estimate_call` counts it and
prices it; everything above (the editor's lenses, `promptwise estimate`) is built on it.
Formatting of figures for lenses, hovers and the CLI lives here too, so every face of
Promptwise shows the same numbers the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from promptwise.costing.catalog import FALLBACK_ENCODING, Catalog, ModelMatch
from promptwise.costing.counting import ChatCount, count_chat


@dataclass(frozen=True)
class PlannedCall:
    messages: list[dict[str, Any]]
    model: str | None  # model or deployment name as written in the flow/prompty
    max_tokens: int | None = None  # max_tokens or max_completion_tokens, if set
    tools: list[dict] | None = None
    response_format: Any = None
    azure: bool = False  # an Azure OpenAI connection: the name may be a deployment


@dataclass
class CallEstimate:
    requested_model: str | None
    match: ModelMatch | None
    encoding: str
    count: ChatCount
    output_bound: int
    output_bound_from: str  # "max_tokens" or "the model's max output" or "unknown model"
    warnings: list[str] = field(default_factory=list)

    @property
    def input_tokens(self) -> int:
        return self.count.total

    @property
    def priced(self) -> bool:
        return self.match is not None

    def cost(self, output_tokens: float | None = None, input_tokens: float | None = None) -> float | None:
        """US dollars for this call with `output_tokens` (default: the bound); None if unpriced."""
        if self.match is None:
            return None
        return self.match.model.cost(self.input_tokens if input_tokens is None else input_tokens,
                                     self.output_bound if output_tokens is None else output_tokens)

    @property
    def context_use(self) -> float | None:
        """(input + output bound) as a fraction of the model's context window."""
        if self.match is None:
            return None
        return (self.input_tokens + self.output_bound) / self.match.model.context_window


def estimate_call(call: PlannedCall, catalog: Catalog, default_model: str | None = None) -> CallEstimate:
    warnings: list[str] = []
    requested = call.model or default_model
    match = catalog.lookup(requested, azure=call.azure) if requested else None
    if match is None:
        encoding = FALLBACK_ENCODING
        if requested:
            warnings.append(
                f"model {requested!r} is not in the model catalog (as of {catalog.as_of}): counted with "
                f"{FALLBACK_ENCODING} and not priced; add it under `models:` in promptwise.yaml "
                "or use a name from `promptwise models`")
        else:
            warnings.append(f"no model is set: counted with {FALLBACK_ENCODING} and not priced; set `model` "
                            "on the node or `defaults.model` in promptwise.yaml")
    else:
        encoding = match.model.counting_encoding
        tokenizer_warning = match.model.tokenizer_warning()
        if tokenizer_warning:
            warnings.append(tokenizer_warning)
        if match.how.startswith("snapshot of"):
            warnings.append(f"{requested} is priced as its base model {match.model.name}; "
                            "add the snapshot under `models:` if its prices differ")
    count = count_chat(call.messages, encoding, tools=call.tools, response_format=call.response_format)
    if call.max_tokens is not None and call.max_tokens > 0:
        bound, bound_from = int(call.max_tokens), "max_tokens"
        if match is not None and bound > match.model.max_output:
            warnings.append(f"max_tokens {bound:,} is above {match.model.name}'s maximum output "
                            f"{match.model.max_output:,}; the API will refuse it")
    elif match is not None:
        bound, bound_from = match.model.max_output, f"{match.model.name}'s maximum output (no max_tokens set)"
    else:
        bound, bound_from = 0, "unknown (no max_tokens and no catalog entry)"
    return CallEstimate(requested, match, encoding, count, bound, bound_from, warnings)


def context_window_problem(estimate: CallEstimate) -> str | None:
    """Why this call cannot fit the model's context window, or None when it fits."""
    if estimate.match is None:
        return None
    model = estimate.match.model
    total = estimate.input_tokens + estimate.output_bound
    if model.max_input and estimate.input_tokens > model.max_input:
        return (f"the prompt is {estimate.input_tokens:,} tokens, above {model.name}'s input limit of "
                f"{model.max_input:,} ({model.origin}); shorten the prompt or use a model with a larger window")
    if total > model.context_window:
        return (f"the prompt ({estimate.input_tokens:,} tokens) plus max output ({estimate.output_bound:,}, "
                f"{estimate.output_bound_from}) is {total:,} tokens, above {model.name}'s context window of "
                f"{model.context_window:,} ({model.origin}); shorten the prompt or lower max_tokens")
    return None


# ---- formatting shared by lenses, hovers and the CLI ----

def format_tokens(count: float) -> str:
    return f"{round(count):,}"


def format_usd(amount: float | None) -> str:
    """Dollars readably: two decimals from $0.10 up, two significant digits below."""
    if amount is None:
        return "unpriced"
    if amount == 0:
        return "$0.00"
    if amount >= 0.1:
        return f"${amount:,.2f}"
    digits = max(2, 1 - math.floor(math.log10(amount)))
    return f"${amount:.{digits}f}"


def lens_text(input_tokens: float, output_bound: float, cost_per_call: float | None, approximate: bool = True) -> str:
    """`≈ 1,240 tokens in · ≤ 500 out · $0.0023 per call · $2.30 per 1k calls`."""
    parts = [f"{'≈' if approximate else ''} {format_tokens(input_tokens)} tokens in".strip(),
             f"≤ {format_tokens(output_bound)} out"]
    if cost_per_call is None:
        parts.append("not priced")
    else:
        parts += [f"{format_usd(cost_per_call)} per call", f"{format_usd(cost_per_call * 1000)} per 1k calls"]
    return " · ".join(parts)
