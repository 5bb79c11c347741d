"""Comparing evaluated runs: metrics side by side, deltas from the first, rows that changed verdict.

    comparison = compare(["triage_v1", "triage_v2"], workspace)
    comparison.to_json()   # for `promptwise compare --format json` and the editor

A name may be a run (its latest evaluation is used) or an evaluation (`RUN.evalN`). Rows
are matched by their line when the runs used the same data file; otherwise only the
aggregates are compared and the comparison says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from promptwise.config import WorkspaceConfig
from promptwise.evaluation.base import Score
from promptwise.evaluation.results_store import EvalStore, StoredEvaluation
from promptwise.evaluation.runner import EvaluationError, RowScores

SUMMARY_FIGURES = (
    ("latency_p50_ms", "latency p50 (ms)", False),
    ("latency_p95_ms", "latency p95 (ms)", False),
    ("cost_per_row", "flow cost per row ($)", False),
    ("eval_cost_per_row", "evaluation cost per row ($)", False),
    ("tokens_per_row", "tokens per row", False),
)
# The unit a figure is shown in: "$", "ms" or "" (a plain number).
SUMMARY_UNITS = {"latency_p50_ms": "ms", "latency_p95_ms": "ms", "cost_per_row": "$", "eval_cost_per_row": "$"}
EVALUATOR_UNITS = {"latency": "ms", "cost": "$"}  # of the `mean` of these evaluator types
RUN_FIGURE_TYPES = ("latency", "tokens", "cost")


@dataclass
class Column:
    """One evaluated run in the comparison."""

    label: str  # run name, with its variants
    run: str
    evaluation: str
    variants: dict
    data: str | None
    evaluation_record: StoredEvaluation
    rows: list[RowScores]
    run_cache_hits: int = 0  # the run's model calls served from the response cache (from the run store)


@dataclass
class MetricRow:
    metric: str  # `evaluator.mean`, `evaluator.pass_rate`, a summary figure
    evaluator: str | None
    figure: str
    higher_is_better: bool
    values: list[float | None]
    unit: str = ""  # "$", "ms" or ""

    @property
    def deltas(self) -> list[float | None]:
        base = self.values[0]
        return [None if base is None or v is None else v - base for v in self.values]

    def verdicts(self) -> list[str]:
        """better / worse / same per column, against the first; n/a where a value is missing
        (an evaluator one of the runs did not have)."""
        out = []
        for delta in self.deltas:
            if delta is None:
                out.append("n/a")
            elif abs(delta) < 1e-12:
                out.append("same")
            else:
                out.append("better" if (delta > 0) == self.higher_is_better else "worse")
        return out


@dataclass
class ChangedRow:
    line: int
    data_line: int | None
    evaluator: str
    verdicts: list[bool | None]  # per column
    values: list[float | None]
    reasons: list[str]


@dataclass
class Comparison:
    columns: list[Column]
    metrics: list[MetricRow]
    changed: list[ChangedRow]
    same_data: bool
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "runs": [{"label": c.label, "run": c.run, "evaluation": c.evaluation, "variants": c.variants,
                      "data": c.data} for c in self.columns],
            "metrics": [{"metric": m.metric, "evaluator": m.evaluator, "figure": m.figure, "unit": m.unit or None,
                         "higher_is_better": m.higher_is_better, "values": m.values, "deltas": m.deltas,
                         "verdicts": m.verdicts()} for m in self.metrics],
            "changed_rows": [{"line": c.line, "data_line": c.data_line, "evaluator": c.evaluator,
                              "passed": c.verdicts, "values": c.values, "reasons": c.reasons} for c in self.changed],
            "same_data": self.same_data,
            "notes": self.notes,
        }


def _run_info(workspace: WorkspaceConfig, run: str):
    from promptwise.store.run_store import RunStore

    with RunStore.for_workspace(workspace, readonly=True) as store:
        return store.get_run(run)


def unknown_name_message(store: EvalStore, name: str) -> str:
    """Why `name` cannot be compared, and what to do: evaluate it, or a near name."""
    import difflib

    runs, evaluated, evaluations = store.known_names()
    if name in runs:
        return (f"run `{name}` has no evaluation yet; evaluate it first with `promptwise eval --run {name}`, "
                f"then compare")
    candidates = list(dict.fromkeys([*evaluated, *evaluations, *runs]))
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(f'`{c}`' for c in close)}? " if close else ""
    if evaluated:
        shown = ", ".join(evaluated[:8]) + (f" (and {len(evaluated) - 8} more)" if len(evaluated) > 8 else "")
        known = f"evaluated runs: {shown}"
    elif runs:
        known = "no run has been evaluated yet; evaluate one with `promptwise eval --run RUN`"
    else:
        known = "there are no runs yet; create them with `promptwise eval FLOW --data FILE`"
    return f"no run or evaluation named `{name}`; {hint}{known}"


def load_column(store: EvalStore, workspace: WorkspaceConfig, name: str) -> Column:
    record = store.get(name) or store.latest_for_run(name)
    if record is None:
        raise EvaluationError(unknown_name_message(store, name))
    info = _run_info(workspace, record.run)
    variants = dict(info.variants or {}) if info else {}
    models = (info.parameters or {}).get("models") if info else None  # `eval --models`: node (or *) -> model
    shown = {**variants, **{("model" if node == "*" else f"{node}.model"): m for node, m in (models or {}).items()}}
    label = record.run + (" [" + ", ".join(f"{k}={v}" for k, v in shown.items()) + "]" if shown else "")
    return Column(label, record.run, record.name, variants, record.data, record, store.scores(record.name),
                  info.cache_hits if info else 0)


def compare(names: list[str], workspace: WorkspaceConfig) -> Comparison:
    if len(names) < 2:
        got = f"got only `{names[0]}`" if names else "got none"
        raise EvaluationError(f"compare needs at least two runs (or evaluations), {got}; "
                              f"name another evaluated run to compare it with")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise EvaluationError(f"{', '.join(f'`{n}`' for n in repeated)} is named more than once; name each run once")
    from promptwise.store.run_store import RunStore

    if not RunStore.exists_in(workspace.state_dir):
        raise EvaluationError(f"no runs in {workspace.state_dir}; compare from the workspace folder "
                              f"(or pass --workspace DIR)")
    with EvalStore.for_workspace(workspace, readonly=True) as store:
        problems, columns = [], []
        for name in names:
            try:
                columns.append(load_column(store, workspace, name))
            except EvaluationError as error:
                problems.append(str(error))
    if problems:
        raise EvaluationError("\n".join(problems))
    first_named: dict[str, str] = {}
    for name, column in zip(names, columns):
        earlier = first_named.setdefault(column.evaluation, name)
        if earlier != name:
            raise EvaluationError(f"`{earlier}` and `{name}` are the same evaluation ({column.evaluation}); "
                                  f"name each run once")
    return compare_columns(columns)


def compare_columns(columns: list[Column]) -> Comparison:
    evaluators: list[dict] = []
    seen = set()
    for column in columns:
        for evaluator in column.evaluation_record.evaluators:
            if evaluator["name"] not in seen:
                seen.add(evaluator["name"])
                evaluators.append(evaluator)
    metrics: list[MetricRow] = []
    for evaluator in evaluators:
        name = evaluator["name"]
        higher = evaluator.get("higher_is_better", True)
        figures = [("mean", higher)]
        if evaluator.get("threshold") is not None:
            figures.append(("pass_rate", True))
        extra = columns[0].evaluation_record.metrics.get(name, {})
        for key in ("accuracy", "macro_f1", "corpus_bleu"):
            if key in extra:
                figures.append((key, True))
        for figure, better_up in figures:
            values = [_number(c.evaluation_record.metrics.get(name, {}).get(figure)) for c in columns]
            unit = EVALUATOR_UNITS.get(evaluator.get("type"), "") if figure == "mean" else ""
            metrics.append(MetricRow(f"{name}.{figure}", name, figure, better_up, values, unit))
    for key, _, better_up in SUMMARY_FIGURES:
        values = [_number(c.evaluation_record.summary.get(key)) for c in columns]
        if any(v is not None for v in values):
            metrics.append(MetricRow(key, None, key, better_up, values, SUMMARY_UNITS.get(key, "")))
    data = {c.data for c in columns}
    same_data = len(data) == 1 and None not in data
    notes = [note for note in map(cache_note, columns) if note]
    counts = [len(c.rows) for c in columns]
    row_counts = ", ".join(f"{c.run}: {n}" for c, n in zip(columns, counts))
    # An evaluator some runs lack cannot change verdict between them: say so once, not per row.
    everywhere = []
    for evaluator in evaluators:
        has = [c.run for c in columns if any(e["name"] == evaluator["name"] for e in c.evaluation_record.evaluators)]
        if len(has) == len(columns):
            everywhere.append(evaluator["name"])
        else:
            notes.append(f"`{evaluator['name']}` was evaluated only in {', '.join(has)}; it shows – elsewhere and "
                         f"its rows are not compared")
    changed: list[ChangedRow] = []
    if same_data:
        if len(set(counts)) > 1:
            common = len(set.intersection(*({row.line for row in c.rows} for c in columns)))
            notes.append(f"the runs have different row counts ({row_counts}); rows are compared where every run "
                         f"has them ({common})")
        changed = _changed_rows(columns, everywhere)
    else:
        files = ", ".join(f"{c.run}: {Path(c.data).name if c.data else 'no data file'}" for c in columns)
        notes.append(f"the runs used different data files ({files}; rows {row_counts}); rows are not compared "
                     f"one by one, only the figures above")
    return Comparison(columns, metrics, changed, same_data, notes)


def cache_note(column: Column) -> str | None:
    """Which of a run's figures came from the response cache, and how they are counted."""
    summary = column.evaluation_record.summary
    if "cache_hits" not in summary:  # evaluated before cached calls were counted at their original cost
        if not column.run_cache_hits:
            return None
        return (f"`{column.run}`: {column.run_cache_hits} model calls came from the response cache and this "
                f"evaluation counts them as free and instant; evaluate it again (`promptwise eval --run "
                f"{column.run}`) to compare cost and latency as uncached")
    flow_hits, judge_hits = summary.get("cache_hits") or 0, summary.get("eval_cache_hits") or 0
    if not flow_hits and not judge_hits:
        return None
    parts = []
    if flow_hits:
        parts.append(f"{flow_hits} of {summary.get('llm_calls') or flow_hits} model calls")
    if judge_hits:
        parts.append(f"{judge_hits} judge call{'s' if judge_hits != 1 else ''}")
    return (f"`{column.run}`: {' and '.join(parts)} came from the response cache; cost and latency count them "
            f"as uncached (the original call's usage and latency)")


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _changed_rows(columns: list[Column], evaluator_names: list[str]) -> list[ChangedRow]:
    by_line = [{row.line: row for row in column.rows} for column in columns]
    lines = sorted(set.intersection(*(set(m) for m in by_line)))  # rows every run has
    changed = []
    for line in lines:
        for name in evaluator_names:
            scores: list[Score | None] = [m.get(line).scores.get(name) if m.get(line) else None for m in by_line]
            verdicts = [s.passed if s is not None and s.error is None else None for s in scores]
            if len({v for v in verdicts}) > 1:
                data_line = next((m[line].data_line for m in by_line if line in m and m[line].data_line), None)
                changed.append(ChangedRow(line, data_line, name, verdicts,
                                          [s.value if s is not None else None for s in scores],
                                          [(s.error or s.reason) if s is not None else "" for s in scores]))
    return changed


def variant_ids(flow: Path, node: str) -> list[str]:
    """The variants a flow defines for a node (for `compare --variants NODE`)."""
    import promptwise.documents  # noqa: F401
    from promptwise.documents import load_document
    from promptwise.engine.flow_path import resolve_flow_path

    document = load_document(resolve_flow_path(flow))
    node_variants = getattr(document, "node_variants", None) or {}
    if node not in node_variants:
        names = ", ".join(node_variants) or "none"
        raise EvaluationError(f"{flow}: node `{node}` has no variants (nodes with variants: {names})")
    variants = list(node_variants[node].variants)
    if len(variants) < 2:
        raise EvaluationError(f"{flow}: node `{node}` has only one variant ({', '.join(variants) or 'none'}); "
                              f"add another under node_variants to compare them")
    return variants
