"""The workspace and its settings file.

A workspace is the nearest folder, from a flow upwards, that holds `promptwise.yaml`,
a `pyproject.toml` with a `[tool.promptwise]` table, a `.promptwise/` folder or `.git`;
failing that, the flow's own folder. Settings come from `promptwise.yaml` (preferred) or
`[tool.promptwise]`. Each area validates its own section (`models`, `deployments`,
`connections`, `defaults`, ...) with its own pydantic model; this module only finds and
reads the file, and reports a bad one as a `ConfigError` naming the file and line.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SETTINGS_FILE = "promptwise.yaml"
STATE_DIR = ".promptwise"


class ConfigError(Exception):
    """The settings file cannot be read; the message names the file, line and fix."""


@dataclass
class WorkspaceConfig:
    root: Path
    settings: dict = field(default_factory=dict)
    source: Path | None = None  # the file the settings came from, if any

    @property
    def state_dir(self) -> Path:
        """Where runs, the cache and other state live (`.promptwise/` in the root)."""
        return self.root / STATE_DIR

    def section(self, name: str) -> dict:
        value = self.settings.get(name) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{self.source}: `{name}` must be a mapping, got {type(value).__name__}")
        return value


def _has_tool_table(pyproject: Path) -> bool:
    try:
        return "promptwise" in tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def find_workspace_root(path: Path) -> Path:
    start = path.resolve()
    if start.is_file() or not start.exists():
        start = start.parent
    for folder in (start, *start.parents):
        if (folder / SETTINGS_FILE).is_file() or (folder / STATE_DIR).is_dir() or (folder / ".git").exists():
            return folder
        if (folder / "pyproject.toml").is_file() and _has_tool_table(folder / "pyproject.toml"):
            return folder
    return start


def load_workspace(path: Path) -> WorkspaceConfig:
    """The workspace that holds `path` (a file or folder), with its settings read."""
    root = find_workspace_root(path)
    settings_file = root / SETTINGS_FILE
    if settings_file.is_file():
        try:
            data = yaml.safe_load(settings_file.read_text(encoding="utf-8")) or {}
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark
            where = f"{settings_file}:{mark.line + 1}:{mark.column + 1}" if mark else str(settings_file)
            raise ConfigError(f"{where}: invalid YAML ({error.problem}); fix the syntax and retry") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            raise ConfigError(f"{settings_file}: cannot read settings ({error})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{settings_file}:1:1: settings must be a mapping of sections (models, connections, ...)")
        return WorkspaceConfig(root=root, settings=data, source=settings_file)
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("promptwise")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"{pyproject}: cannot read [tool.promptwise] ({error})") from None
        if isinstance(table, dict):
            return WorkspaceConfig(root=root, settings=table, source=pyproject)
    return WorkspaceConfig(root=root)
