"""`flow_content_hash(path)`: one sha256 naming what a flow *does*, the same on every machine.

Served requests, runs and (later) packaged versions record it, so "which flow answered" has one
answer whether the flow runs in the editor, a batch, or production.

What counts is every file that changes the flow's behaviour:
- a flow folder (flow.dag.yaml / flow.flex.yaml): the flow file, every file under its folder
  except documentation, data sets, evaluation settings and state (tool sources, templates,
  prompty files, requirements.txt, ...), and every `additional_includes` entry (file or folder);
- a .prompty: the file and the files its `${file:...}` references name;
- the resolved model names: the workspace's `defaults.model` (promptwise.yaml), which fills in
  every model a flow leaves unset, so changing it changes what answers even when no flow file
  changes (a caller that resolves models otherwise passes them as `models`).

Stable across machines: relative paths (POSIX separators, sorted), text files with line
endings normalised to `\\n`, and each file's path and length framed into the digest so two
different trees can never concatenate to the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable, Mapping

# Files beside a flow that do not change what it does when it runs.
_SKIP_SUFFIXES = (".md", ".rst", ".jsonl", ".csv", ".tsv", ".parquet", ".pyc", ".log", ".png", ".jpg", ".gif")
_SKIP_NAMES = ("eval.yaml", "eval.yml", ".DS_Store")
_SKIP_DIRS = ("__pycache__", ".promptwise", ".git", ".venv", "venv", "node_modules", ".pytest_cache",
              ".mypy_cache", ".runs")
_FLOW_NAMES = ("flow.dag.yaml", "flow.dag.yml", "flow.flex.yaml", "flow.flex.yml")
_MAX_FILES = 5000  # a flow folder that holds more is not a flow folder: stop, do not hang


def flow_content_hash(path: Path | str, *, models: Mapping[str, str] | None = None) -> str:
    """`sha256:<hex>` over the behaviour files of the flow at `path` (file or folder)."""
    flow, files = behaviour_files(path)
    digest = hashlib.sha256()
    for name in sorted(files):
        data = _normalised(files[name])
        digest.update(f"file {name} {len(data)}\n".encode("utf-8"))
        digest.update(data)
    if models is None:
        models = _workspace_models(flow)
    if models:
        text = json.dumps(dict(sorted(models.items())), sort_keys=True, ensure_ascii=False)
        digest.update(f"models {text}\n".encode("utf-8"))
    return "sha256:" + digest.hexdigest()


def behaviour_files(path: Path | str) -> tuple[Path, dict[str, Path]]:
    """(the flow file, {name in the hash: file}) for the flow at `path`: what the hash covers,
    and what a packaged version's snapshot copies (deploy/registry.py)."""
    flow = _flow_file(Path(path))
    folder = flow.parent
    files: dict[str, Path] = {}
    if flow.suffix.lower() == ".prompty":
        files[flow.name] = flow
        for referenced in _prompty_references(flow):
            files[_relative(referenced, folder)] = referenced
    else:
        for file in _walk(folder):
            files[_relative(file, folder)] = file
        for include in _additional_includes(flow):
            if include.is_dir():
                for file in _walk(include):
                    files["include:" + include.name + "/" + file.relative_to(include).as_posix()] = file
            elif include.is_file():
                files["include:" + include.name] = include
    return flow, files


def _flow_file(path: Path) -> Path:
    if path.is_dir():
        for name in _FLOW_NAMES:
            if (path / name).is_file():
                return path / name
        prompts = sorted(path.glob("*.prompty"))
        if len(prompts) == 1:
            return prompts[0]
        raise FileNotFoundError(f"{path}: no flow.dag.yaml, flow.flex.yaml or single .prompty file in this folder")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return path


def _walk(folder: Path) -> Iterable[Path]:
    count = 0
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(names):
            if name in _SKIP_NAMES or name.lower().endswith(_SKIP_SUFFIXES):
                continue
            file = Path(root) / name
            if not file.is_file():  # sockets, fifos, broken links: not behaviour
                continue
            count += 1
            if count > _MAX_FILES:
                raise ValueError(f"{folder}: more than {_MAX_FILES} files; a flow folder should hold the flow only")
            yield file


def _relative(file: Path, folder: Path) -> str:
    try:
        return file.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:  # outside the flow's folder (a `${file:../x}`): named by its own name
        return "outside:" + file.name


def _normalised(file: Path) -> bytes:
    data = file.read_bytes()
    if b"\0" in data[:8192]:  # binary: as it is
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _additional_includes(flow: Path) -> list[Path]:
    from promptwise.documents.load import load_document

    document = load_document(flow)
    entries = getattr(document, "additional_includes", None) or []
    return [(flow.parent / entry).resolve() for entry, _range in entries]


def _prompty_references(flow: Path) -> list[Path]:
    from promptwise.documents.load import load_document

    document = load_document(flow)
    found = []
    for substitution in getattr(document, "substitutions", None) or []:
        if getattr(substitution, "kind", None) == "file" and getattr(substitution, "name", None):
            target = (flow.parent / substitution.name)
            if target.is_file():
                found.append(target)
    return found


def _workspace_models(flow: Path) -> dict[str, str]:
    """The default model of the flow's workspace (promptwise.yaml `defaults.model`), if any."""
    from promptwise.config import ConfigError, load_workspace

    try:
        defaults = load_workspace(flow).settings.get("defaults")
    except (ConfigError, OSError):  # an unreadable settings file is the run's error to report
        return {}
    model = defaults.get("model") if isinstance(defaults, dict) else None
    return {"default": str(model)} if model else {}
