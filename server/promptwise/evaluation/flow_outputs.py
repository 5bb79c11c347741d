"""The outputs a flow or prompty declares, as evaluators reference them (`${run.outputs.X}`).

Its own module, apart from the evaluation service: `check` of an eval.yaml (PW807) needs only
this, not the runner and the results store the service brings.
"""

from __future__ import annotations

from pathlib import Path


def flow_output_names(flow_path: Path) -> set[str] | None:
    """The outputs a flow declares (None when its kind does not declare them statically)."""
    try:
        import promptwise.documents  # noqa: F401
        from promptwise.documents import load_document
        from promptwise.engine.flow_path import resolve_flow_path

        document = load_document(resolve_flow_path(flow_path))
    except Exception:
        return None
    if any(getattr(problem.severity, "value", None) == "error" for problem in getattr(document, "problems", None) or ()):
        # A flow that does not parse (YAML syntax, wrong shapes) declares no outputs we can trust:
        # the run reports its real error, rather than every evaluator "missing" an output.
        return None
    outputs = getattr(document, "outputs", None)
    kind = getattr(document, "kind", None)
    if kind == "flow_dag" and isinstance(outputs, dict):
        return set(outputs)
    if kind == "prompty":
        return _prompty_output_names(document)
    return None


def _prompty_output_names(document) -> set[str] | None:
    """What the engine names a prompty's answer (`engine.prompty`): `output` for text; the
    declared outputs for a JSON answer; None where the answer's keys are only known at run
    time (the whole response, tool calls, JSON with no declared outputs)."""
    try:
        model = document.model
        parameters = model.effective_parameters
        response = (model.response or "first").lower()
    except Exception:
        return None
    if response == "all" or parameters.get("tools"):
        return None
    response_format = parameters.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        # the declared keys of a JSON answer; `output` when the answer is not JSON after all
        return {*document.outputs, "output"} if isinstance(document.outputs, dict) and document.outputs else None
    return {"output"}
