"""The `.prompty` document: YAML front matter between `---` lines, then a Jinja2 body.

Two shapes are in the wild and both are read:
- Prompt flow's: `model: {api, configuration: {type, azure_deployment | model, ...},
  parameters, response}`, `inputs:` a mapping of name -> {type, default, description},
  `outputs`, `sample` (a mapping or `${file:sample.json}`).
- The newer Prompty spec: `model: {id, provider, apiType, connection, options}` (or just
  `model: gpt-4o`), `inputs:` a list of {name, kind, default, description, sample},
  `template: {format, parser}`.
Values may hold `${env:NAME}` / `${file:path}` substitutions, collected with their ranges.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptwise.documents.common import (
    EMPTY_RANGE,
    Severity,
    Element,
    YamlBackedDocument,
    as_mapping,
    as_sequence,
    boolean,
    plain,
    record_yaml_problems,
    string,
)
from promptwise.documents.jinja_template import JinjaTemplate, parse_jinja_template
from promptwise.documents.references import Substitution, collect_substitutions
from promptwise.documents.render import RoleSection, find_role_sections
from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import YamlMapping, YamlNode, YamlScalar, parse_yaml, to_python

SHAPE_PROMPTFLOW = "promptflow"
SHAPE_PROMPTY = "prompty_spec"  # the newer Prompty spec


@dataclass
class PromptyInput(Element):
    name: str
    name_range: Range
    type: str | None = None  # `type` (Prompt flow) or `kind` (Prompty spec)
    default: Any = None
    has_default: bool = False
    description: str | None = None
    sample: Any = None
    required: bool | None = None
    # Taken from the front matter's `sample` because there is no `inputs:` section (Prompt
    # flow's input signature is then the sample's keys).
    from_sample: bool = False
    # Which input takes a chat's user message and which its history (served as
    # /v1/chat/completions); without them, `chat_history` and one other input make a chat.
    is_chat_input: bool = False
    is_chat_history: bool = False


@dataclass
class PromptyModel(Element):
    """Both shapes' model settings; unset fields are None."""

    # Prompt flow shape
    api: str | None = None  # chat | completion
    configuration: dict = field(default_factory=dict)
    configuration_type: str | None = None  # azure_openai | openai | ...
    parameters: dict = field(default_factory=dict)
    response: str | None = None  # first | all
    # Prompty spec shape
    id: str | None = None
    provider: str | None = None
    api_type: str | None = None
    connection: Any = None
    options: dict = field(default_factory=dict)
    # `configuration: ${file:config.json}` and the like: sections written as a file reference,
    # which the engine loads (section -> the reference as written)
    file_sections: dict = field(default_factory=dict)

    @property
    def model_name(self) -> str | None:
        """The model or deployment the prompt calls, whichever the file names (text only:
        a number such as `model: 3.5` names no model)."""
        for name in (self.id, self.configuration.get("azure_deployment"), self.configuration.get("model"),
                     self.configuration.get("deployment_name")):
            if isinstance(name, str) and name:
                return name
        return None

    @property
    def effective_api(self) -> str:
        return (self.api or self.api_type or "chat").lower()

    @property
    def effective_parameters(self) -> dict:
        """Request parameters: `parameters` (Prompt flow) merged with `options` (Prompty)."""
        merged = dict(self.options)
        merged.update(self.parameters)
        return merged


@dataclass
class Prompty(YamlBackedDocument):
    kind = "prompty"
    shape: str = SHAPE_PROMPTFLOW
    has_front_matter: bool = False
    front_matter_range: Range | None = None  # between the `---` lines
    body: str = ""
    body_line: int = 0  # 0-based file line where the body starts
    name: str | None = None
    description: str | None = None
    model: PromptyModel = field(default_factory=PromptyModel)
    inputs: dict[str, PromptyInput] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    sample: Any = None  # a mapping, or a string such as `${file:sample.json}`
    declares_inputs: bool = False  # the front matter has an `inputs:` section
    inputs_file: str | None = None  # `inputs: ${file:values.json}` as written
    template_format: str | None = None  # jinja2 (default) | mustache | ...
    substitutions: list[Substitution] = field(default_factory=list)
    template: JinjaTemplate | None = None  # the body, parsed; ranges in file lines
    role_sections: list[RoleSection] = field(default_factory=list)

    def sample_inputs(self) -> dict[str, Any]:
        """Input values to try the prompt with: `sample` when it is a mapping, then each
        input's own `sample` or `default`."""
        values: dict[str, Any] = {}
        for name, prompty_input in self.inputs.items():
            if prompty_input.sample is not None:
                values[name] = prompty_input.sample
            elif prompty_input.has_default:
                values[name] = prompty_input.default
        if isinstance(self.sample, dict):
            values.update(self.sample)
        return values


