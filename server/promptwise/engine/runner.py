"""Load any flow kind and run one row of it: `run_flow`, the entry point for `promptwise run`
and the editor's "Run" lens.

    result = await run_flow("flows/chat/flow.dag.yaml", {"question": "hi"}, {"summarize": "variant_1"})
    result.as_dict()  # {run, status, outputs, tokens, cost, latency_ms, error?}
"""

from __future__ import annotations

import asyncio
import secrets as random_names
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator

from promptwise.config import ConfigError, WorkspaceConfig, load_workspace
from promptwise.documents.load import FLEX_FLOW_NAMES, FLOW_DAG_NAMES, load_document
from promptwise.engine import spans
from promptwise.engine.cache import ResponseCache
from promptwise.engine.connections import ConnectionConfigError, ConnectionResolver
from promptwise.engine.errors import FlowError
from promptwise.engine.executable import Executable, LineOutcome, RunContext
from promptwise.engine.flow_path import resolve_flow_path
from promptwise.engine.flow_environment import (
    environment_variables,
    resolve_environment_variables,
    resolve_includes,
    user_output_to_stderr,
)
from promptwise.engine.llm import LlmService
from promptwise.engine.providers import RetryPolicy
from promptwise.engine.secrets import redact, redact_value, refuse_literal_secrets
from promptwise.store.run_store import RowResult, RunStore, owner_parameters


def load_executable(path: Path, llm: LlmService, variants: dict[str, str] | None = None,
                    init: dict | None = None, stack: ExitStack | None = None,
                    models: dict[str, str] | None = None) -> Executable:
    """Read the flow with the shared document model and prepare it to run (or raise FlowError).

    The flow's `environment_variables` are set (until `stack` closes; they stay set when no
    stack is given) before its code is imported, and its `additional_includes` are resolved."""
    from promptwise.engine.dag import DagExecutable
    from promptwise.engine.flex import FlexExecutable
    from promptwise.engine.prompty import PromptyExecutable

    document = load_document(path)
    kind = getattr(document, "kind", None)
    if kind == "unreadable":
        problem = document.problems[0]
        raise FlowError(f"{path}: {problem.message}")
    problems = [p for p in getattr(document, "problems", [])
                if p.code in ("PW101", "PW104", "PW105") and p.severity.value == "error"]
    if problems:
        problem = problems[0]
        raise FlowError(f"{path}:{problem.range.start.line + 1}: {problem.message}")
    if kind in ("flow_dag", "flex_flow", "prompty"):
        refuse_literal_secrets(document, path)
    if variants and kind != "flow_dag":
        raise FlowError(f"{path}: --variant applies to flow.dag.yaml node variants only")
    if models and kind not in ("flow_dag", "prompty"):
        raise FlowError(f"{path}: --models applies to flow.dag.yaml llm nodes and .prompty files (a flex flow "
                        "chooses its models in its own code)")
    if models and kind == "prompty" and set(models) != {"*"}:
        raise FlowError(f"{path}: --node applies to flow.dag.yaml llm nodes; a .prompty has one model")
    if kind in ("flow_dag", "flex_flow"):
        values = resolve_environment_variables(document.environment_variables, str(path), llm.resolver)
        if values:
            scope = environment_variables(values)
            stack.enter_context(scope) if stack is not None else scope.__enter__()
        includes = resolve_includes(document.additional_includes, path.parent, path)
        if kind == "flow_dag":
            return DagExecutable(document, variants, llm, includes, models)
        return FlexExecutable(document, init, includes)
    if kind == "prompty":
        return PromptyExecutable(document, llm, model_name=(models or {}).get("*"))
    raise FlowError(f"{path}: not a flow; run a flow.dag.yaml, flow.flex.yaml or .prompty file")


def new_run_name(name: str | None, flow_path: Path) -> str:
    """The name for a new run: `name` when given (FlowError if it could not be a folder under
    .promptwise/runs/), else one generated from the flow."""
    from promptwise.run_names import RULE, is_safe_run_name

    if name is None or name == "":
        return generate_run_name(flow_path)
    if not is_safe_run_name(name):
        raise FlowError(f"run name {name!r}: a run's name is also a folder under .promptwise/runs/ ({RULE}); "
                        f"choose another --name")
    return name


def generate_run_name(flow_path: Path) -> str:
    base = flow_path.parent.name if flow_path.name.lower() in (*FLOW_DAG_NAMES, *FLEX_FLOW_NAMES) else flow_path.stem
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in base) or "run"
    return f"{safe}_{datetime.now().strftime('%Y%m%d_%H%M%S')}_{random_names.token_hex(2)}"


@dataclass
class Session:
    """A prepared run: the workspace, the flow ready to execute, the services and the store."""

    workspace: WorkspaceConfig
    flow_path: Path
    executable: Executable
    context: RunContext
    store: RunStore


@asynccontextmanager
async def open_session(
    path: Path | str,
    *,
    variants: dict[str, str] | None = None,
    init: dict | None = None,
    use_cache: bool = True,
    concurrency: int = 16,
    retry: RetryPolicy | None = None,
    workspace: WorkspaceConfig | None = None,
    environ: dict | None = None,
    models: dict[str, str] | None = None,
) -> AsyncIterator[Session]:
    """Everything a run needs, checked before any row runs; closed (clients, threads) on exit.

    While the session is open, stdout is stderr (user code may print) and the flow's
    environment variables are set."""
    with ExitStack() as stack:
        stack.enter_context(user_output_to_stderr())
        async with _open_session(path, stack, variants=variants, init=init, use_cache=use_cache,
                                 concurrency=concurrency, retry=retry, workspace=workspace,
                                 environ=environ, models=models) as session:
            yield session


