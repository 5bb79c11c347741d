"""Files a flow points at (PW301) and what a node needs to say where its code is.

PW301 a node's source file, a flex flow's entry module, an additional include, the
      requirements file, or a prompty `${file:...}` is missing (includes: warning)
PW105 (shared with the schema) a node without `source`, a code source without `path`,
      a package source without `tool`
PW106 (shared) a flex `entry` not of the form `module:function`
PW109 flow.dag.yaml and flow.flex.yaml in one folder (Prompt flow refuses the folder)
PW309 a package tool under `promptflow.tools.` that Prompt flow does not have
"""

from __future__ import annotations

import os
from pathlib import Path

from promptwise.analysis.context import AnalysisContext
from promptwise.analysis.edits import replace_fix
from promptwise.analysis.problem import Problem, Severity
from promptwise.analysis.schema import suggest
from promptwise.analysis.tools import node_source_path
from promptwise.documents.files import why_not_regular
from promptwise.documents.flex_flow import FlexFlow
from promptwise.documents.flow_dag import FlowDag, FlowNode
from promptwise.documents.prompty import Prompty
from promptwise.documents.source import Range


def _sibling_names(folder: Path, relative: str) -> list[str]:
    """Names next to where `relative` should be, written the way the flow writes paths."""
    target = folder / relative
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    prefix = relative[: len(relative) - len(target.name)]
    return [prefix + name for name in names]


def _missing_file(
    path: Path,  # the document reporting it
    folder: Path,
    relative: str,
    value_range: Range,
    what: str,
    severity: Severity = Severity.ERROR,
) -> Problem:
    refused = why_not_regular(folder / relative)  # /dev/zero, a FIFO, a NUL in the path ...
    if refused is not None:
        shown = relative.replace("\0", "\\0")[:200]  # no raw NUL, no 5,000-character path in a message
        return Problem(path, value_range, severity, "PW301", f"{what} '{shown}' is not read: {refused}")
    guess = suggest(relative, _sibling_names(folder, relative))
    if guess and guess != relative:
        return Problem(
            path,
            value_range,
            severity,
            "PW301",
            f"{what} '{relative}' does not exist in {folder.name or '.'}/; did you mean '{guess}'?",
            (replace_fix(path, value_range, guess, f"Change to '{guess}'"),),
        )
    return Problem(
        path,
        value_range,
        severity,
        "PW301",
        f"{what} '{relative}' does not exist in {folder.name or '.'}/; create it or fix the path "
        "(paths are relative to the flow's folder)",
    )


def _check_node_source(flow: FlowDag, node: FlowNode, context: AnalysisContext, problems: list[Problem]) -> None:
    label = f"node '{node.name}'" if node.name else f"node #{node.index + 1}"
    if node.mapping is None:
        return
    if node.source is None:
        if node.use_variants and node.variant_of is None:
            return  # the variants say where the code is
        if node.type in ("llm", "python", "prompt", "custom_llm"):
            problems.append(
                Problem(
                    flow.path,
                    node.name_range,
                    Severity.ERROR,
                    "PW105",
                    f"{label} has no `source`; add `source: {{type: code, path: <file>}}` naming "
                    "its template or Python file",
                )
            )
        return
    source = node.source
    if source.mapping is None:
        return  # wrong type: reported by the schema
    source_type = source.type or "code"
    if source_type == "code" and not source.path:
        problems.append(
            Problem(
                flow.path,
                node.key_range("source") or node.name_range,
                Severity.ERROR,
                "PW105",
                f"the source of {label} has no `path`; add `path: <file>` (a .py or .jinja2 file "
                "next to the flow)",
            )
        )
        return
    if source_type in ("package", "package_with_prompt") and not source.tool:
        problems.append(
            Problem(
                flow.path,
                node.key_range("source") or node.name_range,
                Severity.ERROR,
                "PW105",
                f"the source of {label} is a package tool but names no `tool`; add "
                "`tool: package.module.function`",
            )
        )
    if source.tool and source_type in ("package", "package_with_prompt"):
        problem = _unknown_package_tool(flow, node, source.tool)
        if problem is not None:
            problems.append(problem)
    if source.path and source_type in ("code", "package_with_prompt"):
        if not context.exists(node_source_path(flow, source.path, context)):
            problems.append(
                _missing_file(
                    flow.path,
                    flow.folder,
                    source.path,
                    source.value_range("path") or node.name_range,
                    f"{label}: source file",
                )
            )


# Modules of Prompt flow's own package tools (promptflow-tools); a tool named under
# `promptflow.tools.` elsewhere does not exist, and Prompt flow refuses the node.
PROMPTFLOW_TOOL_MODULES = (
    "aoai", "aoai_gpt4v", "azure_content_safety", "azure_detect", "azure_language_detector",
    "azure_translator", "embedding", "llm", "llm_vision", "open_model_llm", "open_source_llm", "openai",
    "openai_gpt4v", "serpapi", "template_rendering", "whisper",
)  # fmt: skip


