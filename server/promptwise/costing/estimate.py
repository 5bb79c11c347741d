"""Cost estimates for one open document: what the editor's lenses, hovers, status bar and
PW7xx problems show. Pure and cached: the same document text, template texts, settings and
catalog give the same `DocumentEstimate` object back without counting again.

`estimate_document(document, workspace)` takes H1's parsed document (FlowDag or Prompty;
other kinds give an empty estimate) and returns one `PromptEstimate` per llm node or
prompty, each with its source range, lens text, hover text (markdown breakdown) and the
catalog entry and date its figures came from, plus the flow's total and its problems:

- PW701 error: rendered prompt plus max output exceeds the model's context window;
- PW702 warning: the model or deployment is not in the catalog;
- PW703 warning: the model's tokenizer is not shipped, counts are approximate;
- PW704 warning: max_tokens is above the model's maximum output;
- PW706 error: max_tokens is not a number (warning: it comes from a value unknown before a
  run), so the output bound is unknown.

The context-window problem (PW701) is decided without a tokenizer when the UTF-8 byte bound of
the request (`counting.chat_token_bound`) plus max_tokens fits the window; only a close call
is counted exactly. Lenses and hovers count exactly, on first use (`CallEstimate.count`).

Prompts are rendered from sample inputs: flow input defaults (then the first row of a
`data.jsonl` beside the flow for inputs with no default), or a prompty's `sample`/input
samples and defaults. Values that only exist at run time (other nodes' outputs) render empty
and the hover says so: that count is a lower bound.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from promptwise.analysis.problem import Problem, Severity
from promptwise.config import ConfigError, WorkspaceConfig
from promptwise.costing.calls import (
    CallEstimate, PlannedCall, context_window_problem, estimate_call, format_tokens, format_usd, lens_text,
    did_you_mean, not_in_catalog,
)
from promptwise.costing.catalog import Catalog, catalog_for
from promptwise.costing.flow_calls import (
    NodeCall, UnknownValue, activate_condition, azure_connection_names, flow_input_values, is_llm_node, llm_nodes,
    max_tokens_setting, node_call, normalize_overlay, normalize_path, render_with_placeholders, run_states,
)
from promptwise.documents.render import RenderError, RoleSection
from promptwise.documents.source import Range

SAMPLE_DATA_FILES = ("data.jsonl",)


@dataclass
class PromptEstimate:
    """One llm node or prompty, estimated for its sample inputs."""

    path: Path  # the document the lens belongs to
    range: Range  # where the lens and hover go
    node: str | None  # llm node name; None for a .prompty
    template: Path | None
    estimate: CallEstimate | None  # None when the prompt could not be rendered
    error: str | None = None
    unknown_inputs: list[str] = field(default_factory=list)
    role_sections: list[RoleSection] = field(default_factory=list)  # the template's role lines
    observed_output: float | None = None  # mean completion tokens over stored runs
    model_range: Range | None = None  # where the model is named (for PW702)
    variant: str | None = None
    max_tokens_range: Range | None = None  # where max_tokens is set (for PW706)
    condition: str | None = None  # the node's `activate` condition: it may not run at all
    _sections: list | None = field(default=None, repr=False)

    @property
    def sections(self) -> list[tuple[str, int, int]]:
        """(role, template line, tokens) per role line; counts exactly on first use."""
        if self._sections is None:
            self._sections = _section_tokens(self.role_sections, self.estimate) if self.estimate else []
        return self._sections

    @property
    def cost_per_call(self) -> float | None:
        """Upper bound per call: input plus the output bound (max_tokens)."""
        return self.estimate.cost() if self.estimate is not None else None

    @property
    def expected_cost_per_call(self) -> float | None:
        if self.estimate is None or self.observed_output is None:
            return None
        return self.estimate.cost(output_tokens=self.observed_output)

    @property
    def catalog_entry(self) -> str | None:
        match = self.estimate.match if self.estimate else None
        return match.model.name if match else None

    @property
    def catalog_origin(self) -> str | None:
        match = self.estimate.match if self.estimate else None
        return match.model.origin if match else None

    @property
    def lens_text(self) -> str:
        if self.estimate is None:
            return f"cost: prompt not rendered ({self.error})" if self.error else "cost: no prompt"
        text = lens_text(self.estimate.input_tokens, self.estimate.output_bound, self.cost_per_call,
                         approximate=True)
        if not self.estimate.output_bound_known:
            text += " (output bound unknown)"
        if self.condition:
            text += f" (only when {self.condition})"
        return text + (" (lower bound)" if self.unknown_inputs else "")

    @property
    def hover_text(self) -> str:
        return _hover(self)

    def to_json(self) -> dict:
        estimate = self.estimate
        return {
            "node": self.node, "variant": self.variant, "path": str(self.path), "range": self.range.to_json(),
            "template": str(self.template) if self.template else None,
            "model": estimate.requested_model if estimate else None,
            "catalogEntry": self.catalog_entry, "catalogOrigin": self.catalog_origin,
            "inputTokens": estimate.input_tokens if estimate else None,
            "maxOutputTokens": estimate.output_bound if estimate else None,
            "observedOutputTokens": self.observed_output,
            "costPerCall": self.cost_per_call, "expectedCostPerCall": self.expected_cost_per_call,
            "exactTokenizer": bool(estimate and estimate.match and estimate.match.model.exact_tokenizer),
            "unknownInputs": self.unknown_inputs, "error": self.error, "activateCondition": self.condition,
            "outputBoundKnown": bool(estimate and estimate.output_bound_known),
            "warnings": estimate.warnings if estimate else [],
            "lens": self.lens_text,
        }


@dataclass
class DocumentEstimate:
    path: Path
    items: list[PromptEstimate]
    problems: list[Problem]
    catalog_date: str
    default_model: str | None = None
    range: Range = field(default_factory=lambda: Range.empty(0, 0))  # the flow-level lens

    @property
    def input_tokens(self) -> int:
        return sum(item.estimate.input_tokens for item in self.items if item.estimate)

    @property
    def max_output_tokens(self) -> int:
        return sum(item.estimate.output_bound for item in self.items if item.estimate)

    @property
    def cost_per_call(self) -> float | None:
        """Upper bound for one run of the whole document (every llm node once)."""
        costs = [item.cost_per_call for item in self.items]
        if not costs or any(cost is None for cost in costs):
            return None
        return sum(costs)

    @property
    def lens_text(self) -> str:
        """The flow lens: the sum over its llm nodes, per run and per 1k runs."""
        count = len(self.items)
        text = lens_text(self.input_tokens, self.max_output_tokens, self.cost_per_call)
        text = text.replace("per call", "per run").replace("per 1k calls", "per 1k runs")
        return f"{count} llm node{'s' if count != 1 else ''}: {text}"

    def totals(self) -> dict | None:
        """The `promptwise/documentTotals` answer for the status bar, or None with no prompts."""
        if not self.items:
            return None
        entries = sorted({item.catalog_entry for item in self.items if item.catalog_entry})
        models = sorted({item.estimate.requested_model for item in self.items
                         if item.estimate and item.estimate.requested_model})
        cost = self.cost_per_call
        return {
            "inputTokens": self.input_tokens, "maxOutputTokens": self.max_output_tokens,
            "costPerCall": cost, "costPer1k": cost * 1000 if cost is not None else None,
            "model": ", ".join(models) or None, "catalogEntry": ", ".join(entries) or None,
            "catalogDate": self.catalog_date,
            "text": (self.items[0].lens_text if len(self.items) == 1 else self.lens_text),
        }

    def count_all(self) -> "DocumentEstimate":
        """Make every exact count now (they are otherwise made on first use)."""
        for item in self.items:
            if item.estimate is not None:
                item.estimate.count  # noqa: B018 - the property counts and keeps the result
                item.sections  # noqa: B018
        return self

    def to_json(self) -> dict:
        return {"path": str(self.path), "catalogDate": self.catalog_date, "totals": self.totals(),
                "items": [item.to_json() for item in self.items],
                "problems": [problem.to_json() for problem in self.problems]}


# ---------------------------------------------------------------- hover text

def _hover(item: PromptEstimate) -> str:
    estimate = item.estimate
    title = f"**{item.node}**" if item.node else f"**{item.path.name}**"
    if estimate is None:
        return f"{title}: cost not estimated: {item.error}"
    count = estimate.count
    lines = [f"{title} · {format_tokens(estimate.input_tokens)} input tokens "
             f"({'exact' if estimate.match and estimate.match.model.exact_tokenizer else 'approximate'}, "
             f"{estimate.encoding})", ""]
    roles = count.by_role()
    last_user = _last_user_tokens(count)
    history = sum(tokens for role, tokens in roles.items() if role not in ("system",)) - last_user
    lines.append("| part | tokens |")
    lines.append("|---|---:|")
    lines.append(f"| system | {format_tokens(roles.get('system', 0))} |")
    lines.append(f"| user (last message) | {format_tokens(last_user)} |")
    if history:
        lines.append(f"| history (earlier messages) | {format_tokens(history)} |")
    if count.tools:
        lines.append(f"| tools | {format_tokens(count.tools)} |")
    if count.response_format:
        lines.append(f"| response_format schema | {format_tokens(count.response_format)} |")
    lines.append(f"| message framing | {format_tokens(count.overhead)} |")
    if item.sections:
        source = item.template.name if item.template else "template"
        lines += ["", f"Per template section ({source}):"]
        lines += [f"- line {line + 1} `{role}:` {format_tokens(tokens)} tokens" for role, line, tokens in item.sections]
    lines.append("")
    lines.append(f"Output: ≤ {format_tokens(estimate.output_bound)} tokens ({estimate.output_bound_from})"
                 + (f"; observed mean {format_tokens(item.observed_output)} in past runs"
                    if item.observed_output is not None else ""))
    if estimate.match is not None:
        model = estimate.match.model
        cost = item.cost_per_call
        lines.append(f"Cost: at most {format_usd(cost)} per call, {format_usd(cost * 1000)} per 1k calls"
                     + (f"; expected {format_usd(item.expected_cost_per_call)} per call"
                        if item.expected_cost_per_call is not None else ""))
        cached = (f", cached input ${model.cached_input_per_1m:g}" if model.cached_input_per_1m is not None else "")
        lines.append(f"Prices: {model.name} — input ${model.input_per_1m:g}{cached}, output ${model.output_per_1m:g} "
                     f"per 1M tokens; context window {model.context_window:,} ({model.origin})"
                     + (f"; matched as {estimate.match.how}" if estimate.match.how != "exact" else ""))
    if item.unknown_inputs:
        lines.append("Not known before a run (rendered as a placeholder: empty text, 0 where a number is "
                     "formatted; so input is a lower bound): " + ", ".join(item.unknown_inputs))
    if item.condition:
        lines.append(f"Upper bound: the node runs only when {item.condition}")
    for warning in estimate.warnings + [f"Note: {note}" for note in count.notes]:
        lines.append(f"⚠ {warning}" if not warning.startswith("Note:") else warning)
    return "\n".join(lines)


def _last_user_tokens(count) -> int:
    for message in reversed(count.messages):
        if message.role == "user":
            return message.content_tokens
    return 0


def _section_tokens(sections: list[RoleSection], estimate: CallEstimate) -> list[tuple[str, int, int]]:
    """Per role line of the template, when the rendered messages map one-to-one onto them
    (a template that generates role lines in a loop does not, and gets no per-section list)."""
    messages = estimate.count.messages
    if not sections or len(sections) != len(messages):
        return []
    if any(section.role != message.role for section, message in zip(sections, messages)):
        return []
    return [(section.role, section.line, message.content_tokens) for section, message in zip(sections, messages)]


# ---------------------------------------------------------------- problems

def _problems(item: PromptEstimate, catalog: Catalog) -> list[Problem]:
    estimate = item.estimate
    if estimate is None:
        return []
    problems = []
    where = item.model_range or item.range
    # a `${env:NAME}` model is named only at run time: nothing to look up in the catalog yet
    if estimate.match is None and estimate.requested_model and "${" not in estimate.requested_model:
        problems.append(Problem(item.path, where, Severity.WARNING, "PW702",
                                f"{not_in_catalog(estimate.requested_model, catalog)}, so its cost is unknown; "
                                "add it under `models:` (or `deployments:`) in promptwise.yaml, or use a name "
                                "`promptwise models` lists" + did_you_mean(estimate.requested_model, catalog)))
    problem = estimate.call.max_tokens_problem
    if problem and item.max_tokens_range is not None:
        unresolved = "has no value before a run" in problem
        problems.append(Problem(
            item.path, item.max_tokens_range, Severity.WARNING if unresolved else Severity.ERROR, "PW706",
            (f"{item.node}: " if item.node else "") + f"{problem}, so the output bound (and cost) is unknown; "
            + ("give the input a default number, or set max_tokens to a number" if unresolved
               else "set max_tokens to a whole number of tokens, e.g. `max_tokens: 500`")))
    too_big = context_window_problem(estimate)
    if too_big:
        problems.append(Problem(item.path, item.range, Severity.ERROR, "PW701",
                                (f"{item.node}: " if item.node else "") + too_big))
    if estimate.match is not None:
        model = estimate.match.model
        if not model.exact_tokenizer:
            problems.append(Problem(item.path, where, Severity.WARNING, "PW703",
                                    f"{model.tokenizer_warning()}; set `tokenizer:` for it in promptwise.yaml "
                                    "if it uses o200k_base or cl100k_base"))
        if estimate.output_bound_from == "max_tokens" and estimate.output_bound > model.max_output:
            problems.append(Problem(item.path, item.range, Severity.WARNING, "PW704",
                                    f"max_tokens {estimate.output_bound:,} is above {model.name}'s maximum output of "
                                    f"{model.max_output:,} ({model.origin}); lower it"))
    return problems


# ---------------------------------------------------------------- sample inputs

def first_data_row(folder: Path) -> dict | None:
    """The first JSON object of a data.jsonl beside the flow, used for inputs with no default."""
    for name in SAMPLE_DATA_FILES:
        path = folder / name
        try:
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        row = json.loads(line)
                        return row if isinstance(row, dict) else None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
    return None


# ---------------------------------------------------------------- observed output

# key -> ({node: mean completion tokens}, {node: [(model, mean completion tokens), most calls first]})
_observed_cache: dict[tuple, tuple[dict[str, float], dict[str, list[tuple[str, float]]]]] = {}


def observed_outputs(workspace: WorkspaceConfig | None, flow_path: Path) -> dict[str, float]:
    """Mean completion tokens per node over the workspace's stored runs of this flow
    ({} when there is no run store). Read through H4's RunStore, cached by database mtime."""
    return _observed(workspace, flow_path)[0]