def split_front_matter(text: str) -> tuple[str | None, int, int]:
    """(front matter text, its first line, body's first line). The front matter is None
    when the file does not start with a `---` line closed by another `---` line."""
    lines = text.split("\n")
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first >= len(lines) or lines[first].rstrip() != "---":
        return None, 0, 0
    for number in range(first + 1, len(lines)):
        if lines[number].rstrip() == "---":
            return "\n".join(lines[first + 1 : number]), first + 1, number + 1
    return None, 0, 0


# Keys that open a prompty's front matter: a file starting with one has settings, whatever its `---` lines say.
_FRONT_MATTER_KEY = re.compile(r"^(name|description|model|inputs|outputs|sample|authors|version|metadata|tags|"
                               r"template|id)\s*:")
_ROLE_LINE = re.compile(r"^\s*#?\s*(system|user|assistant|developer|function|tool)\s*:\s*$", re.IGNORECASE)


def front_matter_missing_a_line(text: str) -> tuple[str, int, int, str] | None:
    """A front matter whose `---` lines are incomplete (no opening line, no closing line, or
    neither): (front matter text, its first line, body's first line, which line is missing).
    One cause deserves one problem, not a warning for every settings line read as prompt text."""
    lines = text.split("\n")
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    if first >= len(lines):
        return None
    opened = lines[first].rstrip() == "---"
    start = first + 1 if opened else first
    if start >= len(lines) or not _FRONT_MATTER_KEY.match(lines[start]):
        return None
    for number in range(start + 1, len(lines)):
        if lines[number].rstrip() == "---":  # closed, so the opening line is what is missing
            return None if opened else ("\n".join(lines[start:number]), start, number + 1, "opening")
        if _ROLE_LINE.match(lines[number]):  # the prompt starts here: the settings were never closed
            return "\n".join(lines[start:number]), start, number, "closing" if opened else "both"
    return None


def _model(node: YamlNode | None) -> PromptyModel:
    if isinstance(node, YamlScalar) and isinstance(node.value, str):
        return PromptyModel(id=node.value)  # `model: gpt-4o` shorthand of the Prompty spec
    mapping = as_mapping(node)
    raw_configuration = plain(mapping, "configuration")
    configuration = raw_configuration if isinstance(raw_configuration, dict) else {}
    parameters = plain(mapping, "parameters")
    options = plain(mapping, "options")
    file_sections = {name: value for name, value in
                     (("configuration", raw_configuration), ("parameters", parameters), ("options", options))
                     if isinstance(value, str) and value.strip().startswith("${file:")}
    return PromptyModel(
        file_sections=file_sections,
        api=string(mapping, "api"),
        configuration=configuration,
        configuration_type=str(configuration["type"]) if configuration.get("type") else None,
        parameters=parameters if isinstance(parameters, dict) else {},
        response=string(mapping, "response"),
        id=string(mapping, "id"),
        provider=string(mapping, "provider"),
        api_type=string(mapping, "apiType"),
        connection=plain(mapping, "connection"),
        options=options if isinstance(options, dict) else {},
        mapping=mapping,
    )


def _input(name: str, name_range: Range, node: YamlNode | None) -> PromptyInput:
    mapping = as_mapping(node)
    if mapping is None:
        # `question: What is...` — a bare value is taken as the default (Prompt flow does)
        value = node.value if isinstance(node, YamlScalar) else _plain_value(node)
        return PromptyInput(name, name_range, default=value, has_default=node is not None)
    has_default = "default" in mapping
    required = mapping.get("required")
    return PromptyInput(
        name,
        name_range,
        type=string(mapping, "type") or string(mapping, "kind"),
        default=plain(mapping, "default") if has_default else None,
        has_default=has_default,
        description=string(mapping, "description"),
        sample=plain(mapping, "sample"),
        required=required.value if isinstance(required, YamlScalar) and isinstance(required.value, bool) else None,
        is_chat_input=boolean(mapping, "is_chat_input"),
        is_chat_history=boolean(mapping, "is_chat_history"),
        mapping=mapping,
    )


def _plain_value(node: YamlNode | None) -> Any:
    try:
        return to_python(node)
    except ValueError:
        return None


def _inputs_from_sample(document: Prompty, root: YamlMapping) -> None:
    """No `inputs:` section: Prompt flow takes the input signature from a `sample` mapping
    (a `${file:...}` sample is read by the analysis and the engine, which may read files)."""
    sample = as_mapping(root.get("sample"))
    if sample is None:
        return
    for entry in sample.entries:
        name = entry.key_text
        if name is not None and name not in document.inputs:
            value = _plain_value(entry.value)
            document.inputs[name] = PromptyInput(name, entry.key.range, sample=value, from_sample=True)


