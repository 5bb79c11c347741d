"""Evaluators and evaluation runs; results stored with the run; comparison, CI gates, editor data.

Entry points (imported lazily, so `import promptwise.evaluation` stays cheap for the editor):

    evaluate_flow(flow, data=None, *, config_path=None, variants=None, ...) -> EvaluationOutcome   (async)
    evaluate_run(run, *, workspace, config_path=None, ...) -> EvaluationOutcome                   (async)
    evaluate_for_editor(path, *, data=None, run=None, cancel=None) -> {run, evaluation, metrics, summary} (async)
    compare(names, workspace) -> Comparison            (.to_json() for `promptwise.compareRuns`)
    evaluation_view(workspace, name, *, max_rows=500) -> dict | None   (metrics + bounded per-row results)
    latest_results_for(flow_path, workspace=None) -> list[LensItem]
    dataset_diagnostics(dataset_path, workspace=None) -> list[Problem]     (PW810/PW811, information)
    check_eval_file(path, text=None) -> list[Problem]                      (PW801-PW807 for eval.yaml)
"""

_EXPORTS = {
    "evaluate_flow": "promptwise.evaluation.service",
    "evaluate_run": "promptwise.evaluation.service",
    "evaluate_for_editor": "promptwise.evaluation.service",
    "EvaluationOutcome": "promptwise.evaluation.service",
    "EvaluationError": "promptwise.evaluation.base",
    "EvalConfigError": "promptwise.evaluation.config",
    "compare": "promptwise.evaluation.compare",
    "Comparison": "promptwise.evaluation.compare",
    "evaluation_view": "promptwise.evaluation.view",
    "latest_results_for": "promptwise.evaluation.editor",
    "dataset_diagnostics": "promptwise.evaluation.editor",
    "check_eval_file": "promptwise.evaluation.editor",
    "LensItem": "promptwise.evaluation.editor",
    "Score": "promptwise.evaluation.base",
    "Evaluator": "promptwise.evaluation.base",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'promptwise.evaluation' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
