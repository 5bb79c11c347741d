"""`promptwise check [PATH ...] [--format text|json|sarif]`: the analysis on the command line.

The same problems, with the same codes, as the editor shows. Checks flows and prompty
files with everything they use, the workspace settings (promptwise.yaml or
[tool.promptwise]) and eval.yaml files. Exit status 2 when a path does not exist or a
folder holds no flow or prompty file, else 1 when any problem is an error, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from promptwise import __version__
from promptwise.analysis.codes import title
from promptwise.analysis.problem import Problem, Severity
from promptwise.commands.options import display_path

_SARIF_LEVELS = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFORMATION: "note",
    Severity.HINT: "note",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "check",
        help="find mistakes in flows and prompts",
        description=(
            "Check flow.dag.yaml, flow.flex.yaml and .prompty files (and the templates and "
            "tools they use), the workspace settings (promptwise.yaml or [tool.promptwise]) and "
            "eval.yaml files under the given paths. Exit status 1 if any error is found, 2 if a "
            "path does not exist or a folder holds no flow or prompty file."
        ),
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: .)")
    parser.add_argument(
        "--format",
        choices=("text", "json", "sarif"),
        default="text",
        help="text lines (default), a JSON list (0-based ranges, as LSP) or SARIF 2.1.0",
    )
    parser.set_defaults(handler=run)


def format_text(problems: list[Problem]) -> str:
    lines = []
    for problem in problems:
        start = problem.range.start
        lines.append(
            f"{display_path(problem.path)}:{start.line + 1}:{start.character + 1}: "
            f"{problem.severity.value} {problem.code}: {problem.message}"
        )
    return "\n".join(lines)


def format_json(problems: list[Problem]) -> str:
    items = []
    for problem in problems:
        item = problem.to_json()
        item["path"] = display_path(problem.path)
        items.append(item)
    return json.dumps(items, indent=2, ensure_ascii=False)


def sarif_uri(path: Path) -> str:
    """SARIF's artifactLocation.uri is a URI reference: `sub dir/ü.prompty` must be written
    `sub%20dir/%C3%BC.prompty`, or SARIF consumers reject or misplace the result. Relative to
    the current folder when inside it; an absolute path becomes a file:// URI."""
    shown = Path(display_path(path))
    if shown.is_absolute():
        return shown.as_uri()
    return quote(shown.as_posix(), safe="/")


def format_sarif(problems: list[Problem]) -> str:
    codes = sorted({problem.code for problem in problems})
    rules = [{"id": code, "shortDescription": {"text": title(code)}} for code in codes]
    results = []
    for problem in problems:
        start, end = problem.range.start, problem.range.end
        region = {
            "startLine": start.line + 1,
            "startColumn": start.character + 1,
            "endLine": end.line + 1,
            "endColumn": end.character + 1,
        }
        result = {
            "ruleId": problem.code,
            "ruleIndex": codes.index(problem.code),
            "level": _SARIF_LEVELS[problem.severity],
            "message": {"text": problem.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": sarif_uri(problem.path)},
                        "region": region,
                    }
                }
            ],
        }
        if problem.fixes:
            result["fixes"] = [
                {
                    "description": {"text": fix.title},
                    "artifactChanges": [
                        {
                            "artifactLocation": {"uri": sarif_uri(edit.path)},
                            "replacements": [
                                {
                                    "deletedRegion": {
                                        "startLine": edit.range.start.line + 1,
                                        "startColumn": edit.range.start.character + 1,
                                        "endLine": edit.range.end.line + 1,
                                        "endColumn": edit.range.end.character + 1,
                                    },
                                    "insertedContent": {"text": edit.new_text},
                                }
                            ],
                        }
                        for edit in fix.edits
                    ],
                }
                for fix in problem.fixes
            ]
        results.append(result)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "promptwise",
                        "version": __version__,
                        "informationUri": "https://github.com/promptwise/promptwise",
                        "rules": rules,
                    }
                },
                # our columns count Unicode code points, not UTF-16 units
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def summary(problems: list[Problem], file_count: int) -> str:
    errors = sum(1 for p in problems if p.severity is Severity.ERROR)
    warnings = sum(1 for p in problems if p.severity is Severity.WARNING)
    files = f"{file_count} file{'s' if file_count != 1 else ''}"
    if not problems:
        return f"no problems in {files}"
    return f"{errors} error{'s' if errors != 1 else ''}, {warnings} warning{'s' if warnings != 1 else ''} in {files}"


EVAL_FILE_NAMES = ("eval.yaml", "eval.yml")
NO_FLOWS = "no flow.dag.yaml, flow.flex.yaml or .prompty files under {folder}"


