"""Custom evaluators: a Python function (`function: module:name`) or a whole evaluation flow.

A function receives the mapped inputs as keyword arguments and returns a number, a bool, a
`Score`, or a mapping `{score, reason?, passed?}`. Its required parameters are the inputs the
evaluator requires. It may be `async`. An exception it raises is recorded as that row's
failure with the exception's message; the evaluation goes on.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import math
import sys
from pathlib import Path
from typing import Any, Callable

from promptwise.evaluation.base import Evaluator, EvaluatorConfigError, Score


def load_function(reference: str, base_dir: Path) -> Callable:
    """`module:function`, `package.module:function` or `path/to/file.py:function` (relative to base_dir)."""
    module_name, _, function_name = reference.rpartition(":")
    if not module_name or not function_name:
        raise EvaluatorConfigError(f"`function: {reference}` must look like module:function (e.g. my_evals:score_summary)")
    candidate = Path(module_name)
    if candidate.suffix != ".py":
        candidate = Path(*module_name.split(".")).with_suffix(".py")
    path = candidate if candidate.is_absolute() else base_dir / candidate
    try:
        if path.is_file():
            unique = f"promptwise_user_eval_{abs(hash(str(path.resolve())))}"
            module = sys.modules.get(unique)
            if module is None:
                spec = importlib.util.spec_from_file_location(unique, path)
                module = importlib.util.module_from_spec(spec)
                # The module may import its neighbours, as it would when run from its own folder.
                if str(path.parent) not in sys.path:
                    sys.path.insert(0, str(path.parent))
                spec.loader.exec_module(module)
                sys.modules[unique] = module
        else:
            module = importlib.import_module(module_name)
    except EvaluatorConfigError:
        raise
    except ModuleNotFoundError as error:
        raise EvaluatorConfigError(
            f"`function: {reference}`: no module {error.name!r} (looked for {path} and on the Python path)") from None
    except Exception as error:  # the user's module failed while importing
        raise EvaluatorConfigError(f"`function: {reference}`: importing it failed: {type(error).__name__}: {error}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise EvaluatorConfigError(f"`function: {reference}`: {module_name} has no function {function_name!r}")
    return function


def score_from_result(evaluator: Evaluator, result: Any) -> Score:
    """Read what a custom function or evaluation flow returned."""
    if isinstance(result, Score):
        if result.passed is None and result.error is None:
            result.passed = evaluator.verdict(result.value)
        return result
    reason = ""
    passed = None
    if isinstance(result, dict):
        lowered = {str(k).lower(): v for k, v in result.items()}
        value = next((lowered[k] for k in ("score", "value") if k in lowered), None)
        reason = str(lowered.get("reason") or "")
        passed = lowered.get("passed")
        if value is None and len(lowered) == 1:
            value = next(iter(lowered.values()))
    else:
        value = result
    if isinstance(value, bool):
        value = 1.0 if value else 0.0
    if not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
        return Score.failure(
            f"the evaluator returned {type(result).__name__} {str(result)[:80]!r}; return a number, a bool "
            f"or a mapping with `score` (and optionally `reason`, `passed`)")
    value = float(value)
    verdict = bool(passed) if isinstance(passed, bool) else evaluator.verdict(value)
    return Score(value=value, passed=verdict, reason=reason)


class PythonFunction(Evaluator):
    kind = "python"
    description = "your own function: `function: module:name`; keyword arguments are the mapped inputs"
    options_allowed = ("function", "higher_is_better")

    def __init__(self, name: str, threshold: float | None = None, options: dict | None = None,
                 base_dir: Path | None = None) -> None:
        super().__init__(name, threshold, options)
        reference = self.options.get("function")
        if not isinstance(reference, str):
            raise EvaluatorConfigError(f"evaluator `{name}` (python) needs `function: module:name`")
        self.function = load_function(reference, base_dir or Path.cwd())
        if "higher_is_better" in self.options:
            self.higher_is_better = bool(self.options["higher_is_better"])
        try:
            parameters = inspect.signature(self.function).parameters.values()
        except (TypeError, ValueError):
            parameters = []
        self.required_inputs = tuple(p.name for p in parameters if p.default is p.empty
                                     and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        self.optional_inputs = tuple(p.name for p in parameters if p.default is not p.empty
                                     and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        self.accepts_any = any(p.kind is p.VAR_KEYWORD for p in parameters)
        self.calls_model = inspect.iscoroutinefunction(self.function)

    async def ascore(self, inputs: dict) -> Score:
        try:
            if inspect.iscoroutinefunction(self.function):
                result = await self.function(**inputs)
            else:
                result = self.function(**inputs)
        except Exception as error:  # the user's code: record, go on
            return Score.failure(f"{type(error).__name__}: {error}")
        return score_from_result(self, result)

    def score(self, inputs: dict) -> Score:
        import asyncio  # here, not at the top: `check` builds evaluators without loading asyncio

        return asyncio.run(self.ascore(inputs))
