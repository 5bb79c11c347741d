"""Values flowing through a flow: flow inputs (with their declared types), `${...}` lookups."""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from promptwise.engine.errors import FlowError, NodeError

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


_STRING_KINDS = ("string", "str", "text")


def coerce(value: Any, declared: str | None, name: str) -> Any:
    """Convert text (from the command line or a CSV cell) to an input's declared type.

    A number or boolean (JSONL, a served request) for a string input becomes its text, as
    Prompt flow's ValueType.STRING.parse (str(v)) makes it on every line it runs or serves:
    3 -> "3", 3.0 -> "3.0", True -> "True". Other values that already have a non-text type are
    passed through unchanged.
    """
    if not declared:
        return value
    kind = declared.lower()
    if kind in _STRING_KINDS:
        return str(value) if isinstance(value, (int, float)) else value  # bool is an int: "True"
    if not isinstance(value, str):
        return value
    try:
        if kind == "int":
            return int(value)
        if kind in ("double", "float", "number"):
            return float(value)
        if kind in ("bool", "boolean"):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(value)
        if kind in ("list", "object", "array", "dict") and value.strip()[:1] in ("[", "{"):
            return json.loads(value)
        if value.strip()[:1] == "{":
            return json.loads(value)  # e.g. a model configuration given as JSON on the command line
    except (ValueError, json.JSONDecodeError):
        raise FlowError(f"input `{name}` is declared as {declared}, but got {value!r}; "
                        f"pass a {declared} value") from None
    return value


def bind_inputs(declared: Mapping[str, Any], given: Mapping[str, Any], where: str, *,
                ways_to_pass: str = "--inputs {name}=... or a `{name}` column in the data") -> dict[str, Any]:
    """The inputs a row runs with: given values (coerced), then declared defaults.

    `declared` maps name -> an object with `type`, `default`, `has_default` (FlowInput or
    PromptyInput). A missing input without a default is an error naming it; inputs that are
    not declared are passed through (Prompt flow ignores them for DAGs; flex entries may take
    **kwargs).
    """
    bound: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given:
            bound[name] = coerce(given[name], getattr(spec, "type", None), name)
        elif getattr(spec, "has_default", False):
            bound[name] = spec.default
        else:
            raise FlowError(f"{where}: input `{name}` has no value and no default; pass it "
                            f"({ways_to_pass.format(name=name)})")
    for name, value in given.items():
        bound.setdefault(name, value)
    return bound


def walk(value: Any, path: tuple[str, ...], text: str) -> Any:
    """Follow `.key` parts of a reference into a node's output (dict keys, list indexes, attributes)."""
    for part in path:
        if isinstance(value, Mapping):
            if part not in value:
                raise NodeError(f"{text}: the output has no key {part!r} (keys: {', '.join(map(str, value))})")
            value = value[part]
        elif isinstance(value, (list, tuple)) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(value) <= index < len(value):
                raise NodeError(f"{text}: index {index} is out of range (the list has {len(value)} items)")
            value = value[index]
        elif hasattr(value, part):
            value = getattr(value, part)
        else:
            raise NodeError(f"{text}: cannot read {part!r} from a {type(value).__name__}")
    return value


_FILE_REFERENCE = re.compile(r"^\$\{file:(.+)\}$")


def resolve_file_references(value: Any, folder, where: str) -> Any:
    """Values written `${file:x}` anywhere in a prompty's front matter or a flow's sample (a
    response_format schema, `sample: {inputs: ${file:inputs.json}}`): the file's content as
    Prompt flow loads it (.json and .yaml parsed, other files as text), relative to `folder`."""
    from pathlib import Path

    import yaml

    from promptwise.documents.files import read_user_text

    if isinstance(value, dict):
        return {key: resolve_file_references(item, folder, where) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_file_references(item, folder, where) for item in value]
    match = _FILE_REFERENCE.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        return value
    target = Path(folder) / match.group(1).strip()
    try:
        text = read_user_text(target)  # regular files only, bounded in size
        if target.suffix.lower() == ".json":
            return json.loads(text)
        if target.suffix.lower() in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return text
    except (OSError, ValueError, yaml.YAMLError) as error:  # ValueError: JSON, UTF-8
        raise FlowError(f"{where}: `${{file:{match.group(1)}}}` cannot be read ({error}); "
                        f"create {target} or fix the name") from None


def load_sample(folder, sample: Any, where: str) -> dict:
    """A flow's `sample`: a mapping (whose values may be `${file:...}` references), or a JSON
    file named as `${file:x.json}` or plainly `x.json`."""
    from pathlib import Path

    from promptwise.documents.files import read_user_text

    if isinstance(sample, dict):
        return resolve_file_references(sample, folder, where)
    if not isinstance(sample, str) or not sample.strip():
        return {}
    name = sample.strip()
    if name.startswith("${file:") and name.endswith("}"):
        name = name[len("${file:"):-1]
    path = Path(folder) / name
    try:
        loaded = json.loads(read_user_text(path))  # regular files only, bounded in size
    except (OSError, ValueError) as error:  # ValueError: JSON, UTF-8
        raise FlowError(f"{where}: sample file {path} cannot be read ({error}); fix `sample`") from None
    if not isinstance(loaded, dict):
        raise FlowError(f"{where}: sample file {path} must hold a JSON object of input values")
    return loaded
