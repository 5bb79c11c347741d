"""One run, batch or evaluation, in its own process, for the language server.

`python -m promptwise.lsp.job_worker` reads one JSON line on stdin, `{"kind": ..., "args":
{...}}`, and writes JSON lines on stdout: `{"progress": {...}}` while it works, then
`{"result": {...}}` or `{"error": "what went wrong; what to do"}`. A later stdin line
`cancel` (or stdin closing: the server is gone) stops the work the engine's way: finished
rows stay stored, the run can be resumed.

Why a process: the flow's python tools are user code. In here, a tool that loops, blocks,
crashes or prints cannot stall or corrupt the language server, and cancelling can always
end in a kill. No pygls in here.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from typing import Any, Callable


def _pairs(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"`{what}` must be an object of name -> value")
    return dict(value)


async def _run(args: dict, emit: Callable[[dict], None], cancel: asyncio.Event) -> dict:
    from promptwise.engine.runner import run_flow

    task = asyncio.ensure_future(
        run_flow(args["path"], _pairs(args.get("inputs"), "inputs"), _pairs(args.get("variants"), "variants") or None)
    )
    stop = asyncio.ensure_future(cancel.wait())
    await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return {"run": None, "status": "canceled", "outputs": None, "error": "canceled"}
    stop.cancel()
    return task.result().as_dict()


async def _batch(args: dict, emit: Callable[[dict], None], cancel: asyncio.Event) -> dict:
    from promptwise.engine.batch import DEFAULT_CONCURRENCY, run_batch

    result = await run_batch(
        args["path"],
        args["data"],
        name=args.get("name"),
        concurrency=int(args.get("concurrency") or DEFAULT_CONCURRENCY),
        variants=_pairs(args.get("variants"), "variants") or None,
        workspace_path=args["path"],
        on_progress=lambda progress: emit({"progress": progress.as_dict()}),
        on_start=lambda name: emit({"started": name}),
        cancel=cancel,
    )
    return result.as_dict()


async def _evaluate(args: dict, emit: Callable[[dict], None], cancel: asyncio.Event) -> dict:
    from promptwise.evaluation.service import evaluate_for_editor

    # metrics, and the first rows with their inputs, outputs and scores for the drill-down
    return await evaluate_for_editor(
        args["path"],
        data=args.get("data"),
        run=args.get("run"),
        cancel=cancel,
        on_progress=lambda progress: emit({"progress": _as_dict(progress)}),
        on_start=lambda name: emit({"started": name}),
    )


def _as_dict(value: Any) -> Any:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if hasattr(value, "to_json"):
        return value.to_json()
    return value


async def _replay(args: dict, emit: Callable[[dict], None], cancel: asyncio.Event) -> dict:
    from promptwise.lsp.replay_job import replay  # one recorded model call, again (the trace view)

    return await replay(args, emit, cancel)


JOBS = {"run": _run, "batch": _batch, "evaluate": _evaluate, "replay": _replay}


def _user_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [ValueError, KeyError, OSError]
    for module, name in (
        ("promptwise.engine.errors", "FlowError"),
        ("promptwise.evaluation.service", "EvaluationError"),
        ("promptwise.cli", "UserError"),
        ("promptwise.config", "ConfigError"),
    ):
        try:
            types.append(getattr(__import__(module, fromlist=[name]), name))
        except (ImportError, AttributeError):
            continue
    return tuple(types)


async def _serve(request: dict, emit: Callable[[dict], None]) -> None:
    loop = asyncio.get_running_loop()
    cancel = asyncio.Event()

    def watch_stdin() -> None:
        for line in sys.stdin:
            if line.strip() == "cancel":
                break
        loop.call_soon_threadsafe(cancel.set)  # "cancel", or stdin closed: the server is gone

    threading.Thread(target=watch_stdin, name="cancel-watch", daemon=True).start()
    kind = request.get("kind")
    job = JOBS.get(kind)
    if job is None:
        emit({"error": f"unknown job kind {kind!r}; one of {', '.join(JOBS)}"})
        return
    args = request.get("args") or {}
    try:
        from promptwise.tracing import traced

        # traced like `promptwise run`/`batch`/`eval`: the editor's trace view reads these
        path = args.get("path") if isinstance(args, dict) and isinstance(args.get("path"), str) else None
        with traced(path, service_name="promptwise-editor"):
            emit({"result": await job(args, emit, cancel)})
    except _user_error_types() as error:
        emit({"error": str(error) or type(error).__name__})
    except Exception as error:  # report, never a traceback on the protocol channel
        import traceback

        traceback.print_exc(file=sys.stderr)
        emit({"error": f"internal error: {type(error).__name__}: {error}; see the Promptwise log"})


def main() -> int:
    # Our messages get a private copy of stdout; whatever else writes to stdout (a print in
    # a user's tool, a library) lands on stderr instead of in the middle of a message.
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    lock = threading.Lock()

    def emit(message: dict) -> None:
        with lock:
            channel.write(json.dumps(message, default=str, ensure_ascii=False) + "\n")
            channel.flush()

    line = sys.stdin.readline()
    try:
        request = json.loads(line)
    except json.JSONDecodeError as error:
        emit({"error": f"bad job request ({error})"})
        return 2
    asyncio.run(_serve(request, emit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
