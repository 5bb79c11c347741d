"""The workspace and its settings file.

A workspace is the nearest folder, from a flow upwards (to the repository's root), that holds
`promptwise.yaml` or a `pyproject.toml` with a `[tool.promptwise]` table; without settings, the
nearest with a `.promptwise/` folder or `.git`; failing that, the flow's own folder. Settings come from `promptwise.yaml` (preferred) or
`[tool.promptwise]`. Each area validates its own section (`models`, `deployments`,
`connections`, `defaults`, ...) with its own pydantic model; this module only finds and
reads the file, and reports a bad one as a `ConfigError` naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from promptwise.documents.files import read_user_text
from promptwise.documents.yaml_nodes import NULL_TAG, STR_TAG, YamlMapping, YamlScalar, YamlSequence, parse_yaml

SETTINGS_FILE = "promptwise.yaml"
STATE_DIR = ".promptwise"


class ConfigError(Exception):
    """The settings file cannot be read; the message names the file, line and fix."""


@dataclass
class WorkspaceConfig:
    root: Path
    settings: dict = field(default_factory=dict)
    source: Path | None = None  # the file the settings came from, if any
    section_lines: dict[str, int] = field(default_factory=dict)  # section -> 1-based line

    @property
    def state_dir(self) -> Path:
        """Where runs, the cache and other state live (`.promptwise/` in the root)."""
        return self.root / STATE_DIR

    def section(self, name: str) -> dict:
        value = self.settings.get(name) or {}
        if not isinstance(value, dict):
            line = self.section_lines.get(name)
            where = f"{self.source}:{line}" if line else str(self.source)
            raise ConfigError(
                f"{where}: `{name}` must be a mapping (`name: value` lines under it), "
                f"not {_kind(value)}; fix the section"
            )
        return value


def _kind(value: object) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _has_tool_table(pyproject: Path) -> bool:
    import tomllib  # here, as below: a workspace with a promptwise.yaml never parses TOML

    try:
        tool = tomllib.loads(read_user_text(pyproject)).get("tool")
        return isinstance(tool, dict) and "promptwise" in tool
    except Exception:  # an unreadable pyproject.toml simply does not mark a workspace
        return False


def find_workspace_root(path: Path) -> Path:
    """The nearest folder with settings (promptwise.yaml or [tool.promptwise]), looking up to
    the repository's root; else the nearest with a run store (`.promptwise/`) or `.git`; else
    the flow's own folder. Settings come first: a run store left by an earlier run (in a flow's
    folder, say) must not hide a promptwise.yaml added higher up."""
    start = path.resolve()
    if start.is_file() or not start.exists():
        start = start.parent
    folders = (start, *start.parents)
    for folder in folders:
        if (folder / SETTINGS_FILE).is_file():
            return folder
        if (folder / "pyproject.toml").is_file() and _has_tool_table(folder / "pyproject.toml"):
            return folder
        if (folder / ".git").exists():
            break  # settings above the repository are not the project's
    for folder in folders:
        if (folder / STATE_DIR).is_dir() or (folder / ".git").exists():
            return folder
    return start


def read_settings_yaml(settings_file: Path) -> tuple[dict, dict[str, int]]:
    """The settings in a promptwise.yaml and the line of each section. Raises ConfigError
    (file:line:column, what is wrong, what to do) for a file that cannot be used; never
    anything else, whatever the file holds."""
    try:
        text = read_user_text(settings_file)  # regular files only, bounded in size
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{settings_file}:1: the file is not valid UTF-8 (byte offset {error.start}); save it as UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"{settings_file}: cannot read settings ({error.strerror or error}); check the file") from None
    if "\x00" in text:
        raise ConfigError(f"{settings_file}:1: this is a binary file, not YAML settings; replace it")
    if text.startswith("\ufeff"):
        text = text[1:]
    # Our parser first: it never recurses (deep nesting is an error with a line, not a
    # RecursionError) and gives every syntax error a position.
    document = parse_yaml(text)
    if document.errors:
        error = document.errors[0]
        start = error.range.start
        message = error.message.removeprefix("YAML syntax error: ")
        raise ConfigError(
            f"{settings_file}:{start.line + 1}:{start.character + 1}: invalid YAML ({message}); "
            "fix the syntax and retry"
        )
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{settings_file}:{mark.line + 1}:{mark.column + 1}" if mark else str(settings_file)
        reason = error.problem or error.context or "invalid YAML"
        raise ConfigError(f"{where}: invalid YAML ({reason}); fix the syntax and retry") from None
    except ValueError as error:  # a constructor's: `released: 2024-13-45` is no date
        line, column = _unreadable_value(document.root)
        raise ConfigError(
            f"{settings_file}:{line}:{column}: cannot read settings: a value is not what it looks like "
            f"({error}); put quotes around values meant as text"
        ) from None
    except Exception as error:  # RecursionError, MemoryError ...: never a traceback
        raise ConfigError(
            f"{settings_file}:1: cannot read settings ({type(error).__name__}: {error}); simplify the file"
        ) from None
    if data is None:
        data = {}
    data = _text_keys(data)
    if not isinstance(data, dict):
        raise ConfigError(
            f"{settings_file}:1:1: settings must be a mapping of sections (defaults, models, deployments, "
            f"connections), not {_kind(data)}"
        )
    lines: dict[str, int] = {}
    if isinstance(document.root, YamlMapping):
        for entry in document.root.entries:
            if entry.key_text is not None:
                lines.setdefault(entry.key_text, entry.key.range.start.line + 1)
    return data, lines


def _text_keys(value, depth: int = 0):
    """Every mapping key as text: YAML reads `1:` or `true:` as a number or a boolean, and
    names of connections, models and settings are text everywhere they are used."""
    if depth > 64:  # parse_yaml already refused deeper files
        return value
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(key): _text_keys(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_text_keys(item, depth + 1) for item in value]
    return value


def _unreadable_value(root) -> tuple[int, int]:
    """Where the first scalar is that looks typed (a date) but could not be built: our
    parser keeps such values as text."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, YamlMapping):
            stack.extend(entry.value for entry in reversed(node.entries))
        elif isinstance(node, YamlSequence):
            stack.extend(reversed(node.items))
        elif isinstance(node, YamlScalar) and node.tag not in (STR_TAG, NULL_TAG) and isinstance(node.value, str):
            start = node.range.start
            return start.line + 1, start.character + 1
    return 1, 1