def observed_outputs_by_model(workspace: WorkspaceConfig | None, flow_path: Path) -> dict[str, list[tuple[str, float]]]:
    """Per node, (model, mean completion tokens) for each model its stored runs called, the most
    called first: an estimate that prices one model reads that model's runs, or says whose."""
    return _observed(workspace, flow_path)[1]


def _observed(workspace: WorkspaceConfig | None, flow_path: Path):
    if workspace is None:
        return {}, {}
    from promptwise.store import DB_FILE

    database = workspace.state_dir / DB_FILE
    try:
        key = (str(database), database.stat().st_mtime_ns, str(flow_path))
    except OSError:
        return {}, {}  # no runs stored: the run store is not even imported
    if key not in _observed_cache:
        found: dict[str, float] = {}
        by_model: dict[str, list[tuple[str, float]]] = {}
        try:
            from promptwise.store.run_store import RunStore

            with RunStore(workspace.state_dir, readonly=True) as store:
                for flow_key in _flow_keys(flow_path):
                    for stats in store.node_stats(flow_key):
                        found.setdefault(stats.node, stats.avg_completion_tokens)
                    keyed: dict[str, list[tuple[str, float]]] = {}
                    for stats in store.node_stats(flow_key, by_model=True):
                        keyed.setdefault(stats.node, []).append((stats.model, stats.avg_completion_tokens))
                    for node, entries in keyed.items():
                        by_model.setdefault(node, entries)
        except Exception:  # a locked, older or damaged store must not break an estimate
            found, by_model = {}, {}
        if len(_observed_cache) > 32:
            _observed_cache.clear()
        _observed_cache[key] = (found, by_model)
    return _observed_cache[key]