@dataclass
class Collected:
    """What `check` looks at, found from the paths on the command line."""

    flows: list[Path] = field(default_factory=list)  # flows and prompty files (and files named directly)
    evals: list[Path] = field(default_factory=list)  # eval.yaml files
    settings: list[Path] = field(default_factory=list)  # promptwise.yaml / pyproject.toml [tool.promptwise]
    problems: list[Problem] = field(default_factory=list)  # about paths given directly
    errors: list[str] = field(default_factory=list)  # paths that do not exist
    warnings: list[str] = field(default_factory=list)  # folders with nothing to check

    @property
    def files(self) -> list[Path]:
        return self.flows + self.evals + self.settings


def collect(paths: list[str]) -> Collected:
    """Sort the paths into flows, eval.yaml files and settings files. Each flow brings its
    workspace's settings file along: the connections and models it runs with live there."""
    from promptwise.analysis.analyzer import discover, is_checkable_file, walk_files
    from promptwise.analysis.settings import is_settings_file, read_settings_file, settings_for

    found = Collected()
    seen: set[str] = set()

    def add(bucket: list[Path], path: Path) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            bucket.append(path)

    for raw in paths:
        path = Path(raw)
        if not path.exists():
            found.errors.append(f"{raw}: no such file or folder; check the path")
            continue
        if path.is_dir():
            flows_before = len(found.flows)
            for candidate in walk_files(path):
                if is_checkable_file(candidate):
                    add(found.flows, candidate)
                elif candidate.name.lower() in EVAL_FILE_NAMES:
                    add(found.evals, candidate)
                elif is_settings_file(candidate) and read_settings_file(candidate) is not None:
                    add(found.settings, candidate)
            if len(found.flows) == flows_before:
                found.warnings.append(NO_FLOWS.format(folder=raw))
            continue
        if path.name.lower() in EVAL_FILE_NAMES:
            add(found.evals, path)
        elif is_settings_file(path):
            add(found.settings, path)
        else:
            files, problems = discover([path])
            found.problems += problems
            for file in files:
                add(found.flows, file)
    for flow in list(found.flows):
        settings = settings_for(flow)
        if settings is not None:
            add(found.settings, settings.path)
    return found


def check_eval_files(paths: list[Path]) -> list[Problem]:
    """PW8xx problems of eval.yaml files, from the evaluation area's own check."""
    if not paths:
        return []
    try:
        from promptwise.evaluation.editor import check_eval_file
    except ImportError as error:  # a partial install: say so rather than pass silently
        print(f"promptwise: warning: eval.yaml files not checked ({error})", file=sys.stderr)
        return []
    problems: list[Problem] = []
    for path in paths:
        problems += check_eval_file(path)
    return problems


def run(args: argparse.Namespace) -> int:
    # A check allocates hundreds of thousands of objects (imports, parse trees) and frees
    # nearly all by reference counting; CPython's default thresholds still ran some 60
    # collections over them, 5-10% of a one-flow check. The language server's thresholds.
    import gc

    from promptwise.analysis.gc_tuning import INTERACTIVE_THRESHOLDS

    gc.set_threshold(*INTERACTIVE_THRESHOLDS)
    from promptwise.analysis.analyzer import analyze
    from promptwise.analysis.context import normalize

    found = collect(args.paths or ["."])
    problems = list(found.problems)
    for path in found.flows + found.settings:
        problems += analyze(path)
    problems += check_eval_files(found.evals)
    # a template shared by two flows would otherwise be reported twice
    unique = list({(normalize(p.path), p.range, p.code, p.message): p for p in problems}.values())
    unique.sort(key=lambda p: (str(p.path), p.range.start, p.range.end, p.code))
    for message in found.errors:
        print(f"promptwise: error: {message}", file=sys.stderr)
    for message in found.warnings:
        print(f"promptwise: warning: {message}", file=sys.stderr)
    try:
        if args.format == "json":
            print(format_json(unique))
        elif args.format == "sarif":
            print(format_sarif(unique))
        else:
            if unique:
                print(format_text(unique))
            if found.files or not found.errors:  # `check nosuch` checked nothing: the error says so
                print(summary(unique, len(found.files)), file=sys.stderr)
        sys.stdout.flush()
    except BrokenPipeError:  # `promptwise check | head`: the reader left; not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
    if found.errors or found.warnings:
        return 2  # a path to check was wrong or held nothing to check: never a silent success
    return 1 if any(p.severity is Severity.ERROR for p in unique) else 0
