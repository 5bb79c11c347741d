"""workspace/executeCommand handlers. Each command takes ONE object argument.

- `promptwise.runFlow` {uri, inputs?, variants?, workDoneToken?} -> {run, status, outputs, tokens, cost, latency_ms, error?}
- `promptwise.batchRun` {uri, data, name?, concurrency?, variants?, workDoneToken?} -> {run, status, rows, failed, tokens, cost, ...}
- `promptwise.evaluate` {uri, data?, run?, workDoneToken?} -> {run, metrics, ...}
- `promptwise.estimateCost` {uri, data?} -> the JSON of `promptwise estimate --format json`
- `promptwise.compareRuns` {runs: [names], uri?} -> the JSON of `promptwise compare --format json`
- `promptwise.showRun` {run, evaluation?, uri?} -> the JSON of `promptwise runs show NAME --format json`;
  for an evaluated run, with its (latest, or the named) evaluation: `metrics` per evaluator,
  `evaluators`, `summary`, and `rows` (the first 500, with inputs, outputs and scores)
- `promptwise.evaluate` answers with the same `rows` (and `rows_total`, `rows_truncated`)
- `promptwise.cancel` {token} -> {cancelled: bool}

Failures are answered, not raised: `{status: "error", error: "what is wrong; what to do"}`.
Runs read the files as saved; when the editor holds unsaved changes the answer says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams

from promptwise.lsp import announce, uris
from promptwise.lsp.jobs import manager, run_cli
from promptwise.lsp.server import PromptwiseServer
from promptwise.run_names import RULE, is_safe_run_name

RUN_FLOW = "promptwise.runFlow"
BATCH_RUN = "promptwise.batchRun"
EVALUATE = "promptwise.evaluate"
ESTIMATE_COST = "promptwise.estimateCost"
COMPARE_RUNS = "promptwise.compareRuns"
SHOW_RUN = "promptwise.showRun"
CANCEL = "promptwise.cancel"


def _object(name: str, args: tuple) -> dict:
    if len(args) == 1 and isinstance(args[0], dict):
        return args[0]
    raise JsonRpcInvalidParams(f"{name} takes one object argument, e.g. {{\"uri\": \"file:///.../flow.dag.yaml\"}}")


def _target(ls: PromptwiseServer, name: str, arguments: dict) -> tuple[Path, str | None]:
    """The flow or prompty path, and a note when the editor holds unsaved changes."""
    uri = arguments.get("uri")
    if not isinstance(uri, str) or not uri:
        raise JsonRpcInvalidParams(f"{name} needs `uri`: the flow.dag.yaml, flow.flex.yaml or .prompty to use")
    path = uris.uri_to_path(uri)
    if uris.is_unsaved(path):
        raise JsonRpcInvalidParams(f"{uri} is not saved yet; save it to a file, then run it")
    note = None
    document = ls.open_document(uri)
    if document is not None:
        try:
            saved = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            saved = None
        if saved is not None and saved != document.source:
            note = f"{path.name} has unsaved changes; this used the saved file"
    return path, note


def _data_path(arguments: dict, flow: Path) -> str | None:
    data = arguments.get("data")
    if data is None or data == "":
        return None
    if not isinstance(data, str):
        raise JsonRpcInvalidParams("`data` must be a path or a file URI of a .jsonl, .csv or .json file")
    path = uris.uri_to_path(data) if "://" in data else Path(data)
    if not path.is_absolute():
        path = flow.parent / path
    return str(path)


def _run_name(name: str, key: str, value: Any, optional: bool = True) -> str | None:
    """A run's name from the arguments. It becomes a folder under `.promptwise/runs/` and a
    command-line argument of the CLI, so a `/`, `..` or a leading `-` would write elsewhere
    or be read as an option."""
    if value is None or value == "":
        if optional:
            return None
        raise JsonRpcInvalidParams(f"{name} needs `{key}`: a run's name")
    # The name is also passed to the CLI as an argument: a leading `-` would read as an option.
    if not isinstance(value, str) or value.startswith("-") or not is_safe_run_name(value):
        raise JsonRpcInvalidParams(
            f"{name}: `{key}` must be a run's name ({RULE}, not starting with '-'), got {value!r}; "
            f"see `promptwise runs list`"
        )
    return value


def _concurrency(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise JsonRpcInvalidParams(f"{BATCH_RUN}: `concurrency` must be a whole number of at least 1, got {value!r}")
    return value


def _with_note(result: dict, note: str | None) -> dict:
    if note:
        result["note"] = note
    return result


def _token(arguments: dict) -> str | None:
    token = arguments.get("workDoneToken")
    return str(token) if token not in (None, "") else None


async def _after_run(ls: PromptwiseServer) -> None:
    """New results in the run store: lenses and dataset diagnostics may change."""
    from promptwise.lsp.code_lens import refresh_code_lenses
    from promptwise.lsp.diagnostics import scheduler

    refresh_code_lenses(ls)
    diagnostics = scheduler(ls)
    for uri in ls.open_uris():
        if uri.lower().endswith((".jsonl", ".csv", ".json")):
            diagnostics.request(uri)


async def _start_job(
    ls: PromptwiseServer, kind: str, job_args: dict, title: str, arguments: dict, note: str | None
) -> dict:
    """Run a job to its end (with the client's work-done token, if it sent one), then refresh
    what its new results change; the answer carries the unsaved-changes note."""
    jobs = manager(ls)
    with jobs.answering_request():  # shutdown waits for this answer (JobManager.stop_all)
        result = await jobs.start(kind, job_args, title, _token(arguments))
        await _after_run(ls)
        await announce.announce_job(ls, kind, Path(job_args["path"]), result)
    return _with_note(result, note)


async def run_flow(ls: PromptwiseServer, *args: Any) -> dict:
    arguments = _object(RUN_FLOW, args)
    path, note = _target(ls, RUN_FLOW, arguments)
    job_args = {"path": str(path), "inputs": arguments.get("inputs"), "variants": arguments.get("variants")}
    return await _start_job(ls, "run", job_args, f"Run {path.name}", arguments, note)


async def batch_run(ls: PromptwiseServer, *args: Any) -> dict:
    arguments = _object(BATCH_RUN, args)
    path, note = _target(ls, BATCH_RUN, arguments)
    data = _data_path(arguments, path)
    if data is None:
        raise JsonRpcInvalidParams(f"{BATCH_RUN} needs `data`: the .jsonl, .csv or .json file to run on")
    job_args = {
        "path": str(path),
        "data": data,
        "name": _run_name(BATCH_RUN, "name", arguments.get("name")),
        "concurrency": _concurrency(arguments.get("concurrency")),
        "variants": arguments.get("variants"),
    }
    return await _start_job(ls, "batch", job_args, f"Batch {path.name} on {Path(data).name}", arguments, note)


async def evaluate(ls: PromptwiseServer, *args: Any) -> dict:
    arguments = _object(EVALUATE, args)
    path, note = _target(ls, EVALUATE, arguments)
    run = _run_name(EVALUATE, "run", arguments.get("run"))
    job_args = {"path": str(path), "data": _data_path(arguments, path), "run": run}
    return await _start_job(ls, "evaluate", job_args, f"Evaluate {path.name}", arguments, note)


async def estimate_cost(ls: PromptwiseServer, *args: Any) -> dict:
    arguments = _object(ESTIMATE_COST, args)
    path, note = _target(ls, ESTIMATE_COST, arguments)
    command = ["estimate", str(path)]
    data = _data_path(arguments, path)
    if data is not None:
        command += ["--data", data]
    if ls.settings.catalog_file:
        command += ["--catalog", ls.settings.catalog_file]
    result = await run_cli(command, str(path.parent))
    announce.show(ls, announce.describe_estimate(path, result))
    return _with_note(result, note)


def _workspace_folder(ls: PromptwiseServer, arguments: dict) -> str:
    uri = arguments.get("uri")
    if isinstance(uri, str) and uri:
        return str(uris.uri_to_path(uri).parent)
    try:
        return ls.workspace.root_path or "."
    except RuntimeError:
        return "."


async def compare_runs(ls: PromptwiseServer, *args: Any) -> dict:
    arguments = _object(COMPARE_RUNS, args)
    runs = arguments.get("runs")
    if not isinstance(runs, list) or not runs:
        raise JsonRpcInvalidParams(f"{COMPARE_RUNS} needs `runs`: a list of run names")
    runs = [_run_name(COMPARE_RUNS, "runs", run, optional=False) for run in runs]
    folder = _workspace_folder(ls, arguments)
    return await run_cli(["compare", *runs, "--workspace", folder], folder)


def _evaluation_of(folder: str, name: str) -> dict | None:
    """In the executor: the evaluation `name`, or the latest of the run `name` (None if none)."""
    from promptwise.config import ConfigError, load_workspace
    from promptwise.evaluation.view import evaluation_view

    try:
        return evaluation_view(load_workspace(Path(folder)), name)
    except ConfigError:
        return None  # `runs show` below reports the broken settings


async def show_run(ls: PromptwiseServer, *args: Any) -> dict:
    """The run, and when it was evaluated, its evaluation: `metrics` are then the evaluators'
    aggregates, and `rows` the first rows with inputs, outputs and every score, as the
    results panel shows them. `evaluation` (optional) picks one evaluation of the run;
    `run` may also name an evaluation (`RUN.evalN`)."""
    arguments = _object(SHOW_RUN, args)
    run = _run_name(SHOW_RUN, "run", arguments.get("run"), optional=False)
    evaluation = _run_name(SHOW_RUN, "evaluation", arguments.get("evaluation"))
    folder = _workspace_folder(ls, arguments)
    view = await ls.run_cpu(_evaluation_of, folder, evaluation or run)
    shown = await run_cli(["runs", "show", view["run"] if view else run, "--workspace", folder], folder)
    if view is None or shown.get("status") == "error":
        answer = shown
    else:
        answer = {**shown, **view, "run_metrics": shown.get("metrics")}
    written, uri = answer.get("flow"), arguments.get("uri")
    if isinstance(written, str) and written:
        flow = Path(written)
    else:
        flow = uris.uri_to_path(uri) if isinstance(uri, str) and uri else Path(folder)
    await announce.announce_job(ls, "evaluate" if view else "run", flow, {**answer, "run": answer.get("name") or answer.get("run") or run})
    return answer


async def cancel(ls: PromptwiseServer, *args: Any) -> dict:
    arguments = _object(CANCEL, args)
    token = arguments.get("token")
    if token in (None, ""):
        raise JsonRpcInvalidParams(f"{CANCEL} needs `token`: the work-done token of the command to cancel")
    return {"cancelled": await manager(ls).cancel(str(token))}
