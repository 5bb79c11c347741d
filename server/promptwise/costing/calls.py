"""Estimating one LLM call: its input tokens, output bound, and cost, from the catalog.

A `PlannedCall` is a chat request as a run would send it (rendered messages, tools,
response_format, max_tokens, the model or deployment named). `estimate_call` counts it and
prices it; everything above (the editor's lenses, `promptwise estimate`) is built on it.
Formatting of figures for lenses, hovers and the CLI lives here too, so every face of
Promptwise shows the same numbers the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptwise.costing.catalog import FALLBACK_ENCODING, Catalog, ModelMatch
from promptwise.costing.counting import ChatCount, chat_token_bound, count_chat
# Re-exported: callers that already import the catalog use them from here.
from promptwise.costing.formatting import format_ms, format_tokens, format_usd  # noqa: F401


@dataclass(frozen=True)
class PlannedCall:
    messages: list[dict[str, Any]]
    model: str | None  # model or deployment name as written in the flow/prompty
    max_tokens: int | None = None  # max_tokens or max_completion_tokens, if set
    tools: list[dict] | None = None
    response_format: Any = None
    azure: bool = False  # an Azure OpenAI connection: the name may be a deployment
    # Set when max_tokens is given but is not a positive whole number (or has no value before
    # a run): why, e.g. "max_tokens 'lots' is not a number". The output bound is then unknown.
    max_tokens_problem: str | None = None


@dataclass
class CallEstimate:
    requested_model: str | None
    match: ModelMatch | None
    encoding: str
    call: PlannedCall
    output_bound: int
    output_bound_from: str  # "max_tokens" or "the model's max output" or "unknown model"
    warnings: list[str] = field(default_factory=list)
    output_bound_known: bool = True  # False: max_tokens is not a number; the bound is a stand-in
    _count: ChatCount | None = field(default=None, repr=False)

    @property
    def count(self) -> ChatCount:
        """The exact count, made on first use: the checker often decides without it (see
        `input_upper_bound`), and loading a tokenizer costs ~0.4 s."""
        if self._count is None:
            call = self.call
            self._count = count_chat(call.messages, self.encoding, tools=call.tools,
                                     response_format=call.response_format)
        return self._count

    @property
    def counted(self) -> bool:
        return self._count is not None

    def input_upper_bound(self) -> int:
        """Input tokens at most, without a tokenizer (the exact count once it is made)."""
        if self._count is not None:
            return self._count.total
        call = self.call
        return chat_token_bound(call.messages, self.encoding, tools=call.tools, response_format=call.response_format)

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


def not_in_catalog(name: str, catalog: Catalog) -> str:
    """`model or deployment 'gpt-4o-mimi' is not in the model catalog (as of ...)`"""
    return f"model or deployment {name!r} is not in the model catalog (as of {catalog.as_of})"


def did_you_mean(name: str, catalog: Catalog) -> str:
    """`; did you mean gpt-4o-mini or gpt-4.1-mini?` (catalog models and deployments close to
    `name`), or '' when none is close."""
    suggestions = catalog.suggest(name)
    return f"; did you mean {' or '.join(suggestions)}?" if suggestions else ""


def estimate_call(call: PlannedCall, catalog: Catalog, default_model: str | None = None) -> CallEstimate:
    """The call's model entry, output bound and warnings. Input tokens are counted on first use
    of `.count`/`.input_tokens` (exactly), or bounded by `.input_upper_bound()` without a tokenizer."""
    warnings: list[str] = []
    requested = call.model or default_model
    match = catalog.lookup(requested, azure=call.azure) if requested else None
    if match is None:
        encoding = FALLBACK_ENCODING
        if requested:
            warnings.append(
                f"{not_in_catalog(requested, catalog)}: counted with {FALLBACK_ENCODING} and not priced; "
                "add it under `models:` in promptwise.yaml or use a name from `promptwise models`"
                + did_you_mean(requested, catalog))
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
    known = call.max_tokens_problem is None
    if call.max_tokens is not None and call.max_tokens > 0:
        bound, bound_from = int(call.max_tokens), "max_tokens"
        if match is not None and bound > match.model.max_output:
            warnings.append(f"max_tokens {bound:,} is above {match.model.name}'s maximum output "
                            f"{match.model.max_output:,}; the API will refuse it")
    elif not known:
        # Not a number: the output bound is unknown. The model's own cap still bounds it.
        if match is not None:
            bound = match.model.max_output
            bound_from = (f"unknown: {call.max_tokens_problem}; {match.model.name}'s maximum output "
                          f"{bound:,} stands in")
        else:
            bound, bound_from = 0, f"unknown: {call.max_tokens_problem}, and the model is not in the catalog"
    elif match is not None:
        bound, bound_from = match.model.max_output, f"{match.model.name}'s maximum output (no max_tokens set)"
    else:
        bound, bound_from = 0, "unknown (no max_tokens and no catalog entry)"
    return CallEstimate(requested, match, encoding, call, bound, bound_from, warnings, output_bound_known=known)


def context_window_problem(estimate: CallEstimate) -> str | None:
    """Why this call cannot fit the model's context window, or None when it fits.

    Decided first from the byte bound (no tokenizer): when even that fits, the exact count
    cannot exceed the window. Only a close call is counted exactly."""
    if estimate.match is None:
        return None
    model = estimate.match.model
    # Only a max_tokens the request sets is reserved: without one the API lets the answer use
    # what the prompt leaves of the window (Prompt flow sends no max_tokens then), so the
    # model's own output cap must not be added to the prompt here.
    reserved = estimate.output_bound if estimate.call.max_tokens is not None and estimate.call.max_tokens > 0 else 0
    if not estimate.counted:
        bound = estimate.input_upper_bound()
        if bound + reserved <= model.context_window and bound <= model.input_limit:
            return None
    total = estimate.input_tokens + reserved
    if not reserved and total > model.context_window:
        return (f"the prompt is {estimate.input_tokens:,} tokens, above {model.name}'s context window of "
                f"{model.context_window:,} ({model.origin}); shorten the prompt or use a model with a larger window")
    if model.max_input and estimate.input_tokens > model.max_input:
        return (f"the prompt is {estimate.input_tokens:,} tokens, above {model.name}'s input limit of "
                f"{model.max_input:,} ({model.origin}); shorten the prompt or use a model with a larger window")
    if total > model.context_window:
        return (f"the prompt ({estimate.input_tokens:,} tokens) plus max output ({estimate.output_bound:,}, "
                f"{estimate.output_bound_from}) is {total:,} tokens, above {model.name}'s context window of "
                f"{model.context_window:,} ({model.origin}); shorten the prompt or lower max_tokens")
    return None


def lens_text(input_tokens: float, output_bound: float, cost_per_call: float | None, approximate: bool = True) -> str:
    """`≈ 1,240 tokens in · ≤ 500 out · $0.0023 per call · $2.30 per 1k calls`."""
    parts = [f"{'≈' if approximate else ''} {format_tokens(input_tokens)} tokens in".strip(),
             f"≤ {format_tokens(output_bound)} out"]
    if cost_per_call is None:
        parts.append("not priced")
    else:
        parts += [f"{format_usd(cost_per_call)} per call", f"{format_usd(cost_per_call * 1000)} per 1k calls"]
    return " · ".join(parts)