@asynccontextmanager
async def _open_session(path: Path | str, stack: ExitStack, *, variants, init, use_cache, concurrency, retry,
                        workspace, environ, models=None) -> AsyncIterator[Session]:
    flow_path = resolve_flow_path(path)
    try:
        workspace = workspace or load_workspace(flow_path)
        resolver = ConnectionResolver(workspace.settings, str(workspace.source or workspace.root / "promptwise.yaml"),
                                      environ)
    except (ConfigError, ConnectionConfigError) as error:
        raise FlowError(str(error)) from None
    catalog = None
    try:
        from promptwise.costing.catalog import catalog_for

        catalog = catalog_for(workspace)
    except ConfigError as error:
        raise FlowError(str(error)) from None
    except ImportError:  # costing not available: runs still work, without prices
        catalog = None
    defaults = workspace.settings.get("defaults") or {}
    default_model = defaults.get("model") if isinstance(defaults, dict) else None
    cache = ResponseCache(workspace.state_dir) if use_cache else None
    llm = LlmService(resolver, cache=cache, catalog=catalog, default_model=default_model, retry=retry,
                     concurrency=concurrency)
    executor = ThreadPoolExecutor(max_workers=max(4, min(64, concurrency)), thread_name_prefix="promptwise-tool")
    store = RunStore.for_workspace(workspace)
    try:
        executable = load_executable(flow_path, llm, variants, init, stack, models)
        context = RunContext(llm, executor, workspace)
        prepare = getattr(executable, "prepare", None)
        if prepare is not None:
            prepare(context)
        yield Session(workspace, flow_path, executable, context, store)
    finally:
        await llm.aclose()
        executor.shutdown(wait=False, cancel_futures=True)
        if cache is not None:
            cache.close()
        store.close()


@dataclass
class FlowRunResult:
    run: str
    status: str
    outputs: dict | None
    error: str | None
    tokens: dict = field(default_factory=dict)
    cost: float | None = None
    latency_ms: float = 0.0
    nodes: list = field(default_factory=list)
    metrics: dict | None = None

    def __post_init__(self) -> None:
        # What is printed is what is stored: an endpoint that echoes a key (in any encoding)
        # must not put it on the terminal or in a CI log either.
        self.outputs, self.metrics = redact_value(self.outputs), redact_value(self.metrics)
        self.error = redact(self.error) if self.error else self.error

    def as_dict(self) -> dict:
        data = {"run": self.run, "status": self.status, "outputs": self.outputs, "tokens": self.tokens,
                "cost": self.cost, "latency_ms": round(self.latency_ms, 1),
                "nodes": [redact_value(n.as_dict()) for n in self.nodes]}
        if self.metrics:
            data["metrics"] = self.metrics
        if self.error:
            data["error"] = self.error
        return data


def row_result(line: int, inputs: dict, outcome: LineOutcome) -> RowResult:
    return RowResult(line, outcome.status, inputs, outcome.outputs, outcome.error, outcome.nodes, outcome.latency_ms)


async def run_flow(
    path: Path | str,
    inputs: dict[str, Any] | None = None,
    variants: dict[str, str] | None = None,
    *,
    name: str | None = None,
    use_cache: bool = True,
    use_samples: bool = True,
    init: dict | None = None,
    retry: RetryPolicy | None = None,
    environ: dict | None = None,
) -> FlowRunResult:
    """Run one row of a flow, store it as a run of kind `single`, and return its outputs.

    Missing inputs take the flow's sample/default values when `use_samples`. Raises FlowError
    for a flow that cannot run (nothing is stored then); a row that fails is returned with
    status `failed` and its error.
    """
    async with open_session(path, variants=variants, init=init, use_cache=use_cache, concurrency=4, retry=retry,
                            environ=environ) as session:
        executable = session.executable
        executable.check_input_names(inputs or {})  # a misspelt --inputs name is an error, not a silent default
        given = {**(executable.sample_inputs() if use_samples else {}), **(inputs or {})}
        bound = executable.bind(given)
        run_name = new_run_name(name, session.flow_path)
        store = session.store
        if store.run_exists(run_name):
            raise FlowError(f"a run named {run_name!r} exists already; choose another --name")
        store.create_run(run_name, executable.flow_id, kind="single", variants=getattr(executable, "variants", {}),
                         parameters={"cache": use_cache, **owner_parameters()}, connection=executable.description,
                         total_rows=1, content_hash=spans.content_hash_of(executable))
        started = time.perf_counter()
        try:
            outcome = await spans.traced_line(executable, bound, session.context, run_id=run_name, row_index=0)
            store.record_row(run_name, row_result(0, bound, outcome))
            metrics = None
            if executable.has_aggregation and outcome.status == "completed":
                with spans.aggregation_span(executable, run_name):
                    aggregation = await executable.run_aggregation([(bound, outcome.node_outputs)], session.context)
                store.record_aggregation(run_name, aggregation.nodes, aggregation.metrics)
                metrics = aggregation.metrics
        except asyncio.CancelledError:
            store.finish_run(run_name, "canceled", "canceled")
            raise
        store.finish_run(run_name, outcome.status, outcome.error)
        info = store.get_run(run_name)
        return FlowRunResult(
            run=run_name, status=outcome.status, outputs=outcome.outputs, error=outcome.error,
            tokens={"prompt": info.prompt_tokens, "completion": info.completion_tokens, "total": info.total_tokens},
            cost=info.cost, latency_ms=(time.perf_counter() - started) * 1000, nodes=outcome.nodes, metrics=metrics)
