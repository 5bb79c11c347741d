"""Code actions: the quick fixes the analysis attached to its problems (`Problem.fixes`).

A fix's edits may touch other files than the one the problem is in (moving a secret to an
environment variable), so each edit is converted with its own file's lines.
"""

from __future__ import annotations

from lsprotocol import types

from promptwise.analysis.problem import Fix, Problem
from promptwise.lsp import uris
from promptwise.lsp.diagnostics import scheduler, to_diagnostic
from promptwise.lsp.positions import from_client_range, to_client_range
from promptwise.lsp.server import PromptwiseServer


def _overlaps(problem: Problem, start, end) -> bool:
    return problem.range.start <= end and start <= problem.range.end


def workspace_edit(ls: PromptwiseServer, fix: Fix) -> types.WorkspaceEdit:
    changes: dict[str, list[types.TextEdit]] = {}
    lines_by_path: dict = {}
    for edit in fix.edits:
        path = uris.normalize(edit.path) if not uris.is_unsaved(edit.path) else edit.path
        if path not in lines_by_path:
            lines_by_path[path] = ls.lines_of(path)
        changes.setdefault(uris.path_to_uri(path), []).append(
            types.TextEdit(range=to_client_range(lines_by_path[path], edit.range, ls.encoding), new_text=edit.new_text)
        )
    return types.WorkspaceEdit(changes=changes)


async def code_actions(ls: PromptwiseServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    uri = params.text_document.uri
    only = params.context.only if params.context else None
    if only and not any(kind.startswith(types.CodeActionKind.QuickFix) or types.CodeActionKind.QuickFix.startswith(kind) for kind in only):
        return None
    if ls.open_document(uri) is not None:
        await scheduler(ls).settled(uri)  # answer from the current text's problems
    lines = ls.lines_of(uris.uri_to_path(uri))
    wanted = from_client_range(lines, params.range, ls.encoding)
    actions: list[types.CodeAction] = []
    for problem in ls.problems.for_target(uri):
        if not problem.fixes or not _overlaps(problem, wanted.start, wanted.end):
            continue
        diagnostic = to_diagnostic(problem, lines, ls.encoding)
        for fix in problem.fixes:
            actions.append(
                types.CodeAction(
                    title=fix.title,
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    edit=workspace_edit(ls, fix),
                    is_preferred=len(problem.fixes) == 1,
                )
            )
    return actions or None
