"""Problems are plain data: the CLI prints them, the language server converts them.

The types live in `promptwise.common.problems` (the bottom of the package, so documents/ can
use them without importing analysis/); re-exported here for every existing importer."""

from promptwise.common.problems import Fix, Problem, Severity, TextEdit

__all__ = ["Fix", "Problem", "Severity", "TextEdit"]
