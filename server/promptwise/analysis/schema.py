"""Schemas of flow.dag.yaml, flow.flex.yaml and .prompty front matter, and the walk that
checks a YAML tree against them: unknown keys with a did-you-mean (PW103), wrong value
types (PW104), missing required keys (PW105), values outside a fixed set (PW106).

Written from Prompt flow's own contracts (promptflow.contracts.flow and the SDK's marshmallow
schemas) and the Prompty spec. A schema is plain data (`Spec`), so the language server can
also use it for key completion (`known_keys`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from promptwise.analysis.edits import insert_key_fix
from promptwise.analysis.problem import Fix, Problem, Severity, TextEdit
from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import YamlMapping, YamlNode, YamlScalar, YamlSequence, describe

# Kinds a value may have
STR, BOOL, INT, NUMBER, MAP, LIST, ANY = "string", "boolean", "integer", "number", "mapping", "list", "any"

_KIND_WORDS = {
    STR: "a string",
    BOOL: "true or false",
    INT: "an integer",
    NUMBER: "a number",
    MAP: "a mapping (`key: value` lines)",
    LIST: "a list (`- item` lines)",
}


@dataclass
class Spec:
    """What a YAML value may be. `keys`: fixed keys of a mapping; `values`: the spec of every
    value of a free-form mapping (`inputs: {name: ...}`); `items`: the spec of list items."""

    kinds: tuple[str, ...] = (ANY,)
    required: bool = False
    one_of: tuple[str, ...] | None = None
    keys: dict[str, "Spec"] | None = None
    values: "Spec | None" = None
    items: "Spec | None" = None
    open: bool = False  # unknown keys allowed
    unknown_severity: Severity = Severity.ERROR
    what: str = ""  # how messages name the thing, e.g. "node"
    hint: str = ""  # what a missing required key's value looks like, e.g. "${inputs.x}"
    waived_by: str | None = None  # not required when the mapping sets this key to true
    fix_value: str | None = None  # a safe value a quick fix may insert when the key is missing
    unknown_effect: str = "Prompt flow ignores it"  # what happens to an unknown key


def spec(*kinds: str, **options) -> Spec:
    return Spec(kinds=kinds or (ANY,), **options)


VALUE_TYPES = ("string", "int", "double", "bool", "list", "object", "dict", "image", "file_path")
NODE_TYPES = ("llm", "python", "prompt", "custom_llm")
SOURCE_TYPES = ("code", "package", "package_with_prompt")


# Prompt flow ignores keys of a flow it does not know (its validation lists them as warnings),
# so an unknown key is a warning here too; our own settings file keeps them errors.
UNKNOWN_IN_FLOWS = Severity.WARNING


def _flow_input_spec(value_types: tuple[str, ...], fix_value: str | None = None) -> Spec:
    """A flow input of a DAG or a flex flow: they differ in the types they accept and in
    whether a quick fix may fill in a missing type."""
    return spec(
        MAP,
        what="flow input",
        unknown_severity=UNKNOWN_IN_FLOWS,
        keys={
            "type": spec(STR, required=True, one_of=value_types, hint="string", fix_value=fix_value),
            "default": spec(ANY),
            "description": spec(STR),
            "enum": spec(LIST),
            "is_chat_input": spec(BOOL),
            "is_chat_history": spec(BOOL),
        },
    )


FLOW_INPUT = _flow_input_spec(VALUE_TYPES, fix_value="string")

FLOW_OUTPUT = spec(
    MAP,
    what="flow output",
    unknown_severity=UNKNOWN_IN_FLOWS,
    keys={
        "type": spec(STR, required=True, one_of=VALUE_TYPES, hint="string", fix_value="string"),
        "reference": spec(STR, required=True, hint="${node_name.output}"),
        "description": spec(STR),
        "is_chat_output": spec(BOOL),
        "evaluation_only": spec(BOOL),
    },
)


def _node_spec(name_required: bool) -> Spec:
    return spec(
        MAP,
        what="node",
        unknown_severity=UNKNOWN_IN_FLOWS,
        keys={
            "name": spec(STR, required=name_required, hint="my_node"),
            # a node with `use_variants: true` takes its type and source from its variants
            "type": spec(STR, required=True, one_of=NODE_TYPES, hint="python", waived_by="use_variants"),
            "source": spec(
                MAP,
                what="node source",
                unknown_severity=UNKNOWN_IN_FLOWS,
                keys={
                    "type": spec(STR, one_of=SOURCE_TYPES),
                    "path": spec(STR),
                    "tool": spec(STR),
                },
            ),
            "inputs": spec(MAP, open=True),
            "connection": spec(STR),
            "api": spec(STR, one_of=("chat", "completion")),  # the llm tool's two APIs
            "provider": spec(STR),
            "module": spec(STR),
            "tool": spec(STR),
            "comment": spec(STR),
            "aggregation": spec(BOOL),
            "reduce": spec(BOOL),
            "enable_cache": spec(BOOL),
            "use_variants": spec(BOOL),
            "activate": spec(
                MAP,
                what="activate condition",
                unknown_severity=UNKNOWN_IN_FLOWS,
                keys={
                    "when": spec(ANY, required=True, hint="${node_name.output}"),
                    "is": spec(ANY, required=True, hint="true"),
                },
            ),
        },
    )


NODE = _node_spec(name_required=True)
VARIANT_NODE = _node_spec(name_required=False)

NODE_VARIANTS = spec(
    MAP,
    what="node variants",
    unknown_severity=UNKNOWN_IN_FLOWS,
    keys={
        "default_variant_id": spec(STR, required=True, hint="variant_0"),
        "variants": spec(
            MAP,
            required=True,
            values=spec(
                MAP,
                what="variant",
                unknown_severity=UNKNOWN_IN_FLOWS,
                keys={"node": VARIANT_NODE, "description": spec(STR)},
            ),
        ),
    },
)

_COMMON_FLOW_KEYS = {
    "$schema": spec(STR),
    "id": spec(STR),
    "name": spec(STR),
    "display_name": spec(STR),
    "description": spec(STR),
    "type": spec(STR),
    "language": spec(STR),
    "tags": spec(MAP, open=True),
    "environment": spec(
        MAP,
        open=True,
        what="environment",
        unknown_severity=UNKNOWN_IN_FLOWS,
        keys={"python_requirements_txt": spec(STR), "image": spec(STR)},
    ),
    "environment_variables": spec(MAP, open=True),
    "additional_includes": spec(LIST, items=spec(STR)),
}

FLOW_DAG = spec(
    MAP,
    what="flow",
    unknown_severity=UNKNOWN_IN_FLOWS,
    keys={
        **_COMMON_FLOW_KEYS,
        "inputs": spec(MAP, values=FLOW_INPUT),
        "outputs": spec(MAP, values=FLOW_OUTPUT),
        "nodes": spec(LIST, items=NODE),
        "node_variants": spec(MAP, values=NODE_VARIANTS),
        "message_format": spec(STR),
        "tools": spec(LIST),
    },
)

FLEX_VALUE_TYPES = ("string", "int", "double", "bool", "list", "object")

FLEX_FLOW = spec(
    MAP,
    what="flex flow",
    unknown_severity=UNKNOWN_IN_FLOWS,
    keys={
        **_COMMON_FLOW_KEYS,
        "entry": spec(STR, required=True, hint="module:function"),
        "path": spec(STR),
        "inputs": spec(MAP, values=_flow_input_spec(FLEX_VALUE_TYPES)),
        "outputs": spec(
            MAP,
            values=spec(
                MAP,
                what="flow output",
                unknown_severity=UNKNOWN_IN_FLOWS,
                keys={
                    "type": spec(STR, required=True, one_of=FLEX_VALUE_TYPES, hint="string"),
                    "description": spec(STR),
                    "is_chat_output": spec(BOOL),
                },
            ),
        ),
        # init types may also be connection or model-configuration class names
        "init": spec(
            MAP,
            values=spec(
                MAP,
                what="init parameter",
                keys={
                    "type": spec(STR, required=True, hint="string"),
                    "default": spec(ANY),
                    "description": spec(STR),
                },
            ),
        ),
        "sample": spec(ANY),
    },
)

PROMPTY_INPUT = spec(
    MAP,
    what="prompty input",
    unknown_severity=Severity.WARNING,  # runtimes ignore keys they do not know
    keys={
        "type": spec(STR),
        "default": spec(ANY),
        "description": spec(STR),
        "sample": spec(ANY),
        "is_chat_input": spec(BOOL),
        "is_chat_history": spec(BOOL),
        "required": spec(BOOL),
        "enum": spec(LIST),
    },
)

# Prompt flow's prompty shape. Unknown keys are warnings: Prompty runtimes ignore them, but
# a typo (`paramters:`) silently drops the settings.
PROMPTY_PROMPTFLOW = spec(
    MAP,
    what="prompty front matter",
    unknown_severity=Severity.WARNING,
    keys={
        "$schema": spec(STR),
        "name": spec(STR),
        "description": spec(STR),
        "version": spec(STR, NUMBER),
        "authors": spec(LIST),
        "tags": spec(LIST, MAP),
        "metadata": spec(MAP, open=True),
        "base": spec(STR),
        "model": spec(
            MAP,
            what="model",
            unknown_severity=Severity.WARNING,
            keys={
                # Prompt flow runs chat and completion; Prompty 1 files also use embedding, image
                "api": spec(STR, one_of=("chat", "completion", "embedding", "image")),
                "configuration": spec(
                    MAP,
                    what="model configuration",
                    unknown_severity=Severity.WARNING,
                    keys={
                        # allowed values are checked by analysis/prompty_checks (a `type` beside a
                        # `connection` is ignored by Prompt flow, so there it is only a warning)
                        "type": spec(STR),
                        "azure_deployment": spec(STR),
                        "azure_endpoint": spec(STR),
                        "api_version": spec(STR),
                        "api_key": spec(STR),
                        "model": spec(STR),
                        "base_url": spec(STR),
                        "organization": spec(STR),
                        "connection": spec(STR),
                        "name": spec(STR),
                        "endpoint": spec(STR),
                    },
                ),
                "parameters": spec(MAP, open=True),
                "response": spec(STR, one_of=("first", "all")),
                # early Prompty files named the connection here instead of in `configuration`
                "connection": spec(STR, MAP),
            },
        ),
        "inputs": spec(MAP, values=spec(MAP, STR, NUMBER, BOOL, LIST, keys=PROMPTY_INPUT.keys, what="prompty input",
                                    unknown_severity=PROMPTY_INPUT.unknown_severity)),
        "outputs": spec(MAP, open=True),
        "sample": spec(MAP, STR),
        "template": spec(STR, MAP),
    },
)

# The newer Prompty spec: open everywhere except the keys whose spelling matters most.
PROMPTY_SPEC = spec(
    MAP,
    what="prompty front matter",
    unknown_severity=Severity.WARNING,
    keys={
        "$schema": spec(STR),
        "id": spec(STR),
        "kind": spec(STR),
        "name": spec(STR),
        "description": spec(STR),
        "version": spec(STR, NUMBER),
        "authors": spec(LIST),
        "tags": spec(LIST, MAP),
        "metadata": spec(MAP, open=True),
        "model": spec(
            MAP,
            STR,
            what="model",
            unknown_severity=Severity.WARNING,
            keys={
                "id": spec(STR),
                "provider": spec(STR),
                "apiType": spec(STR),
                "api": spec(STR),
                "connection": spec(MAP, open=True),
                "options": spec(MAP, open=True),
                "configuration": spec(MAP, open=True),
                "parameters": spec(MAP, open=True),
            },
        ),
        "inputs": spec(
            LIST,
            MAP,
            items=spec(MAP, open=True, what="prompty input", keys={"name": spec(STR, required=True, hint="question")}),
        ),
        "outputs": spec(LIST, MAP),
        # Prompty 2: `inputSchema: {properties: [{name, kind, default}]}`, same for outputs
        "inputSchema": spec(MAP, open=True),
        "outputSchema": spec(MAP, open=True),
        "sample": spec(MAP, STR),
        "template": spec(STR, MAP),
        "tools": spec(LIST),
        "instructions": spec(STR),
        "additionalInstructions": spec(STR),
    },
)


@dataclass
class SchemaContext:
    path: Path
    problems: list[Problem] = field(default_factory=list)
    # collections already checked: an alias (`*x`) shares its anchor's node, and walking it
    # again for every alias would let a small file make the walk exponential
    seen: set[int] = field(default_factory=set)
    text: str = ""  # the file's text, for fixes that insert lines

    def add(self, code: str, range_: Range, message: str, severity=Severity.ERROR, fixes=()) -> None:
        self.problems.append(Problem(self.path, range_, severity, code, message, tuple(f for f in fixes if f)))


FILE_REFERENCE = re.compile(r"^\$\{file:[^}]+\}$")


def _kind_ok(node: YamlNode, kinds: tuple[str, ...]) -> bool:
    if ANY in kinds:
        return True
    if isinstance(node, YamlMapping):
        return MAP in kinds
    if isinstance(node, YamlSequence):
        return LIST in kinds
    value = node.value if isinstance(node, YamlScalar) else None
    if value is None:
        return True  # empty values are judged by `required`, not by type
    if isinstance(value, bool):
        return BOOL in kinds
    if isinstance(value, int):
        return bool({INT, NUMBER, STR} & set(kinds))  # YAML `name: 1` is fine as a string
    if isinstance(value, float):
        return bool({NUMBER, STR} & set(kinds))
    if isinstance(value, str):
        # `${file:x.json}` stands for the file's content, whatever it holds (Prompt flow and
        # Prompty resolve the reference anywhere in a prompty's or flex flow's settings)
        return STR in kinds or bool(FILE_REFERENCE.match(value.strip()))
    return STR in kinds  # dates and the like read as text


def _want(kinds: tuple[str, ...]) -> str:
    words = [_KIND_WORDS[k] for k in kinds if k in _KIND_WORDS]
    return " or ".join(words) if words else "a value"


def suggest(word: str, choices) -> str | None:
    """The closest known spelling, for did-you-mean messages and fixes."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return lowered[word.lower()]
    import difflib  # here: only a misspelling needs it

    match = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return match[0] if match else None


