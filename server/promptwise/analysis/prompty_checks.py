"""PW5xx: a .prompty's role lines, model settings and sample.

Codes:
  PW501  a line meant as a role line that Prompt flow will not read as one
         (`sytem:` -> did you mean `system:`; `human:` -> `user:`)
  PW502  no role lines at all in a chat prompt
  PW503  text before the first role line (Prompt flow rejects it)
  PW504  role lines, but neither `system:` nor `user:` (warning)
  PW505  a model configuration that cannot work: azure_openai without azure_deployment,
         openai without model, a configuration without a type, an unknown api or
         configuration type where the schema does not already check it; azure_openai
         without azure_endpoint is information (runtimes read AZURE_OPENAI_ENDPOINT)
  PW506  a model parameter of the wrong type or out of range (`max_tokens: "abc"`)
  PW507  sample keys that are not inputs (warning; did-you-mean fix renames the key)

Role-line rules are Prompt flow's, shared with rendering (documents/render.py). The newer
Prompty runtime is lenient about text before the first role line (it becomes a system
message), so for that shape PW502/PW503 are warnings.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from promptwise.analysis.problem import Fix, Problem, Severity, TextEdit
from promptwise.analysis.schema import suggest
from promptwise.analysis.tools import ensure_context
from promptwise.documents.prompty import SHAPE_PROMPTY, Prompty
from promptwise.documents.files import read_user_text
from promptwise.documents.render import ROLE_LIKE_LINE, VALID_ROLES
from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import YamlMapping, YamlNode, YamlScalar, YamlSequence

# Role names from other chat formats, and what Prompt flow calls them.
ROLE_ALIASES = {
    "human": "user", "ai": "assistant", "bot": "assistant", "model": "assistant",
    "developer": "system", "sys": "system", "usr": "user", "assistent": "assistant",
}  # fmt: skip
# Lines of a `function:`/`tool:` message's own structure, not roles.
_MESSAGE_FIELDS = frozenset({"name", "content", "tool_call_id"})
_JINJA_SILENT = re.compile(r"\{#.*?#\}|\{%.*?%\}", re.DOTALL)  # render to nothing

_CONFIG_TYPES = ("azure_openai", "openai", "serverless", "azure_serverless")
_API_TYPES = ("chat", "completion")
_SPEC_API_TYPES = ("chat", "responses", "completion", "embedding", "image")  # responses: Prompty 2

INT, NUMBER, BOOL, STRING, LIST, MAPPING = "int", "number", "bool", "string", "list", "mapping"
# Request parameters with the type the API wants, and a range where the API enforces one.
PARAMETERS: dict[str, tuple[tuple[str, ...], tuple[float, float] | None]] = {
    "max_tokens": ((INT,), (1, float("inf"))),
    "max_completion_tokens": ((INT,), (1, float("inf"))),
    "n": ((INT,), (1, 128)),
    "seed": ((INT,), None),
    "best_of": ((INT,), (1, 20)),
    "top_logprobs": ((INT,), (0, 20)),
    "temperature": ((NUMBER,), (0, 2)),
    "top_p": ((NUMBER,), (0, 1)),
    "presence_penalty": ((NUMBER,), (-2, 2)),
    "frequency_penalty": ((NUMBER,), (-2, 2)),
    "stream": ((BOOL,), None),
    "echo": ((BOOL,), None),
    "stop": ((STRING, LIST), None),
    "response_format": ((MAPPING, STRING), None),
    "tools": ((LIST,), None),
    "tool_choice": ((STRING, MAPPING), None),
    "logit_bias": ((MAPPING,), None),
    "user": ((STRING,), None),
}
_KIND_WORDS = {
    INT: "a whole number", NUMBER: "a number", BOOL: "true or false", STRING: "a string",
    LIST: "a list", MAPPING: "a mapping",
}  # fmt: skip


def _problem(path: Path, range_: Range, code: str, message: str, fixes=(), severity=Severity.ERROR) -> Problem:
    return Problem(path, range_, severity, code, message, tuple(fixes))


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


# ------------------------------------------------------------------ role lines


def _meant_role(word: str) -> str | None:
    """The role a `word:` line was probably meant to be: a known alias or a close
    misspelling. Strict on purpose: prompts are full of `Rules:` and `Tools:` headings."""
    lowered = word.lower()
    if lowered in ROLE_ALIASES:
        return ROLE_ALIASES[lowered]
    if lowered.endswith("s") and lowered[:-1] in VALID_ROLES:
        return None  # `Users:`, `Tools:` are headings
    import difflib  # here: only a misspelling needs it

    close = difflib.get_close_matches(lowered, VALID_ROLES, n=1, cutoff=0.8)
    return close[0] if close else None


def check_roles(document: Prompty) -> list[Problem]:
    if document.model.effective_api in ("completion", "embedding", "image"):
        return []  # plain text sent as one prompt or input, not chat messages
    lenient = document.shape == SHAPE_PROMPTY
    structural = Severity.WARNING if lenient else Severity.ERROR
    path = document.path
    lines = document.body.split("\n")
    offset = document.body_line
    problems: list[Problem] = []
    for number, line in enumerate(lines):
        match = ROLE_LIKE_LINE.match(line.rstrip("\r"))
        if match is None or match.group(2).strip():
            continue
        word = match.group(1)
        if word.lower() in VALID_ROLES or word.lower() in _MESSAGE_FIELDS:
            continue
        role = _meant_role(word)
        if role is None:
            continue  # e.g. `Rules:` or `Tools:` inside the text: a heading, not a role
        range_ = Range.of(number + offset, match.start(1), number + offset, match.end(1))
        problems.append(
            _problem(
                path, range_, "PW501",
                f"`{word}:` is not a role Prompt flow knows (system, user, assistant, function, tool), "
                f"so this line stays part of the previous message; did you mean `{role}:`?",
                [Fix(f"Change to `{role}`", (TextEdit(path, range_, role),))],
            )  # fmt: skip
        )
    sections = document.role_sections
    if not sections and problems:
        return problems  # the mistyped role lines above are the one mistake; fixing them fixes this
    if not sections:
        if not document.has_front_matter:
            return problems  # a Prompty 2 body-only prompt: sent as one system message
        first = next((n for n, line in enumerate(lines) if line.strip()), None)
        if first is None:
            return problems  # an empty body: nothing to send, the schema/others say so
        line_text = lines[first]
        range_ = Range.of(first + offset, len(line_text) - len(line_text.lstrip()), first + offset, len(line_text.rstrip()))
        consequence = "Prompty sends it all as one system message" if lenient else "Prompt flow rejects the prompt"
        problems.append(
            _problem(
                path, range_, "PW502",
                f"the prompt has no role lines ({consequence}); start each message with a line "
                "holding only `system:`, `user:` or `assistant:`",
                [Fix("Start with a `system:` line", (TextEdit(path, Range.empty(first + offset, 0), "system:\n"),))],
                structural,
            )  # fmt: skip
        )
        return problems
    first_role_line = sections[0].line - offset
    leading = "\n".join(lines[:first_role_line])
    if _JINJA_SILENT.sub("", leading).strip():
        first = next(n for n, line in enumerate(lines) if _JINJA_SILENT.sub("", line).strip())
        last = max(n for n in range(first_role_line) if lines[n].strip())
        range_ = Range.of(first + offset, 0, last + offset, len(lines[last].rstrip()))
        consequence = "Prompty sends it as a system message" if lenient else "Prompt flow rejects the prompt"
        problems.append(
            _problem(
                path, range_, "PW503",
                f"text before the first role line ({consequence}); put a `system:` line above it "
                "or move it under a role line",
                [Fix("Add a `system:` line above", (TextEdit(path, Range.empty(first + offset, 0), "system:\n"),))],
                structural,
            )  # fmt: skip
        )
    roles = {section.role for section in sections}
    if not roles & {"system", "user"}:
        section = sections[0]
        problems.append(
            _problem(
                path, Range.of(section.line, section.start_character, section.line, section.end_character),
                "PW504",
                f"the prompt has only {', '.join(sorted(roles))} messages; add a `system:` or `user:` "
                "message so the model has something to answer",
                severity=Severity.WARNING,
            )  # fmt: skip
        )
    return problems


# ------------------------------------------------------------------ model configuration


def _mapping(node: YamlNode | None) -> YamlMapping | None:
    return node if isinstance(node, YamlMapping) else None


def _scalar_text(mapping: YamlMapping, key: str) -> str | None:
    node = mapping.get(key)
    if isinstance(node, YamlScalar) and node.value is not None and str(node.value).strip():
        return str(node.value)
    return None


def _unknown_choice(path: Path, node: YamlNode, what: str, value: str, allowed: tuple[str, ...]) -> Problem:
    """PW505 for a value outside a fixed set, with a fix to the closest allowed value."""
    guess = suggest(value, allowed)
    fixes = [Fix(f"Change to `{guess}`", (TextEdit(path, node.range, guess),))] if guess else []
    return _problem(
        path, node.range, "PW505",
        f"unknown {what} `{value}`; use one of {', '.join(allowed)}" + (f" (did you mean `{guess}`?)" if guess else ""),
        fixes,
    )  # fmt: skip


def _check_configuration(path: Path, configuration: YamlMapping, key_range: Range,
                         model_connection: bool = False) -> list[Problem]:
    """`model_connection`: the model names a `connection` beside its configuration (early
    Prompt flow prompty files), which supplies the endpoint and key."""
    problems: list[Problem] = []
    type_node = configuration.get("type")
    config_type = _scalar_text(configuration, "type")
    if config_type is None:
        if "azure_deployment" in configuration or "azure_endpoint" in configuration:
            config_type = "azure_openai"
        elif "model" in configuration or "base_url" in configuration:
            config_type = "openai"
        elif configuration.entries and "connection" not in configuration:
            return [
                _problem(
                    path, key_range, "PW505",
                    "the model configuration does not say which service to call; add "
                    "`type: azure_openai` (with azure_deployment, azure_endpoint) or `type: openai` "
                    "(with model)",
                )  # fmt: skip
            ]
    elif config_type not in _CONFIG_TYPES:
        if type_node is not None:
            problem = _unknown_choice(path, type_node, "model configuration type", config_type, _CONFIG_TYPES)
            if _scalar_text(configuration, "connection") is not None or model_connection:
                # Prompt flow takes the type from the named connection and ignores this one
                problem = replace(problem, severity=Severity.WARNING,
                                  message=problem.message + "; Prompt flow ignores it here, as `connection` is given")
            problems.append(problem)
        return problems
    has_connection = _scalar_text(configuration, "connection") is not None or model_connection
    anchor = configuration.entry("type").key.range if configuration.entry("type") else key_range
    if config_type == "azure_openai":
        if _scalar_text(configuration, "azure_deployment") is None:
            problems.append(
                _problem(
                    path, anchor, "PW505",
                    "an azure_openai configuration needs `azure_deployment` (the deployment to call); "
                    "add `azure_deployment: <deployment name>`",
                )  # fmt: skip
            )
        if _scalar_text(configuration, "azure_endpoint") is None and not has_connection:
            # information only: reading AZURE_OPENAI_ENDPOINT is the documented pattern of
            # Prompt flow's and Prompty's runtimes (and promptwise falls back the same way)
            problems.append(
                _problem(
                    path, anchor, "PW505",
                    "this azure_openai configuration has no `azure_endpoint`: it reads "
                    "AZURE_OPENAI_ENDPOINT at run time; write `azure_endpoint: ${env:AZURE_OPENAI_ENDPOINT}` "
                    "to say so in the file",
                    severity=Severity.INFORMATION,
                )  # fmt: skip
            )
    elif config_type == "openai" and _scalar_text(configuration, "model") is None and not has_connection:
        problems.append(
            _problem(
                path, anchor, "PW505",
                "an openai configuration needs `model` (e.g. `model: gpt-4o-mini`); add it",
            )  # fmt: skip
        )
    return problems


def _kind_of(node: YamlNode) -> str | None:
    if isinstance(node, YamlMapping):
        return MAPPING
    if isinstance(node, YamlSequence):
        return LIST
    if isinstance(node, YamlScalar):
        value = node.value
        if isinstance(value, bool):
            return BOOL
        if isinstance(value, int):
            return INT
        if isinstance(value, float):
            return NUMBER
        if isinstance(value, str):
            return STRING
    return None


def _describe(node: YamlNode) -> str:
    if isinstance(node, YamlScalar) and node.value is not None:
        return f"{_KIND_WORDS.get(_kind_of(node) or '', 'a value')} ({node.text!r})"
    return _KIND_WORDS.get(_kind_of(node) or "", "nothing")


def _check_parameters(path: Path, parameters: YamlMapping, section: str) -> list[Problem]:
    problems: list[Problem] = []
    for entry in parameters.entries:
        name = entry.key_text
        if name is None:
            continue
        rule = PARAMETERS.get(_snake(name))
        node = entry.value
        if rule is None or node is None:
            continue
        if isinstance(node, YamlScalar) and (node.value is None or (isinstance(node.value, str) and "${" in node.value)):
            continue  # empty (schema's concern) or a substitution filled in at run time
        kinds, bounds = rule
        kind = _kind_of(node)
        accepted = kind in kinds or (kind == INT and NUMBER in kinds)
        if not accepted:
            want = " or ".join(_KIND_WORDS[k] for k in kinds)
            fixes = []
            if isinstance(node, YamlScalar) and isinstance(node.value, str):
                converted = _convert(node.value, kinds)
                if converted is not None:
                    fixes.append(Fix(f"Write {converted}", (TextEdit(path, node.range, converted),)))
            problems.append(
                _problem(
                    path, node.range, "PW506",
                    f"`{section}.{name}` must be {want}, not {_describe(node)}; the API would reject "
                    f"the request",
                    fixes,
                )  # fmt: skip
            )
            continue
        if bounds is not None and isinstance(node, YamlScalar) and isinstance(node.value, (int, float)):
            low, high = bounds
            if not low <= node.value <= high:
                span = f"at least {low:g}" if high == float("inf") else f"between {low:g} and {high:g}"
                problems.append(
                    _problem(
                        path, node.range, "PW506",
                        f"`{section}.{name}` is {node.value}, but the API accepts {span}; change the value",
                    )  # fmt: skip
                )
    return problems


def _convert(text: str, kinds: tuple[str, ...]) -> str | None:
    """`"500"` -> `500` when the quoted text is already the right kind of number."""
    stripped = text.strip()
    if INT in kinds and re.fullmatch(r"[+-]?\d+", stripped):
        return stripped
    if NUMBER in kinds and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", stripped):
        return stripped
    if BOOL in kinds and stripped.lower() in ("true", "false"):
        return stripped.lower()
    return None


def check_model(document: Prompty) -> list[Problem]:
    model = document.model
    mapping = model.mapping
    if mapping is None:
        return []
    path = document.path
    problems: list[Problem] = []
    spec_shape = document.shape == SHAPE_PROMPTY
    if spec_shape:
        for key, allowed in (("apiType", _SPEC_API_TYPES), ("api", _API_TYPES)):
            node = mapping.get(key)
            value = _scalar_text(mapping, key)
            if node is not None and value is not None and value not in allowed:
                problems.append(_unknown_choice(path, node, f"`model.{key}`", value, allowed))
    configuration_entry = mapping.entry("configuration")
    configuration = _mapping(configuration_entry.value) if configuration_entry else None
    if configuration is not None:
        model_connection = _scalar_text(mapping, "connection") is not None
        problems += _check_configuration(path, configuration, configuration_entry.key.range, model_connection)
    for section in ("parameters", "options"):
        parameters = _mapping(mapping.get(section))
        if parameters is not None:
            problems += _check_parameters(path, parameters, f"model.{section}")
    return problems


# ------------------------------------------------------------------ sample


def sample_keys(document: Prompty, context: Any, section: str = "sample") -> list[tuple[str, Range, Range | None]]:
    """(key, range to report, key range for a rename fix or None) of the sample (or of another
    `section` holding values, such as Prompty 1's `inputs: ${file:values.json}`)."""
    root = document.root
    node = root.get(section) if root is not None else None
    if isinstance(node, YamlMapping):
        return [(e.key_text, e.key.range, e.key.range) for e in node.entries if e.key_text is not None]
    file_substitution = next(
        (s for s in document.substitutions if s.kind == "file" and node is not None and node.range.start <= s.range.start <= node.range.end),
        None,
    )
    if file_substitution is None or not file_substitution.name.lower().endswith(".json"):
        return []
    sample_path = document.folder / file_substitution.name
    text = context.text(sample_path) if context is not None else None
    if text is None:
        try:
            text = read_user_text(sample_path)  # regular files only, bounded in size
        except (OSError, UnicodeDecodeError):
            return []  # a missing file is PW301 (sources)
    if context is not None:
        context.dependencies.add(sample_path)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return []
    if not isinstance(data, dict):
        return []
    return [(str(key), file_substitution.range, None) for key in data]


def check_sample(document: Prompty, context: Any = None) -> list[Problem]:
    root = document.root
    if root is None or root.get("inputs") is None:
        return []  # no declared inputs: nothing to compare the sample with
    inputs = list(document.inputs)
    problems: list[Problem] = []
    keys = sample_keys(document, context)
    sample_names = {key for key, _, _ in keys}
    for key, range_, key_range in keys:
        if key in document.inputs:
            continue
        guess = suggest(key, [name for name in inputs if name not in sample_names])
        fixes = [Fix(f"Rename to `{guess}`", (TextEdit(document.path, key_range, guess),))] if guess and key_range else []
        hint = f"did you mean `{guess}`?" if guess else f"declare it under `inputs:` or remove it from the sample"
        problems.append(
            _problem(
                document.path, range_, "PW507",
                f"sample value `{key}` is not an input of this prompt, so Prompt flow never passes it to the prompt; {hint}",
                fixes, Severity.WARNING,
            )  # fmt: skip
        )
    return problems


# ------------------------------------------------------------------ entry point


def check(document: Any, context: Any = None) -> list[Problem]:
    """PW5xx problems of a .prompty."""
    if not isinstance(document, Prompty):
        return []
    context = ensure_context(document, context)
    problems = check_roles(document)
    if document.root is not None:
        problems += check_model(document)
        problems += check_sample(document, context)
    return problems