def _flow_keys(flow_path: Path) -> list[str]:
    """The ways a run may have recorded its flow: the file, its resolved path, its folder."""
    keys = [str(flow_path), str(flow_path.resolve()), str(flow_path.parent), str(flow_path.resolve().parent)]
    return list(dict.fromkeys(keys))


# ---------------------------------------------------------------- the estimate

_cache_lock = threading.Lock()
# (document path, fingerprint) -> estimate. An estimate holds the rendered prompts, so a large
# prompt typed in the editor would keep one rendered copy per version: a few versions per
# document are kept (lenses, hover and the checker share them), and `forget_document` drops
# a closed document's.
_cache: "OrderedDict[tuple[str, bytes], DocumentEstimate]" = OrderedDict()
_CACHE_SIZE = 64
_VERSIONS_PER_DOCUMENT = 4


def _fingerprint(*parts: Any) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(repr(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.digest()


def estimate_document(document: Any, workspace: WorkspaceConfig | None = None, *,
                      catalog: Catalog | None = None, overlay: Mapping[Path, str] | None = None,
                      default_model: str | None = None, variants: Mapping[str, str] | None = None,
                      exact: bool = True) -> DocumentEstimate:
    """The cost estimate of one parsed document (see module docstring). Never raises for
    bad user input: problems become PW7xx entries or item errors.

    `exact=True` (lenses, hovers, totals) counts every prompt before returning, so callers
    that run this in an executor never count on their event loop. The checker passes False:
    its problems need a count only when the byte bound comes close to a context window."""
    result = _estimate_document(document, workspace, catalog=catalog, overlay=overlay,
                                default_model=default_model, variants=variants)
    if exact:
        result.count_all()
    return result


def _estimate_document(document: Any, workspace: WorkspaceConfig | None, *, catalog: Catalog | None,
                       overlay: Mapping[Path, str] | None, default_model: str | None,
                       variants: Mapping[str, str] | None) -> DocumentEstimate:
    kind = getattr(document, "kind", None)
    path = Path(getattr(document, "path", "."))
    if catalog is None:
        try:
            catalog = catalog_for(workspace)
        except ConfigError:
            catalog = catalog_for(None)  # the settings file's own problem is reported by `check`
    settings = workspace.settings if workspace is not None else {}
    defaults = settings.get("defaults") if isinstance(settings.get("defaults"), dict) else {}
    default_model = default_model or (str(defaults["model"]) if defaults.get("model") else None)
    if kind not in ("flow_dag", "prompty"):
        return DocumentEstimate(path, [], [], catalog.as_of, default_model)

    overlay = normalize_overlay(overlay)
    templates = _template_texts(document, overlay) if kind == "flow_dag" else ()
    key = (str(path), _fingerprint(kind, str(path), getattr(document, "text", ""), templates, catalog.key,
                                   catalog.as_of, json.dumps(settings, sort_keys=True, default=str), default_model,
                                   sorted((variants or {}).items()), _observed_key(workspace),
                                   _sample_files_key(document)))
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    if kind == "flow_dag":
        result = _estimate_flow(document, workspace, catalog, overlay, default_model, variants)
    else:
        result = _estimate_prompty(document, workspace, catalog, default_model)
    with _cache_lock:
        _cache[key] = result
        same_document = [other for other in _cache if other[0] == key[0]]
        for older in same_document[:-_VERSIONS_PER_DOCUMENT]:
            del _cache[older]
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def forget_document(path: Path | str) -> None:
    """Drop the estimates kept for a document (the editor closed it)."""
    with _cache_lock:
        for key in [key for key in _cache if key[0] == str(Path(path))]:
            del _cache[key]


def _sample_files_key(document: Any) -> tuple:
    """Versions of the files sample inputs come from (data.jsonl beside a flow, a prompty's
    `${file:...}` sample), so editing them refreshes the estimate."""
    folder = Path(document.path).parent
    names = list(SAMPLE_DATA_FILES)
    sample = getattr(document, "sample", None)
    if isinstance(sample, str) and sample.strip():
        names.append(sample.strip().removeprefix("${file:").removesuffix("}"))
    key = []
    for name in names:
        try:
            stat = (folder / name).stat()
            key.append((name, stat.st_mtime_ns, stat.st_size))
        except (OSError, ValueError):  # ValueError: a NUL in the sample's path
            key.append((name, None))
    return tuple(key)


def _observed_key(workspace: WorkspaceConfig | None) -> Any:
    if workspace is None:
        return None
    from promptwise.store import DB_FILE

    try:
        return (workspace.state_dir / DB_FILE).stat().st_mtime_ns
    except OSError:
        return None


def _template_texts(flow: Any, overlay: Mapping[Path, str] | None) -> tuple:
    texts = []
    for node in flow.all_nodes():
        template = node.source_file(flow.folder) if is_llm_node(node) else None
        if template is None:
            continue
        text = overlay.get(normalize_path(template)) if overlay else None
        if text is not None:
            texts.append((str(template), text))
            continue
        try:
            stat = template.stat()
            texts.append((str(template), stat.st_mtime_ns, stat.st_size))
        except OSError:
            texts.append((str(template), None))
    return tuple(texts)


def _estimate_flow(flow: Any, workspace: WorkspaceConfig | None, catalog: Catalog,
                   overlay: Mapping[Path, str] | None, default_model: str | None,
                   variants: Mapping[str, str] | None) -> DocumentEstimate:
    connections = workspace.settings.get("connections") if workspace is not None else None
    azure = azure_connection_names(connections if isinstance(connections, dict) else {})
    row = None
    if any(not flow_input.has_default for flow_input in flow.inputs.values()):
        row = first_data_row(flow.folder)
    inputs = flow_input_values(flow, row)
    observed = observed_outputs(workspace, flow.path)
    items: list[PromptEstimate] = []
    problems: list[Problem] = []
    node_state = run_states(flow, inputs)
    for node, variant in llm_nodes(flow, variants):
        planned: NodeCall = node_call(flow, node, inputs, azure_connections=azure, overlay=overlay, variant=variant)
        model_input = node.inputs.get("deployment_name") or node.inputs.get("model")
        # A variant's lens goes on the node that uses the variants, in `nodes:`.
        anchor = flow.node(planned.node) if variant is not None else None
        item = PromptEstimate(path=flow.path, range=(anchor or node).name_range, node=planned.node, template=planned.template,
                              estimate=None, error=planned.error, unknown_inputs=planned.unknown_inputs,
                              observed_output=observed.get(planned.node),
                              model_range=model_input.value_range if model_input is not None else None,
                              variant=variant, max_tokens_range=planned.max_tokens_range,
                              role_sections=planned.sections)
        if node_state(node) is not True:
            item.condition = activate_condition(node) or "the nodes it reads from run"
        if planned.call is not None:
            item.estimate = estimate_call(planned.call, catalog, default_model)
        items.append(item)
        problems += _problems(item, catalog)
    # The flow's lens sits on the first line of the file.
    return DocumentEstimate(flow.path, items, problems, catalog.as_of, default_model, range=Range.empty(0, 0))


def prompty_samples(prompty: Any) -> dict[str, Any]:
    """A prompty's sample values as a run takes them: per-input samples and defaults, then its
    `sample` (a mapping, or a JSON file named by `${file:...}`, read with the engine's loader)."""
    values = dict(prompty.sample_inputs())
    if isinstance(prompty.sample, str):
        try:
            from promptwise.engine.values import load_sample

            values.update(load_sample(Path(prompty.path).parent, prompty.sample, str(prompty.path)))
        except Exception:  # an unreadable sample file is the analysis' problem to report
            pass
    return values


def prompty_missing_inputs(prompty: Any, values: Mapping[str, Any]) -> list[str]:
    """Declared inputs `values` gives nothing for: they render empty, so counts are a lower bound."""
    return [f"{name} (no sample, default or data value)" for name in prompty.inputs if name not in values]


def prompty_call(prompty: Any, values: Mapping[str, Any]) -> tuple[PlannedCall | None, str | None]:
    """The chat request a .prompty makes for `values`, or (None, why it cannot be rendered)."""
    model = prompty.model
    if model.effective_api != "chat":
        return None, f"api {model.effective_api!r} is not a chat prompt; only chat prompts are estimated"
    values = dict(values)
    for name in prompty.inputs:
        values.setdefault(name, UnknownValue(name=name))  # listed by prompty_missing_inputs
    try:
        # Prompty's runtime treats text before the first role line as a system message.
        messages = render_with_placeholders(prompty.body, values, default_role="system")
    except RenderError as error:
        where = f"{prompty.path}:{error.line + prompty.body_line + 1}: " if error.line is not None else ""
        return None, where + error.message
    parameters = model.effective_parameters
    configuration_type = (model.configuration_type or model.provider or "").lower()
    max_tokens, max_tokens_problem = max_tokens_setting(parameters)
    tools = parameters.get("tools") or parameters.get("functions")
    return PlannedCall(
        messages=messages, model=model.model_name, max_tokens=max_tokens,
        tools=tools if isinstance(tools, list) else None,
        response_format=parameters.get("response_format"),
        azure=configuration_type in ("azure_openai", "azure"),
        max_tokens_problem=max_tokens_problem,
    ), None


def prompty_model_range(prompty: Any) -> Range | None:
    model = prompty.model
    if model.mapping is None:
        return prompty.front_matter_range
    return model.key_range("id") or model.key_range("configuration") or prompty.front_matter_range


def _estimate_prompty(prompty: Any, workspace: WorkspaceConfig | None, catalog: Catalog,
                      default_model: str | None) -> DocumentEstimate:
    lens_range = Range.empty(0, 0)  # the lens sits on the first line of the file
    item = PromptEstimate(path=prompty.path, range=lens_range, node=None, template=prompty.path, estimate=None,
                          model_range=prompty_model_range(prompty),
                          observed_output=observed_outputs(workspace, Path(prompty.path)).get(Path(prompty.path).stem))
    problems: list[Problem] = []
    samples = prompty_samples(prompty)
    item.unknown_inputs = prompty_missing_inputs(prompty, samples)
    call, item.error = prompty_call(prompty, samples)
    item.role_sections = prompty.role_sections
    if call is not None:
        item.estimate = estimate_call(call, catalog, default_model)
        # max_tokens of a prompty: PW506 (the prompty checks) already reports a literal of the
        # wrong type, so PW706 is not repeated there; the estimate still says the bound is unknown.
        problems += _problems(item, catalog)
    return DocumentEstimate(prompty.path, [item], problems, catalog.as_of, default_model, range=lens_range)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
    _observed_cache.clear()
