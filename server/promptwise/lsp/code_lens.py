"""Code lenses over flows and prompts:

- `▶ Run` (command `promptwise.runFlow`) on every flow and prompty, and `Batch on data.jsonl`
  (`promptwise.batchRun`) when a dataset sits beside it;
- the cost lenses (issue 3, `promptwise.lsp.costs`);
- the latest evaluation's figures over the flow, its evaluated nodes and variants (issue 5,
  `promptwise.evaluation.editor`), each opening that evaluation (`promptwise.showRun` with
  the run and the evaluation: metrics table and per-row results).

Lenses are recomputed on request; when something outside the document changes them (a
template edit, a finished run) the client is asked to refresh.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lsprotocol import types

from promptwise.lsp import costs, uris
from promptwise.lsp.commands import BATCH_RUN, RUN_FLOW, SHOW_RUN
from promptwise.lsp.context import DocumentContext, client_range, document_context
from promptwise.lsp.server import PromptwiseServer

logger = logging.getLogger("promptwise.lsp.code_lens")

RUNNABLE = ("flow_dag", "flex_flow", "prompty")
TOP = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))


async def code_lenses(ls: PromptwiseServer, params: types.CodeLensParams) -> list[types.CodeLens] | None:
    uri = params.text_document.uri
    context = await document_context(ls, uri)
    if context is None or context.kind not in RUNNABLE:
        return None
    found: list[types.CodeLens] = []
    path = context.path
    if not uris.is_unsaved(path):
        found.append(types.CodeLens(range=TOP, command=types.Command(title="▶ Run", command=RUN_FLOW, arguments=[{"uri": uri}])))
        data = dataset_beside(path)
        if data is not None:
            found.append(
                types.CodeLens(
                    range=TOP,
                    command=types.Command(
                        title=f"Batch on {data.name}", command=BATCH_RUN, arguments=[{"uri": uri, "data": str(data)}]
                    ),
                )
            )
    for part in (_cost_lenses, _evaluation_lenses, _trace_lenses, _live_lenses):
        try:
            found += await part(ls, context)
        except Exception:  # one kind of lens failing must not hide the others
            logger.exception("%s failed for %s", part.__name__, uri)
    return found


def dataset_beside(path: Path) -> Path | None:
    """`data.jsonl` in the flow's folder, or `<name>.data.jsonl` beside a prompty."""
    for candidate in (path.parent / f"{path.stem}.data.jsonl", path.parent / "data.jsonl"):
        if candidate.is_file():
            return candidate
    return None


async def _cost_lenses(ls: PromptwiseServer, context: DocumentContext) -> list[types.CodeLens]:
    return await costs.lenses(ls, context.uri, context.lines)


async def _trace_lenses(ls: PromptwiseServer, context: DocumentContext) -> list[types.CodeLens]:
    from promptwise.lsp import traces  # "last run: 1.2 s · 812 tok" from the flow's latest trace

    return await traces.lenses(ls, context)


async def _live_lenses(ls: PromptwiseServer, context: DocumentContext) -> list[types.CodeLens]:
    from promptwise.lsp import monitor_lenses  # "live v7: p95 1.1 s · 0.4% errors · $3.20/day", where it runs

    return await monitor_lenses.lenses(ls, context)


def _latest_results(path: Path) -> list:
    """Runs in the executor: the stored evaluation figures for this flow (read-only)."""
    from promptwise.evaluation.editor import latest_results_for

    return latest_results_for(path)


async def evaluation_items(ls: PromptwiseServer, context: DocumentContext) -> list:
    if context.kind not in RUNNABLE or uris.is_unsaved(context.path):
        return []
    return await ls.run_cpu(_latest_results, context.path)


async def _evaluation_lenses(ls: PromptwiseServer, context: DocumentContext) -> list[types.CodeLens]:
    lenses = []
    for item in await evaluation_items(ls, context):
        lenses.append(
            types.CodeLens(
                range=client_range(ls, context.path, item.range, context.lines),
                command=types.Command(
                    # the run and the evaluation the figures come from: showRun answers with its
                    # metrics and rows, not with the bare batch run
                    title=item.text,
                    command=SHOW_RUN,
                    arguments=[{"run": item.run, "evaluation": item.evaluation, "uri": context.uri}],
                ),
            )
        )
    return lenses


async def evaluation_hover(ls: PromptwiseServer, context: DocumentContext) -> str | None:
    """The worst rows of the latest evaluation, when hovering where its lens sits."""
    for item in await evaluation_items(ls, context):
        if item.range.start.line <= context.position.line <= item.range.end.line:
            return item.hover
    return None


def refresh_code_lenses(ls: PromptwiseServer) -> None:
    workspace = ls.client_capabilities.workspace if ls.client_capabilities else None
    if workspace and workspace.code_lens and workspace.code_lens.refresh_support:
        ls.workspace_code_lens_refresh(None)