_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def read_tool_table(pyproject: Path) -> dict | None:
    """The `[tool.promptwise]` table of a pyproject.toml (None when it has none). Raises
    ConfigError naming the file and line for a file that cannot be read."""
    import tomllib

    try:
        data = tomllib.loads(read_user_text(pyproject))
    except tomllib.TOMLDecodeError as error:
        found = _TOML_POSITION.search(str(error))
        where = f"{pyproject}:{found.group(1)}:{found.group(2)}" if found else str(pyproject)
        reason = _TOML_POSITION.sub("", str(error)).strip()
        raise ConfigError(f"{where}: invalid TOML ({reason}); fix the syntax and retry") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{pyproject}:1: the file is not valid UTF-8; save it as UTF-8") from None
    except OSError as error:
        raise ConfigError(f"{pyproject}: cannot read [tool.promptwise] ({error.strerror or error})") from None
    except Exception as error:  # RecursionError on absurd nesting, and the like
        raise ConfigError(f"{pyproject}:1: cannot read [tool.promptwise] ({type(error).__name__})") from None
    tool = data.get("tool")
    table = tool.get("promptwise") if isinstance(tool, dict) else None
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: `tool.promptwise` must be a table ([tool.promptwise]); fix it")
    return table


def load_workspace(path: Path) -> WorkspaceConfig:
    """The workspace that holds `path` (a file or folder), with its settings read.
    Raises ConfigError (never another exception) for settings that cannot be used."""
    root = find_workspace_root(path)
    settings_file = root / SETTINGS_FILE
    if settings_file.is_file():
        data, lines = read_settings_yaml(settings_file)
        return WorkspaceConfig(root=root, settings=data, source=settings_file, section_lines=lines)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        table = read_tool_table(pyproject)
        if isinstance(table, dict):
            return WorkspaceConfig(root=root, settings=table, source=pyproject)
    return WorkspaceConfig(root=root)
