"""`promptwise estimate`: the cost of a batch before running it.

For every dataset row (or the sample inputs when no data is given) every llm node's prompt is
rendered as a run would render it and counted exactly; output is bounded by max_tokens
(or the model's maximum output) and, once runs exist, expected from the observed mean of
past runs (read through H4's run store). Per node and in total: rows, input tokens, output
tokens (bound and expected), cost (expected and upper bound), and the rows that come closest
to the context window. A malformed row is reported by file and line and skipped.

Rows become flow inputs exactly as in a batch run: the engine's own column mapping
(`promptwise.engine.data.map_row`, `--column-mapping` as for `promptwise batch`) and input
binding (`promptwise.engine.values.bind_inputs`: declared types, defaults, required inputs);
a row the run would reject is listed with its line and the engine's reason. A node whose
`activate` condition reads only flow inputs is priced only on the rows where it runs; one
whose condition depends on another node's output is priced on every row and marked as an
upper bound. A template that cannot be rendered is an error (template file:line), not a $0.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from promptwise.config import ConfigError, WorkspaceConfig, load_workspace
from promptwise.costing.calls import CallEstimate, PlannedCall, context_window_problem, did_you_mean, estimate_call
from promptwise.costing.catalog import Catalog, catalog_for
from promptwise.costing.dataset_rows import BadRow, DatasetError, Row, read_rows
from promptwise.costing.estimate import (
    observed_outputs, observed_outputs_by_model, prompty_call, prompty_missing_inputs, prompty_samples,
)
from promptwise.costing.flow_calls import (
    activate_condition, azure_connection_names, flow_input_values, llm_nodes, node_call, run_states,
)

CLOSEST_ROWS = 3
# OpenAI's reasoning guide ("Allocating space for reasoning") suggests reserving about this many
# tokens for reasoning and answer when starting out: a node's max_tokens well below it can leave a
# reasoning model no room to answer (the engine then fails the row, engine/llm.py).
REASONING_ROOM = 25_000
MAX_PYTHON_ERRORS = 20
_ENGINE_LINE_PREFIX = re.compile(r"^line \d+: ")


@dataclass
class ClosestRow:
    where: str  # "data.jsonl:7" or "sample inputs"
    input_tokens: int
    output_bound: int
    context_window: int

    @property
    def share(self) -> float:
        return (self.input_tokens + self.output_bound) / self.context_window

    def to_json(self) -> dict:
        return {"row": self.where, "inputTokens": self.input_tokens, "maxOutputTokens": self.output_bound,
                "contextWindow": self.context_window, "share": round(self.share, 4)}


@dataclass
class NodeTotals:
    node: str
    variant: str | None = None
    model: str | None = None  # as requested
    catalog_entry: str | None = None
    catalog_origin: str | None = None
    exact_tokenizer: bool = True
    rows: int = 0
    input_tokens: int = 0
    output_bound: int = 0
    input_cost: float = 0.0
    output_bound_cost: float = 0.0
    observed_output: float | None = None  # mean completion tokens per call in past runs
    # Set when the estimate prices a model the past runs did not use: the model they used. A
    # classifier's answer is about as long whatever the model, so those runs still tell.
    observed_with: str | None = None
    reasoning_limit: int | None = None  # the smallest max_tokens given to one of OpenAI's reasoning models
    output_price_per_token: float | None = None
    priced: bool = True
    max_input_tokens: int = 0
    failed: list[str] = field(default_factory=list)  # "data.jsonl:4: ask.jinja2:3: why"
    # template file:line and what is wrong -> rows it failed on (one entry per distinct error)
    render_errors: dict[str, int] = field(default_factory=dict)
    bypassed_rows: int = 0  # rows where the node's activate condition is known to be false
    conditional_rows: int = 0  # rows priced although the node may not run (condition unknown)
    condition: str | None = None  # when the node runs, where that could not be decided on some rows
    activate: str | None = None  # the node's own `activate` condition, readably
    output_bound_unknown: set[str] = field(default_factory=set)  # why max_tokens is unusable
    over_window: list[str] = field(default_factory=list)
    unknown_inputs: set[str] = field(default_factory=set)
    warnings: set[str] = field(default_factory=set)
    _closest: list = field(default_factory=list, repr=False)  # heap of (share, counter, ClosestRow)

    @property
    def expected_output(self) -> float | None:
        return self.observed_output * self.rows if self.observed_output is not None else None

    @property
    def cost_upper(self) -> float | None:
        return self.input_cost + self.output_bound_cost if self.priced else None

    @property
    def known_input_cost(self) -> float | None:
        return self.input_cost if self.priced else None

    @property
    def cost_expected(self) -> float | None:
        if not self.priced or self.expected_output is None or self.output_price_per_token is None:
            return None
        return self.input_cost + self.expected_output * self.output_price_per_token

    @property
    def closest(self) -> list[ClosestRow]:
        return [entry[2] for entry in sorted(self._closest, key=lambda e: (-e[0], -e[1]))]

    def add(self, where: str, estimate: CallEstimate) -> None:
        self.rows += 1
        if estimate.call.max_tokens_problem:
            self.output_bound_unknown.add(estimate.call.max_tokens_problem)
        self.input_tokens += estimate.input_tokens
        self.output_bound += estimate.output_bound
        self.max_input_tokens = max(self.max_input_tokens, estimate.input_tokens)
        self.warnings.update(estimate.warnings)
        if estimate.match is None:
            self.priced = False
            return
        model = estimate.match.model
        self.catalog_entry, self.catalog_origin = model.name, model.origin
        limit = estimate.call.max_tokens
        if limit is not None and model.family == "reasoning" and model.provider in ("openai", "azure_openai"):
            self.reasoning_limit = min(limit, self.reasoning_limit or limit)
        self.exact_tokenizer = model.exact_tokenizer
        self.output_price_per_token = model.output_per_1m / 1_000_000
        self.input_cost += estimate.cost(output_tokens=0)
        self.output_bound_cost += estimate.output_bound * self.output_price_per_token
        problem = context_window_problem(estimate)
        if problem:
            self.over_window.append(f"{where}: {problem}")
        row = ClosestRow(where, estimate.input_tokens, estimate.output_bound, model.context_window)
        entry = (row.share, -self.rows, row)
        if len(self._closest) < CLOSEST_ROWS:
            heapq.heappush(self._closest, entry)
        elif entry[:2] > self._closest[0][:2]:
            heapq.heapreplace(self._closest, entry)

    def to_json(self) -> dict:
        return {
            "node": self.node, "variant": self.variant, "model": self.model, "catalogEntry": self.catalog_entry,
            "catalogOrigin": self.catalog_origin, "exactTokenizer": self.exact_tokenizer, "rows": self.rows,
            "failedRows": self.failed, "renderErrors": [{"error": error, "rows": rows} for error, rows in
                                                        self.render_errors.items()],
            "bypassedRows": self.bypassed_rows,
            "upperBound": ({"condition": self.condition, "rows": self.conditional_rows}
                           if self.conditional_rows else None),
            "outputBoundKnown": not self.output_bound_unknown,
            "outputBoundUnknownBecause": sorted(self.output_bound_unknown),
            "inputTokens": self.input_tokens, "maxInputTokensPerRow": self.max_input_tokens,
            "outputTokens": {"upperBound": self.output_bound, "expected": self.expected_output,
                             "observedMeanPerCall": self.observed_output, "observedWithModel": self.observed_with},
            "cost": {"input": self.known_input_cost, "expected": self.cost_expected, "upperBound": self.cost_upper},
            "closestToContextWindow": [row.to_json() for row in self.closest],
            "overContextWindow": self.over_window,
            "unknownInputs": sorted(self.unknown_inputs), "warnings": sorted(self.warnings),
        }


@dataclass
class Preflight:
    target: Path
    data: Path | None
    catalog_date: str
    nodes: list[NodeTotals]
    rows: int = 0  # rows estimated (read, and accepted by the flow's inputs)
    skipped_rows: list[str] = field(default_factory=list)  # malformed rows: "file:line: why"
    failing_rows: list[str] = field(default_factory=list)  # rows a run would reject: "file:line: why"
    column_mapping: dict = field(default_factory=dict)
    ran_python: bool = False
    python_errors: list[str] = field(default_factory=list)  # "data.jsonl:3: node: why" (first few)

    def _sum(self, attribute: str) -> float | None:
        values = [getattr(node, attribute) for node in self.nodes]
        if any(value is None for value in values):
            return None
        return sum(values)

    @property
    def input_tokens(self) -> int:
        return sum(node.input_tokens for node in self.nodes)

    @property
    def observed_with(self) -> list[str]:
        """The other models whose runs the expected output was read from (see NodeTotals.observed_with)."""
        return list(dict.fromkeys(node.observed_with for node in self.nodes if node.observed_with))

    @property
    def output_bound(self) -> int:
        return sum(node.output_bound for node in self.nodes)

    @property
    def expected_output(self) -> float | None:
        return self._sum("expected_output")

    @property
    def cost_upper(self) -> float | None:
        return self._sum("cost_upper")

    @property
    def input_cost(self) -> float | None:
        """What the prompts cost, exactly (tokens counted, catalog prices): the known part of the bound."""
        return self._sum("known_input_cost")

    @property
    def cost_expected(self) -> float | None:
        return self._sum("cost_expected")

    def errors(self) -> list[str]:
        """What makes the estimate incomplete, so `promptwise estimate` exits non-zero: a
        template that cannot be rendered (file:line, what is wrong), or no row that can run."""
        found = []
        for node in self.nodes:
            for error, rows in node.render_errors.items():
                hint = ("; --run-python renders the outputs of python nodes that precede it"
                        if node.unknown_inputs and not self.ran_python and "syntax error" not in error else "")
                found.append(f"{error} (node {node.node}, {rows} of {rows + node.rows} rows; not priced){hint}")
        if self.data is not None and self.rows <= 0:
            found.append(f"{self.data}: no row can run ({len(self.skipped_rows)} malformed, "
                         f"{len(self.failing_rows)} rejected by the flow's inputs); fix the rows listed above")
        return found

    def to_json(self) -> dict:
        return {
            "target": str(self.target), "data": str(self.data) if self.data else None,
            "catalogDate": self.catalog_date, "rows": self.rows, "skippedRows": self.skipped_rows,
            "failingRows": self.failing_rows, "columnMapping": self.column_mapping, "errors": self.errors(),
            "ranPythonNodes": self.ran_python, "pythonNodeErrors": self.python_errors,
            "nodes": [node.to_json() for node in self.nodes],
            "total": {"inputTokens": self.input_tokens,
                      "outputTokens": {"upperBound": self.output_bound, "expected": self.expected_output},
                      "cost": {"input": self.input_cost, "expected": self.cost_expected,
                               "upperBound": self.cost_upper}},
        }


def _with_model(call: PlannedCall, model: str | None) -> PlannedCall:
    return replace(call, model=model, azure=False) if model else call


def run_preflight(document: Any, rows: Iterable[Row | BadRow] | None, *, workspace: WorkspaceConfig | None,
                  catalog: Catalog, data_path: Path | None = None, model: str | None = None,
                  variants: Mapping[str, str] | None = None, default_model: str | None = None,
                  run_python: bool = False, column_mapping: Mapping[str, Any] | None = None) -> Preflight:
    """Estimate `document` (a FlowDag or Prompty) over `rows` (None: its sample inputs).
    `run_python`: run the flow's python nodes that precede every model call (see
    `python_inputs`) so their outputs render into the prompts. `column_mapping`: as for a
    batch run (input -> `${data.COLUMN}` or a literal)."""
    kind = getattr(document, "kind", None)
    result = Preflight(Path(document.path), data_path, catalog.as_of, [], column_mapping=dict(column_mapping or {}))
    # Past runs tell the expected output: those of the model priced (runs of several models are
    # stored after `eval --models`), or else those of the model called most, said so.
    observed = observed_outputs(workspace, Path(document.path))
    observed_by = observed_outputs_by_model(workspace, Path(document.path))
    totals: dict[str, NodeTotals] = {}

    def node_totals(name: str, variant: str | None, requested: str | None) -> NodeTotals:
        if name not in totals:
            totals[name] = NodeTotals(name, variant, requested, observed_output=observed.get(name))
        return totals[name]

    if kind == "flow_dag":
        connections = workspace.settings.get("connections") if workspace is not None else None
        azure = azure_connection_names(connections if isinstance(connections, dict) else {})
        chosen = llm_nodes(document, variants)
        runner = None
        if run_python:
            from promptwise.costing.python_inputs import PythonNodeRunner

            runner = PythonNodeRunner.for_flow(document)
            result.ran_python = True
        for node, variant in chosen:  # keep the flow's node order in the report
            node_totals(node.name or f"nodes[{node.index}]", variant, None).activate = activate_condition(node)
    else:
        node_totals(Path(document.path).stem, None, None)  # the engine's node name for a prompty run

    for where, inputs in _inputs(document, rows, data_path, result):
        if kind == "flow_dag":
            node_outputs = None
            if runner is not None:
                node_outputs, errors = runner.outputs_for(inputs)
                if len(result.python_errors) < MAX_PYTHON_ERRORS:
                    result.python_errors += [f"{where}: {error}" for error in errors]
            node_state = run_states(document, inputs, node_outputs)
            for node, variant in chosen:
                node_summary = totals[node.name or f"nodes[{node.index}]"]
                runs = node_state(node)
                if runs is False:  # bypassed on this row, as the engine would
                    node_summary.bypassed_rows += 1
                    continue
                if runs is None:
                    node_summary.conditional_rows += 1
                    node_summary.condition = activate_condition(node) or "the nodes it reads from run"
                planned = node_call(document, node, inputs, azure_connections=azure, variant=variant,
                                    node_outputs=node_outputs)
                node_summary.unknown_inputs.update(planned.unknown_inputs)
                if planned.call is None:
                    error = f"{planned.error_where}: {planned.error}"
                    node_summary.failed.append(f"{where}: {error}")
                    node_summary.render_errors[error] = node_summary.render_errors.get(error, 0) + 1
                    continue
                call = _with_model(planned.call, model)
                node_summary.model = node_summary.model or call.model or default_model
                node_summary.add(where, estimate_call(call, catalog, default_model))
        else:
            call, error = prompty_call(document, inputs)
            node_summary = next(iter(totals.values()))
            node_summary.unknown_inputs.update(prompty_missing_inputs(document, inputs))
            if call is None:
                node_summary.failed.append(f"{where}: {error}")
                node_summary.render_errors[error] = node_summary.render_errors.get(error, 0) + 1
                continue
            call = _with_model(call, model)
            node_summary.model = node_summary.model or call.model or default_model
            node_summary.add(where, estimate_call(call, catalog, default_model))
    for name, node_summary in totals.items():
        priced = model or node_summary.model
        if observed_by.get(name) and priced:
            node_summary.observed_with, node_summary.observed_output = _runs_for(observed_by[name], priced, catalog)
        if node_summary.observed_with:
            node_summary.warnings.add(_observed_note(node_summary, model, catalog))
        if node_summary.reasoning_limit is not None and node_summary.reasoning_limit < REASONING_ROOM:
            node_summary.warnings.add(reasoning_room_note(node_summary))
    result.nodes = list(totals.values())
    return result


def _runs_for(observed: list[tuple[str, float]], priced: str, catalog: Catalog) -> tuple[str | None, float]:
    """(None, mean) from the runs of the model priced (a snapshot or deployment of it too), else
    (model, mean) of the model called most."""
    entry = catalog.lookup(priced)
    for used, mean in observed:
        match = catalog.lookup(used) if used != priced else None
        if used == priced or (entry is not None and match is not None and match.model.name == entry.model.name):
            return None, mean
    return observed[0]


def reasoning_room_note(node: NodeTotals) -> str:
    return (f"node {node.node}: max_tokens {node.reasoning_limit} also bounds {node.catalog_entry}'s reasoning "
            f"(sent as max_completion_tokens); a reply that spends it thinking has no text and its row fails. "
            f"OpenAI suggests leaving about {REASONING_ROOM:,} tokens for reasoning and answer; raise max_tokens "
            f"for this model, or set a lower reasoning_effort")


def _observed_note(node: NodeTotals, model: str | None, catalog: Catalog) -> str:
    model = model or node.model or "the model priced"
    note = (f"expected output: {node.observed_output:.0f} tokens per call observed in earlier runs with "
            f"{node.observed_with}, not {model} (an answer's length depends little on the model)")
    priced, used = catalog.lookup(model), catalog.lookup(node.observed_with)
    if priced is not None and priced.model.family == "reasoning" and (used is None or used.model.family != "reasoning"):
        note += (f"; {model} is a reasoning model: its reasoning tokens bill as output too, so expect more "
                 "(up to the upper bound)")
    return note


def _inputs(document: Any, rows: Iterable[Row | BadRow] | None, data_path: Path | None,
            result: Preflight):
    """(where, inputs) for each row a run would accept. Malformed rows and rows the run would
    reject (a mapped column missing, a required input without value, a value of the wrong
    type) are recorded in `result` and skipped."""
    if rows is None:
        result.rows = 1
        if getattr(document, "kind", None) == "flow_dag":
            yield "sample inputs", flow_input_values(document, None)
        else:
            yield "sample inputs", prompty_samples(document)
        return
    from promptwise.engine.data import map_row
    from promptwise.engine.errors import FlowError
    from promptwise.engine.values import bind_inputs

    declared = document.inputs
    input_names = list(declared)
    for row in rows:
        if isinstance(row, BadRow):
            result.skipped_rows.append(row.describe(data_path or Path("data")))
            continue
        where = row.where(data_path or Path("data"))
        # The engine's own steps for one batch line (promptwise.engine.batch `one_row`).
        try:
            given = map_row(row.line, row.values, result.column_mapping, input_names or list(row.values), None)
        except FlowError as error:
            result.failing_rows.append(f"{where}: {_ENGINE_LINE_PREFIX.sub('', str(error))}")
            continue
        try:
            # estimate reads values from --data only (it has no --inputs)
            inputs = bind_inputs(declared, given, where, ways_to_pass="a `{name}` column in the data, or "
                                 "--column-mapping {name}=${{data.COLUMN}}")
        except FlowError as error:
            message = str(error)  # a missing input names the row already; a wrong type does not
            result.failing_rows.append(message if message.startswith(where) else f"{where}: {message}")
            continue
        result.rows += 1
        yield where, inputs


class EstimateError(Exception):
    """A user mistake in an estimate request; the message names the file and what to do."""


def resolve_target(target: Path) -> Path:
    """The flow.dag.yaml or .prompty to estimate, from a file or a flow folder."""
    if target.is_dir():
        for name in ("flow.dag.yaml", "flow.dag.yml"):
            if (target / name).is_file():
                return target / name
        prompties = sorted(target.glob("*.prompty"))
        if len(prompties) == 1:
            return prompties[0]
        if prompties:
            raise EstimateError(f"{target}: {len(prompties)} .prompty files here "
                                f"({', '.join(p.name for p in prompties[:5])}{', ...' if len(prompties) > 5 else ''}) "
                                "and no flow.dag.yaml; pass the .prompty file to estimate")
        for name in ("flow.flex.yaml", "flow.flex.yml"):
            if (target / name).is_file():
                return target / name  # estimate_target says why a flex flow cannot be estimated
        raise EstimateError(f"{target}: no flow.dag.yaml here; pass a flow.dag.yaml or a .prompty file")
    if not target.exists():
        raise EstimateError(f"{target}: no such file; pass a flow.dag.yaml or a .prompty file")
    return target


def estimate_target(target: Path, *, data: Path | None = None, variants: Mapping[str, str] | None = None,
                    model: str | None = None, catalog_file: Path | None = None,
                    default_model: str | None = None, run_python: bool = False,
                    column_mapping: Mapping[str, Any] | list[str] | None = None) -> Preflight:
    """Everything `promptwise estimate` does, for any caller (the CLI, the editor's
    `promptwise.estimateCost` command): `estimate_target(...).to_json()` is the JSON output.
    Raises EstimateError for user mistakes (missing file, bad variant, unknown model, ...)."""
    from promptwise.documents.load import load_document

    path = resolve_target(Path(target)).resolve()
    document = load_document(path)
    kind = getattr(document, "kind", None)
    if kind == "unreadable":
        raise EstimateError(f"{path}: {document.problems[0].message}")
    if kind not in ("flow_dag", "prompty"):
        raise EstimateError(f"{path}: not a flow.dag.yaml or .prompty file; flex flows call models from Python "
                            "and cannot be estimated before a run")
    blocking = [p for p in document.problems if p.code in ("PW100", "PW101")]
    if blocking:
        raise EstimateError(f"{path}:{blocking[0].range.start.line + 1}: {blocking[0].message}")
    variants = dict(variants or {})
    for node, variant in variants.items():
        group = document.node_variants.get(node) if kind == "flow_dag" else None
        if group is None:
            raise EstimateError(f"--variant {node}={variant}: the flow has no variants for node {node!r}")
        if variant not in group.variants:
            raise EstimateError(f"--variant {node}={variant}: node {node!r} has variants "
                                f"{', '.join(group.variants)}; pick one of them")
    try:
        workspace = load_workspace(path)
        catalog = catalog_for(workspace, catalog_file)
    except ConfigError as error:
        raise EstimateError(str(error)) from None
    if model and catalog.lookup(model) is None:
        raise EstimateError(f"--model {model}: not in the model catalog (as of {catalog.as_of}); "
                            "run `promptwise models` for the names, or add it under `models:` in promptwise.yaml"
                            + did_you_mean(model, catalog))
    mapping = _column_mapping(column_mapping, data)
    declared = document.inputs if kind == "flow_dag" and isinstance(document.inputs, Mapping) else None
    for name, value in mapping.items():
        if declared is not None and name not in declared:
            # As `promptwise batch` does: a mapping to no input is a typo, not something to ignore.
            from promptwise.engine.data import did_you_mean as close_input

            raise EstimateError(f"--column-mapping {name}={value}: the flow has no input `{name}`"
                                f"{close_input(name, declared)} (inputs: {', '.join(f'`{n}`' for n in declared)})")
    if default_model is None:
        defaults = workspace.settings.get("defaults")
        default_model = defaults.get("model") if isinstance(defaults, dict) else None
    data_path = Path(data).resolve() if data else None
    try:
        rows = list(read_rows(data_path)) if data_path else None
    except DatasetError as error:
        raise EstimateError(str(error)) from None
    if rows is not None and not rows:
        raise EstimateError(f"0 rows in {data_path}: nothing to estimate; add rows (one JSON object per line "
                            "in .jsonl, objects in a .json array, or lines under a .csv header)")
    columns = list(dict.fromkeys(key for row in rows or () if isinstance(row, Row) for key in row.values))
    if declared and columns and not mapping and not any(column in declared for column in columns):
        # As `promptwise batch` refuses it: every row would run on the defaults alone.
        raise EstimateError(f"{data_path}: none of its columns ({', '.join(f'`{c}`' for c in columns)}) is an input "
                            f"of the flow ({', '.join(f'`{n}`' for n in declared)}), so every row would run on the "
                            "defaults; rename the columns, or map them with --column-mapping INPUT=${data.COLUMN}")
    return run_preflight(document, rows, workspace=workspace, catalog=catalog, data_path=data_path,
                         model=model, variants=variants, default_model=default_model,
                         run_python=run_python and kind == "flow_dag", column_mapping=mapping)


def _column_mapping(items: Mapping[str, Any] | list[str] | None, data: Path | None) -> dict:
    """A batch run's `--column-mapping`, parsed by the engine; only data columns and literals
    (an estimate has no earlier run to read `${run.outputs.x}` from)."""
    if not items:
        return {}
    from promptwise.engine.data import parse_mapping, uses_run
    from promptwise.engine.errors import FlowError

    try:
        mapping = parse_mapping(items)
    except FlowError as error:
        raise EstimateError(str(error)) from None
    if uses_run(mapping):
        names = ", ".join(f"{name}={value}" for name, value in mapping.items()
                          if isinstance(value, str) and value.startswith("${run."))
        raise EstimateError(f"--column-mapping {names}: an estimate reads only the data file, not an earlier run; "
                            "map the input to a data column (${data.COLUMN}) or a literal value")
    if data is None:
        raise EstimateError("--column-mapping maps data columns to inputs; pass the data file with --data FILE")
    return mapping