def _replace_fix(path: Path, range_: Range, new_text: str, title: str) -> Fix:
    return Fix(title, (TextEdit(path, range_, new_text),))


def check_node(
    node: YamlNode | None,
    rule: Spec,
    where: str,
    context: SchemaContext,
    depth: int = 0,
    anchor: YamlNode | None = None,
) -> None:
    """Check `node` (the value) against `rule`. `where` names it in messages, e.g.
    "nodes[2].type"; `anchor` is the key node the value sits under (where a missing key
    is reported)."""
    if node is None or depth > 40:
        return
    if not isinstance(node, YamlScalar):
        if id(node) in context.seen:
            return
        context.seen.add(id(node))
    if not _kind_ok(node, rule.kinds):
        context.add(
            "PW104",
            node.range,
            f"{_quote(where)} must be {_want(rule.kinds)}, not {describe(node)}; change the value",
        )
        return
    if (rule.one_of and isinstance(node, YamlScalar) and node.value is not None
            and not FILE_REFERENCE.match(str(node.value).strip())):
        text = str(node.value)
        if text not in rule.one_of:
            guess = suggest(text, rule.one_of)
            options = ", ".join(rule.one_of)
            if guess:
                context.add(
                    "PW106",
                    node.range,
                    f"{_quote(where)} is '{text}', which is not one of: {options}; did you mean '{guess}'?",
                    fixes=[_replace_fix(context.path, node.range, guess, f"Change to '{guess}'")],
                )
            else:
                context.add(
                    "PW106",
                    node.range,
                    f"{_quote(where)} is '{text}', which is not one of: {options}; use one of them",
                )
    if isinstance(node, YamlMapping):
        _check_mapping(node, rule, where, context, depth, anchor)
    elif isinstance(node, YamlSequence) and rule.items is not None:
        for index, item in enumerate(node.items):
            check_node(item, rule.items, f"{where}[{index}]", context, depth + 1)


