"""PW4xx: Jinja templates and the variables they read.

Codes:
  PW401  Jinja syntax error, at the template's own line (template file or .prompty body)
  PW402  the template a node uses has a syntax error (on the node's `source.path`)
  PW403  the template reads a variable its node / prompty does not provide: Jinja would
         render it as empty text (reported at the variable in the template, and on the node)
  PW404  an input the node / prompty provides that the template never reads (warning)

Prompt flow passes an llm or prompt node's inputs to its template as variables; for llm
nodes, the inputs the LLM tool itself takes (deployment_name, temperature ...) are not.
A missing template file is PW301, reported with every node kind's by analysis/sources.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptwise.analysis.edits import remove_entry_fix
from promptwise.analysis.problem import Fix, Problem, Severity, TextEdit
from promptwise.analysis.prompty_checks import sample_keys
from promptwise.analysis.schema import suggest
from promptwise.analysis.tools import SourceFiles, ensure_context, node_source_path, relative, replaced_by_variants
from promptwise.documents.flow_dag import FlowDag, FlowNode
from promptwise.documents.jinja_template import JinjaTemplate
from promptwise.documents.prompty import Prompty
from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import YamlMapping

TEMPLATE_NODE_TYPES = ("llm", "prompt", "custom_llm")
# Parameters of Prompt flow's LLM tools (chat / completion / vision): an llm node's inputs
# with these names go to the API call, not to the template.
LLM_PARAMETERS = frozenset(
    {"connection", "deployment_name", "model", "temperature", "top_p", "n", "stream", "stop",
     "max_tokens", "max_completion_tokens", "presence_penalty", "frequency_penalty",
     "logit_bias", "user", "function_call", "functions", "response_format", "seed", "tools",
     "tool_choice", "suffix", "echo", "best_of", "logprobs", "top_logprobs", "detail",
     "api", "prompt", "reasoning_effort"}
)  # fmt: skip
JINJA_FORMATS = (None, "", "jinja2", "jinja")


def _problem(path: Path, range_: Range, code: str, message: str, fixes=(), severity=Severity.ERROR) -> Problem:
    return Problem(path, range_, severity, code, message, tuple(fixes))


def syntax_problems(template: JinjaTemplate, path: Path | None = None) -> list[Problem]:
    """PW401 for a template (or .prompty body) with a Jinja syntax error."""
    error = template.syntax_error
    if error is None:
        return []
    return [
        _problem(
            path or template.path, error.range, "PW401",
            f"{error.message}; fix the template here (until then it cannot render at all)",
        )  # fmt: skip
    ]


def _rename_uses_fix(path: Path, template: JinjaTemplate, name: str, new_name: str) -> Fix:
    variable = template.variable(name)
    uses = variable.uses if variable is not None else ()
    return Fix(
        f"Use `{new_name}` instead",
        tuple(TextEdit(path, use, new_name) for use in uses),
    )


def _pairs(used: list[str], provided: list[str]) -> dict[str, str]:
    """Did-you-mean pairs: variable read but not provided -> a provided input not read."""
    unread = [p for p in provided if p not in used]
    pairs: dict[str, str] = {}
    for name in used:
        if name in provided:
            continue
        guess = suggest(name, [u for u in unread if u not in pairs.values()])
        if guess:
            pairs[name] = guess
    return pairs


# ------------------------------------------------------------------ flow nodes


def _template_path_range(node: FlowNode) -> Range:
    if node.source is not None:
        found = node.source.value_range("path")
        if found is not None:
            return found
    return node.name_range


def _template_of(node: FlowNode) -> str | None:
    source = node.source
    if source is None or not source.path:
        return None
    if node.type == "custom_llm" and source.type != "package_with_prompt":
        return None
    if source.type not in (None, "code", "package_with_prompt"):
        return None
    return source.path


def template_for_node(flow: FlowDag, node: FlowNode, context: Any = None) -> JinjaTemplate | None:
    """The parsed template an llm/prompt node renders (for hover and completion: its
    `variables` are the inputs the node should pass). None when there is none to read."""
    template_file = _template_of(node) if node.type in TEMPLATE_NODE_TYPES else None
    if template_file is None:
        return None
    context = ensure_context(flow, context)
    template = SourceFiles(context).load(node_source_path(flow, template_file, context))
    return template if isinstance(template, JinjaTemplate) else None


def call_parameters(node: FlowNode) -> frozenset[str]:
    """Names among a node's inputs that are NOT template variables (LLM call parameters)."""
    return LLM_PARAMETERS if node.type in ("llm", "custom_llm") else frozenset()


