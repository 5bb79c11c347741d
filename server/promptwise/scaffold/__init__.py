"""`promptwise init`: copy a project template (package data under scaffold/templates/).

Each template is a folder of files copied as they are, plus the shared files in `common/`
(promptwise.yaml with a `${env:}` connection, a README filled in per template, and a .gitignore
keeping `.promptwise/` — runs and traces with their prompts and replies — out of the repository). A project
made here passes `promptwise check` with no problems and runs on the local scripted model
(`fake-llm-rules.yaml`) at once. Nothing is ever overwritten: a folder that is not empty is
refused unless `force`, and even then a file that exists is kept and reported.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATES_DIR = Path(__file__).with_name("templates")
COMMON = "common"
# Python tool files are stored as `*.py.tmpl`: inside the package they are data, not modules
# (nothing may import them, and they import promptflow, which the package does not need).
STORED_SUFFIX = ".tmpl"
# Package data globs skip dot files, so these are stored without their dot.
DOT_FILES = {"gitignore": ".gitignore"}
CONNECTION = "local"  # the connection common/promptwise.yaml defines and the templates' flows name


@dataclass(frozen=True)
class Template:
    title: str
    about: str
    target: str  # what `promptwise run` is given
    extra: str = ""  # more commands for the README's try-it block


TEMPLATES = {
    "chat": Template("Chat flow", "A Prompt flow chat flow (`flow.dag.yaml`): the question and the conversation so "
                     "far go to the model through `chat.jinja2`.", "."),
    "rag": Template("Answers from documents (RAG)",
                    "A Prompt flow that retrieves the passages of `docs.jsonl` closest to the question "
                    "(`retrieve.py`) and has the model answer from them, citing them (`answer.jinja2`).", "."),
    "classifier": Template("Ticket classifier with evaluation",
                           "A Prompt flow that sorts support tickets into categories with a JSON answer "
                           "(`classify.jinja2`, `parse.py`), and `eval.yaml` to score it on the labelled "
                           "tickets in `data.jsonl`.", ".", "promptwise eval . --data data.jsonl\n"),
    "prompty": Template("Prompty", "A single prompt with its model settings (`chat.prompty`), runnable on its own.",
                        "chat.prompty"),
}


class ScaffoldError(Exception):
    """The project cannot be created; the message says why and what to do."""


@dataclass
class Scaffolded:
    folder: Path
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # already there (with force): left untouched
    notes: list[str] = field(default_factory=list)  # what a kept file means for the new project


def _files(template: str) -> dict[str, bytes]:
    """Relative path -> content for the template (its own files win over common ones)."""
    files: dict[str, bytes] = {}
    for folder in (TEMPLATES_DIR / COMMON, TEMPLATES_DIR / template):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                relative = path.relative_to(folder).as_posix().removesuffix(STORED_SUFFIX)
                files[DOT_FILES.get(relative, relative)] = path.read_bytes()
    about = TEMPLATES[template]
    readme = string.Template(files["README.md"].decode("utf-8"))
    files["README.md"] = readme.substitute(title=about.title, about=about.about, target=about.target,
                                           extra=about.extra).encode("utf-8")
    return files


def scaffold(folder: Path, template: str = "chat", force: bool = False) -> Scaffolded:
    if template not in TEMPLATES:
        raise ScaffoldError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ScaffoldError(f"{folder}: exists and is not a folder; choose a new folder name")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise ScaffoldError(f"{folder}: the folder is not empty; choose an empty or new folder, or add --force "
                            "to add the project's files beside what is there (existing files are kept)")
    result = Scaffolded(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for relative, content in _files(template).items():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with target.open("xb") as handle:  # "x": never overwrite, even on a race
                    handle.write(content)
            except FileExistsError:
                result.kept.append(target)
                continue
            result.written.append(target)
    except OSError as error:
        raise ScaffoldError(f"{error.filename or folder}: cannot write the project ({error.strerror})") from None
    result.notes = _kept_settings_notes(folder, template, result.kept)
    return result


def _kept_settings_notes(folder: Path, template: str, kept: list[Path]) -> list[str]:
    """A promptwise.yaml that was already there is kept; when it does not define the connection the
    template's flow names, the flow would quietly run on another endpoint: say what to add."""
    settings = folder / "promptwise.yaml"
    flow = TEMPLATES_DIR / template / "flow.dag.yaml"
    if settings not in kept or not flow.is_file() or f"connection: {CONNECTION}" not in flow.read_text("utf-8"):
        return []
    import yaml

    try:
        loaded = yaml.safe_load(settings.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        loaded = None
    connections = loaded.get("connections") if isinstance(loaded, dict) else None
    if isinstance(connections, dict) and CONNECTION in connections:
        return []
    return [f"{settings} was kept and does not define the connection `{CONNECTION}` that flow.dag.yaml uses, so "
            "runs would fall back to defaults.connection or the OPENAI_* variables; add under `connections:`\n"
            f"  {CONNECTION}: {{type: openai_compatible, base_url: \"${{env:PROMPTWISE_BASE_URL}}\", "
            "api_key: \"${env:OPENAI_API_KEY}\"}"]