def _item_name(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _quote(where: str) -> str:
    return f"`{where}`" if where else "the file"


def _missing_anchor(node: YamlMapping, anchor: YamlNode | None) -> Range:
    """Where to report a key missing from `node`: the key it sits under, else its `name`
    value (a list item such as a node), else its first key."""
    if anchor is not None:
        return anchor.range
    name = node.get("name")
    if isinstance(name, YamlScalar) and name.value is not None:
        return name.range
    return node.entries[0].key.range if node.entries else node.range


def _check_mapping(
    node: YamlMapping, rule: Spec, where: str, context: SchemaContext, depth: int, anchor: YamlNode | None
) -> None:
    what = rule.what or "mapping"
    if rule.keys is not None:
        known = rule.keys
        for entry in node.entries:
            key = entry.key_text
            if key is None:
                context.add("PW104", entry.key.range, f"keys in {what} must be plain names; write `name: value`")
                continue
            child = known.get(key)
            if child is None:
                if rule.open:
                    continue
                _unknown_key(entry.key, key, known, what, rule, context)
                continue
            if child.required and isinstance(entry.value, YamlScalar) and entry.value.value is None:
                context.add(
                    "PW105",
                    entry.value.range if entry.value.range.start != entry.value.range.end else entry.key.range,
                    f"{_quote(_item_name(where, key))} is empty; give it a value"
                    + (f", e.g. `{key}: {child.hint}`" if child.hint else ""),
                )
                continue
            check_node(entry.value, child, _item_name(where, key), context, depth + 1, entry.key)
        missing = [
            name
            for name, child in known.items()
            if child.required and name not in node and not _waived(node, child)
        ]
        if missing:
            missing_at = _missing_anchor(node, anchor)
            for name in missing:
                example = f" `{name}: {known[name].hint}`" if known[name].hint else f" `{name}:`"
                fix = None
                if known[name].fix_value is not None and context.text:
                    fix = insert_key_fix(
                        context.path,
                        node,
                        context.text,
                        f"{name}: {known[name].fix_value}",
                        f"Add `{name}: {known[name].fix_value}`",
                    )
                context.add(
                    "PW105",
                    missing_at,
                    f"{what} {_describe_where(where)}is missing `{name}`; add{example}",
                    fixes=[fix],
                )
    if rule.values is not None:
        for entry in node.entries:
            key = entry.key_text or "?"
            value_where = f"{where}.{key}" if where else key
            value = entry.value
            if isinstance(value, YamlScalar) and value.value is None and MAP in rule.values.kinds and rule.values.keys:
                required = [k for k, s in rule.values.keys.items() if s.required]
                if required:
                    context.add(
                        "PW105",
                        entry.key.range,
                        f"{rule.values.what or 'entry'} `{key}` has no settings; add "
                        + ", ".join(f"`{r}`" for r in required)
                        + " under it",
                    )
                    continue
            check_node(value, rule.values, value_where, context, depth + 1, entry.key)


def _waived(node: YamlMapping, child: Spec) -> bool:
    if child.waived_by is None:
        return False
    flag = node.get(child.waived_by)
    return isinstance(flag, YamlScalar) and flag.value is True


def _describe_where(where: str) -> str:
    return f"`{where}` " if where else ""


def _unknown_key(key_node: YamlNode, key: str, known: dict, what: str, rule: Spec, context: SchemaContext) -> None:
    severity = rule.unknown_severity
    guess = suggest(key, known)
    if guess:
        context.add(
            "PW103",
            key_node.range,
            f"unknown key '{key}' in {what}; did you mean '{guess}'?",
            severity,
            [_replace_fix(context.path, key_node.range, guess, f"Rename to '{guess}'")],
        )
    else:
        listed = ", ".join(sorted(k for k in known if not k.startswith("$")))
        context.add(
            "PW103",
            key_node.range,
            f"unknown key '{key}' in {what}; {rule.unknown_effect}. Known keys: {listed}. "
            "Remove it or fix its spelling",
            severity,
        )


def check_document_schema(root: YamlNode | None, rule: Spec, path: Path, text: str = "") -> list[Problem]:
    context = SchemaContext(path, text=text)
    check_node(root, rule, "", context)
    return context.problems


def spec_at(rule: Spec | None, yaml_path: list[str]) -> Spec | None:
    """The spec of the value at a path such as ['nodes', '*', 'source'] (a list item or a
    free-form mapping's value takes any name), or None where the schema says nothing."""
    current = rule
    for part in yaml_path:
        if current is None:
            return None
        if current.keys is not None and part in current.keys:
            current = current.keys[part]
        elif current.values is not None:
            current = current.values
        elif current.items is not None:
            current = current.items
        else:
            return None
    return current


def known_keys(rule: Spec, yaml_path: list[str]) -> list[str]:
    """Keys allowed at a path such as ['nodes', '*', 'source'] (for completion)."""
    current = spec_at(rule, yaml_path)
    return sorted(current.keys) if current is not None and current.keys else []