def parse_prompty(text: str, path: Path | str = "prompt.prompty") -> Prompty:
    """Parse a .prompty file's text. Never raises; parse problems are in `.problems`."""
    path = Path(path)
    front, front_line, body_line = split_front_matter(text)
    document = Prompty(path, text)
    incomplete = front_matter_missing_a_line(text) if front is None else None
    if incomplete is not None:  # read as meant, with one problem for the missing line(s)
        front, front_line, body_line, missing = incomplete
        what = "neither its opening nor its closing" if missing == "both" else f"no {missing}"
        document.problem(
            "PW105",
            Range.of(front_line, 0, front_line, len(text.split("\n")[front_line])),
            f"the front matter has {what} `---` line: Prompt flow reads the whole file as the prompt; put a line "
            f"`---` above the settings and another between them and the prompt",
        )
    if front is None:
        # Prompty 2 reads a body-only file (no settings: the default model, inputs passed
        # through); Prompt flow refuses one, so say so without calling it an error.
        document.body, document.body_line = text, 0
        document.shape = SHAPE_PROMPTY
        document.problem(
            "PW105",
            EMPTY_RANGE,
            "no front matter: read as a Prompty 2 body-only prompt (the workspace's default model and "
            "connection); Prompt flow needs a `---` line, YAML settings (model, inputs) and a closing "
            "`---` line above the prompt",
            Severity.INFORMATION,
        )
    else:
        document.has_front_matter = True
        lines = text.split("\n")
        last = max(body_line - 2, front_line)
        document.front_matter_range = Range.of(front_line, 0, last, len(lines[last]) if last < len(lines) else 0)
        document.body = "\n".join(lines[body_line:])
        document.body_line = body_line
        document.yaml = parse_yaml(front, line_offset=front_line)
        record_yaml_problems(document)
        root = document.root
        if root is None and document.yaml.root is not None:
            document.problem(
                "PW104",
                document.yaml.root.range,
                "the front matter must be a mapping (`model:`, `inputs:` ...); rewrite it as "
                "`key: value` lines",
            )
        if root is not None:
            _read_front_matter(document, root)
    document.template = parse_jinja_template(document.body, path, line_offset=document.body_line)
    document.role_sections = find_role_sections(document.body, first_line=document.body_line)
    return document


def _read_front_matter(document: Prompty, root: YamlMapping) -> None:
    document.name = string(root, "name")
    document.description = string(root, "description")
    model_node = root.get("model")
    document.model = _model(model_node)
    inputs_node = root.get("inputs")
    input_schema = as_mapping(root.get("inputSchema"))
    if inputs_node is None and input_schema is not None:
        # Prompty 2: `inputSchema: {properties: [{name, kind, default, description}]}`
        inputs_node = input_schema.get("properties")
    model_mapping = as_mapping(model_node)
    is_new_shape = as_sequence(inputs_node) is not None
    if model_mapping is not None and any(k in model_mapping for k in ("id", "provider", "apiType", "options")):
        is_new_shape = True
    if isinstance(model_node, YamlScalar) or as_mapping(root.get("template")) is not None or "inputSchema" in root:
        is_new_shape = True
    document.shape = SHAPE_PROMPTY if is_new_shape else SHAPE_PROMPTFLOW
    if as_mapping(inputs_node) is not None:
        for entry in inputs_node.entries:
            if entry.key_text is not None and entry.key_text not in document.inputs:
                document.inputs[entry.key_text] = _input(entry.key_text, entry.key.range, entry.value)
    elif as_sequence(inputs_node) is not None:
        for item in inputs_node.items:
            mapping = as_mapping(item)
            name_node = mapping.get("name") if mapping is not None else None
            if isinstance(name_node, YamlScalar) and name_node.value is not None:
                name = str(name_node.value)
                if name not in document.inputs:
                    document.inputs[name] = _input(name, name_node.range, item)
    # `inputs: ${file:values.json}` (Prompty 1: the file's keys are the inputs, its values
    # their samples) and `inputSchema: ${file:...}` are files, read by the analysis and engine
    if isinstance(inputs_node, YamlScalar) and isinstance(inputs_node.value, str):
        document.inputs_file = inputs_node.value.strip()
        inputs_node = None
    document.declares_inputs = inputs_node is not None or input_schema is not None
    if inputs_node is None:
        _inputs_from_sample(document, root)
    outputs = plain(root, "outputs")
    if isinstance(outputs, dict):
        document.outputs = outputs
    elif isinstance(outputs, list):
        document.outputs = {
            str(o.get("name")): o for o in outputs if isinstance(o, dict) and o.get("name") is not None
        }
    document.sample = plain(root, "sample")
    template = root.get("template")
    if isinstance(template, YamlScalar):
        document.template_format = string(root, "template")
    elif as_mapping(template) is not None:
        template_kind = as_mapping(template.get("format"))  # Prompty 2: `format: {kind: jinja2}`
        document.template_format = (string(template, "format") or string(template, "type")
                                    or (string(template_kind, "kind") if template_kind is not None else None))
    collect_substitutions(root, document.substitutions)