def check_template_node(document: FlowDag, node: FlowNode, files: SourceFiles) -> list[Problem]:
    template_file = _template_of(node)
    if template_file is None:
        return []
    template = files.load(node_source_path(document, template_file, files.context))
    if not isinstance(template, JinjaTemplate):
        return []  # missing (PW301 from the source checks), unreadable, or not a template
    shown = relative(template.path, document.folder)
    if template.syntax_error is not None:
        line = template.syntax_error.range.start.line + 1
        return syntax_problems(template) + [
            _problem(
                document.path, _template_path_range(node), "PW402",
                f"template {shown} has a Jinja syntax error at line {line} "
                f"({template.syntax_error.message.removeprefix('Jinja syntax error: ')}); fix the template",
            )  # fmt: skip
        ]
    if node.type in ("llm", "custom_llm") and "prompt" in node.inputs:
        return []  # the llm tool's `prompt` input replaces the template file: the file is not sent
    parameters = call_parameters(node)
    provided = [name for name in node.inputs if name not in parameters]
    used = template.variable_names
    pairs = _pairs(used, provided)
    problems: list[Problem] = []
    for variable in template.variables:
        name = variable.name
        if name in provided:
            continue
        line = variable.range.start.line + 1
        if name in parameters:
            guess = None
            reason = f"`{name}` is a parameter of the LLM call, which Prompt flow does not pass to the template"
            todo = node_todo = "pass the value under another input name and read that in the template"
        else:
            guess = pairs.get(name)
            reason = "it would render as empty text"
            if guess:
                todo = f"did you mean `{guess}`?"
                node_todo = f"input `{guess}` looks like a misspelling of it: rename it"
            else:
                todo = node_todo = f"add `{name}: ${{inputs.{name}}}` (or another value) under the node's inputs"
        problems.append(
            _not_provided(
                template.path, template, variable, guess,
                f"`{name}` is not provided by node `{node.name}` ({document.path.name}): {reason}; {todo}",
            )  # fmt: skip
        )
        node_fixes = []
        anchor = _inputs_anchor(node)
        if guess:
            anchor = node.inputs[guess].key_range
            node_fixes.append(Fix(f"Rename input `{guess}` to `{name}`", (TextEdit(document.path, anchor, name),)))
        problems.append(
            _problem(
                document.path, anchor, "PW403",
                f"template {shown} reads `{name}` (line {line}) but node `{node.name}` does not provide it: "
                f"{reason}; {node_todo}",
                node_fixes,
            )  # fmt: skip
        )
    inputs_mapping = node.value_node("inputs")
    for name in provided:
        if name in used or name in pairs.values():
            continue
        problems.append(
            _unused_input(
                document, inputs_mapping, name, node.inputs[name].key_range,
                f"input `{name}` of node `{node.name}` is never used by template {shown}; "
                f"read it with `{{{{ {name} }}}}` or remove the input",
            )  # fmt: skip
        )
    return problems


def _not_provided(path: Path, template: JinjaTemplate, variable, guess: str | None, message: str) -> Problem:
    """PW403 at a template variable no input provides; with a `guess` (a provided input it
    looks like a misspelling of), a fix that renames the variable's uses to it."""
    fixes = [_rename_uses_fix(path, template, variable.name, guess)] if guess else []
    return _problem(path, variable.range, "PW403", message, fixes)


