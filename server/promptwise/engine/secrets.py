"""Secrets at run time: a flow with a key written in it does not run; redaction (which lives in
`promptwise.redaction`, below the store and the engine) is re-exported for older callers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptwise.redaction import MASK, dumps_redacted, redact, redact_value, register_secret

__all__ = ["MASK", "dumps_redacted", "redact", "redact_value", "refuse_literal_secrets", "register_secret"]


def refuse_literal_secrets(document: Any, path: Path) -> None:
    """FlowError naming file:line when the flow file (or a prompt template it uses) holds a key
    in plain text (the PW6xx problems `promptwise check` reports).

    A run would send that key, and could store it (a default input, a node input echoed back)
    and print it in `run --format json`, `runs show` and `runs export`; a key in a prompty's
    connection is refused the same way when it is resolved. The message names the place and
    the fix, never the value. Python tool code is left to `check`: a key there is not read by
    the engine."""
    from promptwise.analysis.secrets import check_text, document_secrets
    from promptwise.engine.errors import FlowError

    problems = list(document_secrets(document))
    for template in _prompt_templates(document):
        from promptwise.documents.load import read_text

        text, _ = read_text(template)  # the size, type and encoding limits of every read
        if text is not None:
            problems += check_text(template, text)
    if not problems:
        return
    problems.sort(key=lambda p: (str(p.path) != str(path), str(p.path), p.range.start.line))
    first = problems[0]
    more = f" ({len(problems) - 1} more in the flow's files)" if len(problems) > 1 else ""
    # The problem's message says how to move the key out (`${env:NAME}`, a connection).
    raise FlowError(f"{first.path}:{first.range.start.line + 1}: {first.code}: {first.message}{more}. "
                    "Promptwise does not run a flow with a key written in it")


def _prompt_templates(document: Any) -> list[Path]:
    """The Jinja templates of a flow.dag.yaml's llm and prompt nodes (what is sent as the prompt)."""
    from promptwise.documents.load import TEMPLATE_SUFFIXES

    if getattr(document, "kind", None) != "flow_dag":
        return []
    found: dict[Path, None] = {}
    for node in document.all_nodes():
        source = node.source_file(document.folder)
        if source is not None and source.suffix.lower() in TEMPLATE_SUFFIXES and source.is_file():
            found[source] = None
    return list(found)
