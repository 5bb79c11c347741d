"""Checks the commands that run a flow make before the first model call."""

from __future__ import annotations

from pathlib import Path

ALLOW_UNDEFINED_HELP = ("render template variables that no input provides as empty text (as Jinja does) instead "
                        "of refusing to run")


def undefined_variables(flow: str | Path, variants: dict[str, str] | None = None) -> list:
    """PW403 problems (a template reads a variable nothing provides) in the templates this run
    would render: Jinja would send the model empty text in their place. Only the selected (or
    default) variant's template counts. A flow that cannot be resolved gives none (the run
    reports why)."""
    from promptwise.analysis.analyzer import analyze
    from promptwise.analysis.context import normalize
    from promptwise.engine.errors import FlowError
    from promptwise.engine.flow_path import resolve_flow_path

    try:
        path = resolve_flow_path(flow)
    except FlowError:
        return []
    problems = [p for p in analyze(path) if p.code == "PW403"]
    if not problems or path.suffix == ".prompty":
        return problems
    used = {normalize(file) for file in _templates_used(path, variants or {})}
    # The flow file repeats each template's problem from the node's side: the template's own is enough.
    return [p for p in problems if normalize(p.path) in used]


def _templates_used(path: Path, variants: dict[str, str]) -> list[Path]:
    from promptwise.documents import load_document

    document = load_document(path)
    files = []
    for node in getattr(document, "nodes", None) or []:
        chosen = node
        if node.use_variants:
            options = document.node_variants.get(node.name)
            if options is None:
                continue
            variant = options.variants.get(variants.get(node.name) or options.default_variant_id or "")
            chosen = variant.node if variant is not None else None
        source = getattr(chosen, "source", None)
        if source is not None and source.path:
            files.append(path.parent / source.path)
    return files


def refuse_undefined_variables(flow: str | Path, variants: dict[str, str] | None, allowed: bool) -> None:
    """Raise UserError with `check`'s lines for every undefined template variable, unless allowed."""
    from promptwise.cli import UserError
    from promptwise.commands.check import format_text

    if allowed:
        return
    problems = undefined_variables(flow, variants)
    if problems:
        count = len(problems)
        raise UserError(f"not run: {count} template variable{'s' if count != 1 else ''} would render as empty "
                        f"text (as `promptwise check` reports):\n{format_text(problems)}\n"
                        "provide them as inputs, or pass --allow-undefined to run anyway")
