"""Problems found in documents: plain data, no pygls.

Entry points: `analyze(path, text=None, overlay=None)`, `check_paths(paths)`,
`register_checker(fn)`, `dependents(path)`.

The analyzer is imported lazily (PEP 562): the document modules import
`promptwise.analysis.problem`, and the analyzer imports the document modules, so an eager
import here would be circular.
"""

from promptwise.analysis.problem import Fix, Problem, Severity, TextEdit

_ANALYZER_NAMES = (
    "analyze",
    "check_paths",
    "dependents",
    "discover",
    "forget",
    "referenced_files",
    "register_checker",
    "unregister_checker",
)

__all__ = ["Fix", "Problem", "Severity", "TextEdit", *_ANALYZER_NAMES]


def __getattr__(name: str):
    if name in _ANALYZER_NAMES:
        from promptwise.analysis import analyzer

        return getattr(analyzer, name)
    raise AttributeError(f"module 'promptwise.analysis' has no attribute {name!r}")