def _unused_input(document: FlowDag | Prompty, inputs_node, name: str, range_: Range, message: str) -> Problem:
    """PW404 (warning) for an input the template never reads, with a fix that removes its
    entry when the inputs are written as a mapping."""
    fix = None
    if isinstance(inputs_node, YamlMapping):
        fix = remove_entry_fix(document.path, inputs_node, name, document.text, f"Remove input `{name}`")
    return _problem(document.path, range_, "PW404", message, [fix] if fix else [], Severity.WARNING)


def _inputs_anchor(node: FlowNode) -> Range:
    return (node.key_range("inputs") if node.mapping is not None else None) or node.name_range


# ------------------------------------------------------------------ prompty


def prompty_input_names(document: Prompty, context: Any = None) -> list[str] | None:
    """The inputs a prompty's template receives, as Prompt flow resolves its signature: the
    `inputs:` section, else the keys of `sample` (a mapping or a `${file:x.json}`); None when
    there is neither, and the prompty passes whatever it is called with to the template."""
    if document.declares_inputs or document.inputs:
        return list(document.inputs)
    section = "inputs" if document.inputs_file else "sample"  # Prompty 1: `inputs: ${file:values.json}`
    keys = [key for key, _, _ in sample_keys(document, context, section)]
    return keys or None


def check_prompty(document: Prompty, context: Any = None) -> list[Problem]:
    template = document.template
    if template is None or document.template_format not in JINJA_FORMATS:
        return []  # mustache and other formats are not Jinja
    if template.syntax_error is not None:
        return syntax_problems(template, document.path)
    provided = prompty_input_names(document, context)
    if provided is None:
        return []  # no inputs and no sample: every variable is whatever the caller passes
    used = template.variable_names
    pairs = _pairs(used, provided)
    problems: list[Problem] = []
    has_inputs = document.root is not None and "inputs" in document.root
    # Prompty's runtime merges `sample` into the inputs (so does `promptwise run`); Prompt flow
    # passes declared inputs only. A variable only the sample gives is a warning, not an error.
    sampled = {key for key, _, _ in sample_keys(document, context)} if document.declares_inputs else set()
    for variable in template.variables:
        name = variable.name
        if name in provided:
            continue
        if name in sampled:
            problems.append(_problem(
                document.path, variable.range, "PW403",
                f"`{name}` comes only from `sample`: Prompty and promptwise pass it, but Prompt flow passes "
                f"declared inputs only and renders it as empty text; declare `{name}` under `inputs:`",
                severity=Severity.WARNING))
            continue
        guess = pairs.get(name)
        todo = (
            f"did you mean `{guess}`?" if guess
            else "declare it under `inputs:` in the front matter" + ("" if has_inputs else " (add an `inputs:` section)")
        )  # fmt: skip
        problems.append(
            _not_provided(
                document.path, template, variable, guess,
                f"`{name}` is not an input of this prompt: it would render as empty text; {todo}",
            )  # fmt: skip
        )
    inputs_node = document.root.get("inputs") if document.root is not None else None
    for name, prompty_input in document.inputs.items():
        if name in used or name in pairs.values() or prompty_input.from_sample:
            continue  # a sample value the template does not read is harmless
        problems.append(
            _unused_input(
                document, inputs_node, name, prompty_input.name_range,
                f"input `{name}` is never used in the prompt; read it with `{{{{ {name} }}}}` or remove it",
            )  # fmt: skip
        )
    return problems


# ------------------------------------------------------------------ entry point


def check(document: Any, context: Any = None) -> list[Problem]:
    """PW4xx problems of a flow.dag.yaml (its llm/prompt nodes), a .prompty, or a template."""
    if isinstance(document, JinjaTemplate):
        return syntax_problems(document)
    if isinstance(document, Prompty):
        return check_prompty(document, ensure_context(document, context))
    if not isinstance(document, FlowDag):
        return []
    files = SourceFiles(ensure_context(document, context))
    problems: list[Problem] = []
    for node in document.all_nodes():
        if node.type in TEMPLATE_NODE_TYPES and not replaced_by_variants(document, node):
            problems.extend(check_template_node(document, node, files))
    return problems