def _unknown_package_tool(flow: FlowDag, node: FlowNode, tool: str) -> Problem | None:
    """PW309: a `promptflow.tools.*` package tool that Prompt flow does not have."""
    range_ = node.source.value_range("tool") or node.name_range
    label = f"node '{node.name}'" if node.name else f"node #{node.index + 1}"
    parts = tool.split(".")
    if parts[:2] == ["promptflow", "tools"]:
        module = parts[2] if len(parts) > 2 else ""
        if module in PROMPTFLOW_TOOL_MODULES:
            return None
        guess = suggest(module, PROMPTFLOW_TOOL_MODULES)
        hint = f"did you mean `promptflow.tools.{guess}`?" if guess else (
            "Prompt flow's tools live in promptflow.tools." + ", promptflow.tools.".join(PROMPTFLOW_TOOL_MODULES[:6]) + " ...")
        return Problem(flow.path, range_, Severity.ERROR, "PW309",
                       f"{label}: package tool `{tool}` is not one of Prompt flow's tools, so Prompt flow refuses "
                       f"the node; {hint}")
    return None  # another package's tool: it may be installed where the flow runs, not here


def _two_flow_files(document: FlowDag | FlexFlow, context: AnalysisContext) -> list[Problem]:
    """PW109: flow.dag.yaml and flow.flex.yaml side by side: Prompt flow refuses the folder."""
    other = "flow.flex.yaml" if document.path.name.lower() == "flow.dag.yaml" else "flow.dag.yaml"
    if document.path.name.lower() not in ("flow.dag.yaml", "flow.flex.yaml") or not context.exists(document.folder / other):
        return []
    return [Problem(document.path, Range.empty(0, 0), Severity.ERROR, "PW109",
                    f"{document.path.name} and {other} are both in {document.folder.name or '.'}/: Prompt flow refuses "
                    f"to run the folder (it cannot tell which is the flow); remove one or move it to its own folder")]


def _check_includes(document, context: AnalysisContext, problems: list[Problem]) -> None:
    for relative, range_ in document.additional_includes:
        if not context.exists(document.folder / relative) and not (document.folder / relative).is_dir():
            problems.append(
                _missing_file(
                    document.path, document.folder, relative, range_, "additional include", Severity.WARNING
                )
            )
    environment = document.root.get("environment") if document.root is not None else None
    requirements = getattr(environment, "get", lambda key: None)("python_requirements_txt")
    value = getattr(requirements, "value", None)
    if isinstance(value, str) and value and not context.exists(node_source_path(document, value, context)):
        problems.append(
            _missing_file(
                document.path, document.folder, value, requirements.range, "requirements file", Severity.WARNING
            )
        )


def check_flow_sources(flow: FlowDag, context: AnalysisContext) -> list[Problem]:
    problems: list[Problem] = []
    if flow.root is None:
        return problems
    for node in flow.all_nodes():
        _check_node_source(flow, node, context, problems)
    _check_includes(flow, context, problems)
    problems += _two_flow_files(flow, context)
    return problems


def check_flex_sources(flow: FlexFlow, context: AnalysisContext) -> list[Problem]:
    problems: list[Problem] = []
    if flow.root is None:
        return problems
    if flow.entry is not None and not flow.entry_is_valid:
        problems.append(
            Problem(
                flow.path,
                flow.entry_range or Range.empty(0, 0),
                Severity.ERROR,
                "PW106",
                f"entry '{flow.entry}' is not of the form `module:function` or `module:Class` "
                "(e.g. `entry: chat:ChatFlow` for chat.py); fix the entry",
            )
        )
    elif flow.entry_is_valid:
        candidates = flow.module_candidates()
        if not any(context.exists(candidate) for candidate in candidates):
            relative = flow.module.replace(".", "/") + ".py"
            problems.append(
                _missing_file(
                    flow.path,
                    flow.folder,
                    relative,
                    flow.module_range or flow.entry_range or Range.empty(0, 0),
                    "the entry module",
                )
            )
    _check_includes(flow, context, problems)
    problems += _two_flow_files(flow, context)
    problems += check_file_substitutions(flow, context)
    return problems


def check_file_substitutions(document: Prompty | FlexFlow, context: AnalysisContext) -> list[Problem]:
    """`${file:sample.json}` and the like must exist next to the prompty or flow."""
    problems: list[Problem] = []
    for substitution in document.substitutions:
        if substitution.kind != "file" or not substitution.name:
            continue
        if not context.exists(document.folder / substitution.name):
            problems.append(
                _missing_file(
                    document.path,
                    document.folder,
                    substitution.name,
                    substitution.name_range,
                    "the file",
                )
            )
    return problems


check_prompty_files = check_file_substitutions
