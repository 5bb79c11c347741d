"""Hover: what a node is (kind, inputs, its tool's signature or its template's variables),
what a flow input or output is, what a node input binds to, and where a template variable
comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import logging

from lsprotocol import types

from promptwise.documents.source import Range
from promptwise.lsp.context import DocumentContext, client_range, document_context
from promptwise.lsp.locate import target_at
from promptwise.lsp.references import feeding_inputs, variable_at
from promptwise.lsp.server import PromptwiseServer
from promptwise.lsp.tools import node_source

logger = logging.getLogger("promptwise.lsp.hover")

MAX_VALUE_CHARS = 80


async def hover(ls: PromptwiseServer, params: types.HoverParams) -> types.Hover | None:
    context = await document_context(ls, params.text_document.uri, params.position, latest=True)
    if context is None:
        return None
    found: tuple[str, Range] | None = None
    if context.kind == "flow_dag":
        found = await _flow_hover(ls, context)
    elif context.kind in ("jinja", "prompty"):
        found = await _template_hover(ls, context)
    extra = await _extra_hover(ls, context)
    if found is None and not extra:
        return None
    text = "\n\n".join(part for part in ((found[0] if found else ""), extra) if part)
    range_ = found[1] if found is not None else None
    return types.Hover(
        contents=ls.markup("hover", text),
        range=client_range(ls, context.path, range_, context.lines) if range_ is not None else None,
    )


async def _extra_hover(ls: PromptwiseServer, context: DocumentContext) -> str:
    """Sections other areas add to a hover (the cost breakdown), registered by feature."""
    parts = []
    for provider in ls.extensions.get("hover_providers", ()):
        try:
            part = await provider(ls, context)
        except Exception:  # a failing section must not take the hover down
            logger.exception("hover section %s failed", getattr(provider, "__name__", provider))
            continue
        if part:
            parts.append(part)
    return "\n\n".join(parts)


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    text = text.replace("`", "'").replace("\n", " ")
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


async def describe_node(ls: PromptwiseServer, flow, node) -> str:
    kind = node.type or "node"
    lines = [f"**{node.name}** — {kind} node"]
    if node.variant_of is not None:
        lines[0] += f" (variant `{node.variant_of[1]}`)"
    flags = [flag for flag, on in (("aggregation", node.aggregation), ("use_variants", node.use_variants)) if on]
    if node.activate is not None and node.activate.has_when:
        flags.append(f"runs when `{_short(node.activate.when_value)}` is `{_short(node.activate.is_value)}`")
    if flags:
        lines.append("· ".join(flags))
    source = await node_source(ls, flow, node)
    if node.source is not None and node.source.path:
        lines.append(f"source: `{node.source.path}`")
    elif node.source is not None and node.source.tool:
        lines.append(f"tool: `{node.source.tool}` ({node.source.type or 'package'})")
    if source is not None and source.function is not None:
        lines.append(f"```python\n{source.function.signature()}\n```")
        if source.function.docstring:
            lines.append(source.function.docstring.strip().splitlines()[0])
    elif source is not None and source.template is not None:
        names = source.variable_names
        lines.append("template variables: " + (", ".join(f"`{n}`" for n in names) if names else "none"))
    if node.inputs:
        bound = [f"- `{name}`: `{_short(item.value)}`" for name, item in node.inputs.items()]
        lines.append("inputs:\n" + "\n".join(bound))
    return "\n\n".join(lines)


VARIANT_SETTINGS = ("model", "deployment_name", "temperature", "max_tokens")


def _variants_section(flow, name: str) -> str:
    """The variants of node `name` (from `node_variants`), the default marked, each with what
    tells it apart: its template or tool, its model and sampling settings."""
    variants = flow.node_variants.get(name)
    if variants is None or not variants.variants:
        return ""
    default = variants.default_variant_id
    lines = []
    for variant_id, variant in variants.variants.items():
        label = f"- `{variant_id}`" + (" **(default)**" if variant_id == default else "")
        details = []
        node = variant.node
        if node is not None and node.source is not None and node.source.path:
            details.append(f"`{node.source.path}`")
        if node is not None:
            details += [f"{key} `{_short(node.inputs[key].value)}`" for key in VARIANT_SETTINGS if key in node.inputs]
        if variant.description:
            details.append(_short(variant.description))
        lines.append(label + (": " + " · ".join(details) if details else ""))
    if default is None:
        heading = f"{len(variants.variants)} variants, no `default_variant_id`"
    elif default not in variants.variants:
        heading = f"{len(variants.variants)} variants; the default `{default}` is not one of them"
    else:
        heading = f"{len(variants.variants)} variants, default `{default}`"
    return heading + ":\n" + "\n".join(lines)


def _users_of_input(flow, name: str) -> list[str]:
    users = []
    for where, owner, reference in flow.references():
        if reference.is_flow_input and reference.name == name:
            label = getattr(owner, "name", None) or "?"
            label = f"output `{label}`" if where == "output" else f"`{label}`"
            if label not in users:
                users.append(label)
    return users


async def _flow_hover(ls: PromptwiseServer, context: DocumentContext) -> tuple[str, Range] | None:
    flow = context.model
    target = target_at(flow, context.position)
    if target is None:
        return None
    if target.kind in ("node", "variants"):
        node = flow.node(target.name)
        if node is None:
            return f"no node named `{target.name}` in this flow", target.range
        text = await describe_node(ls, flow, node)
        variants = _variants_section(flow, target.name)
        return "\n\n".join(part for part in (text, variants) if part), target.range
    if target.kind == "variant":
        variant_node = target.node
        parts = [await describe_node(ls, flow, variant_node)] if variant_node is not None else []
        parts.append(_variants_section(flow, target.name))
        return "\n\n".join(part for part in parts if part), target.range
    if target.kind in ("section", "path"):
        node = flow.node(target.name)
        if node is None:  # `${nosuch.output}`: the diagnostics say so too (PW202)
            return f"no node named `{target.name}` in this flow", target.range
        what = f"`{target.reference.text}`: the output of {node.type or ''} node **{target.name}**"
        source = await node_source(ls, flow, node) if node is not None else None
        if source is not None and source.function is not None and source.function.returns:
            what += f", returned as `{source.function.returns}`"
        return what, target.range
    if target.kind == "input":
        flow_input = flow.inputs.get(target.name)
        if flow_input is None:
            return f"no flow input named `{target.name}`; declare it under `inputs:`", target.range
        parts = [f"**{flow_input.name}** — flow input"]
        details = []
        if flow_input.type:
            details.append(f"type `{flow_input.type}`")
        if flow_input.has_default:
            details.append(f"default `{_short(flow_input.default)}`")
        if flow_input.enum:
            details.append("one of " + ", ".join(f"`{_short(v)}`" for v in flow_input.enum))
        if flow_input.is_chat_input:
            details.append("chat input")
        if flow_input.is_chat_history:
            details.append("chat history")
        if details:
            parts.append(" · ".join(details))
        if flow_input.description:
            parts.append(flow_input.description)
        users = _users_of_input(flow, flow_input.name)
        parts.append("used by " + ", ".join(users) if users else "not used by any node or output")
        return "\n\n".join(parts), target.range
    if target.kind == "output":
        output = flow.outputs.get(target.name)
        text = f"**{output.name}** — flow output"
        if output.reference is not None:
            text += f" = `{output.reference.text}`"
        if output.description:
            text += f"\n\n{output.description}"
        return text, target.range
    if target.kind == "source":
        source = await node_source(ls, flow, target.node)
        if source is None:
            return f"`{target.name}` (not found next to the flow)", target.range
        if source.function is not None:
            return f"```python\n{source.function.signature()}\n```", target.range
        if source.template is not None:
            names = source.variable_names
            return "template variables: " + (", ".join(f"`{n}`" for n in names) or "none"), target.range
        return f"`{target.name}`", target.range
    if target.kind == "node_input":
        return await _node_input_hover(ls, flow, target), target.range
    return None


async def _node_input_hover(ls: PromptwiseServer, flow, target) -> str:
    node = target.node
    source = await node_source(ls, flow, node)
    header = f"input `{target.name}` of node **{node.name}**"
    if source is None:
        return header
    parameter = next((p for p in source.parameters if p.name == target.name), None)
    if parameter is not None:
        required = "required" if parameter.required else "optional"
        return f"{header}\n\n```python\n{parameter.describe()}\n```\n{required} parameter of `{source.function.name}`"
    template = source.template
    if template is not None:
        variable = template.variable(target.name)
        if variable is not None:
            return f"{header}\n\ntemplate variable, first used on line {variable.range.start.line + 1} of `{source.path.name}`"
        if node.type in ("llm", "custom_llm") and target.name in LLM_PARAMETERS:
            return f"{header}\n\n{LLM_PARAMETERS[target.name]}"
        return f"{header}\n\nnot used by the template `{source.path.name}`"
    return header


LLM_PARAMETERS = {
    "deployment_name": "the Azure OpenAI deployment to call",
    "model": "the model to call (OpenAI connections)",
    "temperature": "sampling temperature (0-2)",
    "top_p": "nucleus sampling probability mass",
    "max_tokens": "the most tokens the answer may take",
    "stop": "sequences that end the answer",
    "presence_penalty": "penalty for tokens already present",
    "frequency_penalty": "penalty proportional to token frequency",
    "logit_bias": "per-token bias",
    "response_format": "e.g. `{type: json_object}`",
    "tools": "tool (function) definitions the model may call",
    "tool_choice": "which tool the model must call, if any",
    "seed": "seed for more repeatable sampling",
    "n": "how many answers to generate",
    "user": "an end-user id for abuse monitoring",
    "suffix": "text after the completion (completion API)",
    "echo": "echo the prompt (completion API)",
    "logprobs": "return log probabilities",
    "best_of": "server-side candidates (completion API)",
    "function_call": "legacy function calling control",
    "functions": "legacy function definitions",
    "detail": "image detail level (vision)",
}


async def _template_hover(ls: PromptwiseServer, context: DocumentContext) -> tuple[str, Range] | None:
    model = context.model
    template = model if context.kind == "jinja" else getattr(model, "template", None)
    variable = variable_at(template, context.position)
    if variable is None:
        return None
    use = next(u for u in (variable.uses or (variable.range,)) if u.start <= context.position <= u.end)
    lines = [f"**{variable.name}** — template variable"]
    if context.kind == "prompty":
        declared = model.inputs.get(variable.name)
        if declared is None:
            lines.append("not declared under `inputs:`; it would render empty")
        else:
            details = [f"type `{declared.type}`"] if declared.type else []
            if declared.has_default:
                details.append(f"default `{_short(declared.default)}`")
            if declared.sample is not None:
                details.append(f"sample `{_short(declared.sample)}`")
            if details:
                lines.append(" · ".join(details))
            if declared.description:
                lines.append(declared.description)
    feeders = await feeding_inputs(ls, context.path, variable.name)
    for flow_path, key_range in feeders:
        lines.append(f"supplied by `{Path(flow_path).parent.name}/{Path(flow_path).name}` line {key_range.start.line + 1}")
    return "\n\n".join(lines), use
