"""Problems in the workspace settings — `promptwise.yaml`, or `[tool.promptwise]` in
pyproject.toml — and in the connection names flows and prompts use.

In the settings file, each at the exact key or value:
  PW100-PW102  unreadable file, YAML/TOML syntax error, duplicate key
  PW103        unknown section or key, with a did-you-mean
  PW104        wrong value type (a price written as the string "0.5", a list for a section)
  PW106        value not allowed (an unknown connection type, a negative price)
  PW216        `defaults.connection` names a connection that is not defined
  PW60x        secrets written literally (the secret scan), and
  PW606        a connection's `api_key` or `secrets.*` not written as `${env:NAME}`: the
               engine refuses literal keys when a run starts
In flow.dag.yaml and .prompty files:
  PW216        (warning) a `connection:` the workspace does not define and that is not one
               of Prompt flow's conventional names: runs would silently use the default
               connection, so a typo costs a run against the wrong endpoint.

The schema follows what the readers accept: the costing catalog's model fields
(promptwise.costing.catalog) and the engine's connection fields and types
(promptwise.engine.connections). Settings are read with our own YAML tree (never
`yaml.safe_load`), so no file can make this module raise.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptwise.analysis.edits import replace_fix
from promptwise.common.connection_auth import AUTH_KEYS, ENTRA_EXTRA, ENTRA_MODULE, auth_value
from promptwise.common.extras import install_command, missing_modules
from promptwise.analysis.problem import Fix, Problem, Severity, TextEdit
from promptwise.analysis.schema import (
    INT,
    LIST,
    MAP,
    NUMBER,
    STR,
    check_document_schema,
    spec,
    suggest,
)
from promptwise.analysis.secrets import scan_yaml, snake
from promptwise.config import SETTINGS_FILE, find_workspace_root
from promptwise.documents.common import widen_to_token
from promptwise.documents.flow_dag import FlowDag
from promptwise.documents.load import read_text
from promptwise.documents.prompty import Prompty
from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import YamlMapping, YamlNode, YamlScalar, parse_yaml

PYPROJECT = "pyproject.toml"

CONNECTION_TYPES = ("openai", "azure_openai", "openai_compatible", "custom")
# Every spelling the engine accepts for them, lower-cased with `-` as `_`
# (promptwise.engine.connections._TYPE_ALIASES).
_CONNECTION_TYPE_SPELLINGS = frozenset(
    {"openai", "open_ai", "openaiconnection", "azure_openai", "azure_open_ai", "azure", "azureopenai",
     "azureopenaiconnection", "openai_compatible", "custom", "customconnection", "serverless"}
)  # fmt: skip
# Prompt flow's connection metadata (engine/connections.py reads past it)
_PROMPTFLOW_METADATA = ("$schema", "module", "resource_id", "created_date", "last_modified_date", "expiry_time")
_CUSTOM_KEYS = frozenset({"type", "secrets", "configs", "name", *_PROMPTFLOW_METADATA})
# Names Prompt flow's samples and `pf connection create` docs use. A flow naming one that
# the workspace does not define runs on the default connection by design (the engine's
# fallback), so these are not reported as typos.
PROMPTFLOW_CONNECTION_NAMES = frozenset(
    {"open_ai_connection", "azure_open_ai_connection", "aoai_connection", "azure_openai_connection",
     "openai_connection"}
)  # fmt: skip
_ENV_REFERENCE = re.compile(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*(?::[^}]*)?\}")

_MODEL_WHOLE_NUMBERS = ("context_window", "max_input", "max_output")
_MODEL_PRICES = ("input_per_1m", "cached_input_per_1m", "output_per_1m")
_REFUSED = "promptwise refuses it when it reads the settings"
_IGNORED = "promptwise ignores it"

# Strings are allowed by the schema where numbers go, so that this module can say
# precisely what is wrong with them (a quoted number is not a number).
MODEL = spec(
    MAP,
    what="model",
    unknown_effect=_REFUSED,
    keys={
        "provider": spec(STR),
        "family": spec(STR),
        "tokenizer": spec(STR),
        **{name: spec(INT, STR) for name in _MODEL_WHOLE_NUMBERS},
        **{name: spec(NUMBER, STR) for name in _MODEL_PRICES},
        "source": spec(STR),
    },
)

CONNECTION = spec(
    MAP,
    what="connection",
    unknown_effect=_REFUSED,
    keys={
        "type": spec(STR),
        "api_key": spec(STR),
        "base_url": spec(STR),
        "azure_endpoint": spec(STR),
        "api_version": spec(STR),
        "azure_deployment": spec(STR),
        "azure_deployment_name": spec(STR),
        "organization": spec(STR),
        "auth": spec(STR),  # `entra`: Microsoft Entra ID tokens (azure_openai), no api_key
        "auth_mode": spec(STR),  # Prompt flow's spelling: `meid_token`
        "model": spec(STR),
        "name": spec(STR),
        # Prompt flow's connection files: api_base is the endpoint (engine/connections.py)
        "api_base": spec(STR),
        "api_type": spec(STR),
        **{key: spec(STR) for key in _PROMPTFLOW_METADATA},
        "secrets": spec(MAP, open=True),  # type: custom
        "configs": spec(MAP, open=True),  # type: custom
    },
)

SETTINGS = spec(
    MAP,
    what="the workspace settings",
    unknown_severity=Severity.WARNING,
    unknown_effect=_IGNORED,
    keys={
        "defaults": spec(
            MAP,
            what="defaults",
            unknown_severity=Severity.WARNING,
            unknown_effect=_IGNORED,
            keys={"model": spec(STR), "connection": spec(STR)},
        ),
        "models": spec(MAP, values=MODEL),
        "deployments": spec(MAP, values=spec(STR, what="deployment")),
        "connections": spec(MAP, values=CONNECTION),
        # PW707's window: warn about models retiring within this many days (costing/retirement.py)
        "retirement": spec(MAP, what="retirement", keys={"window_days": spec(INT, STR)}),
        # The operate sections: known here, not "ignored"; serve/tracing/monitoring/alerts are checked
        # in full by the runtime's own readers through OPERATE_CHECKS (PW111).
        "serve": spec(MAP, open=True),
        "tracing": spec(MAP, open=True),
        "monitoring": spec(MAP, open=True),
        "deploy": spec(MAP, open=True),
        # deploy/registry.py: a shared folder, or a team database (its URL only as ${env:NAME})
        "registry": spec(MAP, what="registry", keys={"path": spec(STR), "url": spec(STR)}),
        # deploy/rollout_file.py: flow name -> {weights, sticky_key, shadow}
        "rollout": spec(MAP, values=spec(MAP, what="rollout", keys={
            "weights": spec(MAP, open=True), "sticky_key": spec(STR), "shadow": spec(MAP, open=True)})),
        # monitoring/alerts.py: the rules and their delivery (each rule checked in full when read)
        "alerts": spec(LIST),
        "alerts_webhook": spec(STR),
        "alerts_interval": spec(STR, INT),
        "alerts_trace_url": spec(STR),
    },
)


def is_settings_file(path: Path) -> bool:
    """promptwise.yaml or pyproject.toml (which may hold `[tool.promptwise]`)."""
    return path.name in (SETTINGS_FILE, PYPROJECT)


@dataclass
class SettingsFile:
    path: Path
    text: str
    root: YamlMapping | None  # the settings as a node tree (None: empty or unreadable)
    toml: bool = False
    problems: list[Problem] = field(default_factory=list)  # reading and syntax

    def mapping(self, name: str) -> YamlMapping | None:
        node = self.root.get(name) if self.root is not None else None
        return node if isinstance(node, YamlMapping) else None

    def connection_names(self) -> list[str] | None:
        """Names under `connections`, or None when the settings define no connections."""
        connections = self.mapping("connections")
        if connections is None or not connections.entries:
            return None
        return [entry.key_text for entry in connections.entries if entry.key_text]

    def default_connection(self) -> str | None:
        node = self.mapping("defaults").get("connection") if self.mapping("defaults") is not None else None
        return node.value if isinstance(node, YamlScalar) and isinstance(node.value, str) else None


_CACHE: "OrderedDict[tuple, SettingsFile | None]" = OrderedDict()
_CACHE_LOCK = threading.Lock()  # the language server analyzes from several threads


def read_settings_file(path: Path, text: str | None = None) -> SettingsFile | None:
    """A settings file read into nodes, or None for a pyproject.toml without
    `[tool.promptwise]`. Cached by content; never raises."""
    if text is None:
        try:
            stat = os.stat(path)
            key: tuple = (str(path), "file", stat.st_mtime_ns, stat.st_size)
        except OSError:
            key = (str(path), "missing")
    else:
        key = (str(path), "text", hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest())
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    settings = _read(path, text)
    with _CACHE_LOCK:
        _CACHE[key] = settings
        while len(_CACHE) > 64:
            _CACHE.popitem(last=False)
    return settings


def _read(path: Path, text: str | None) -> SettingsFile | None:
    read_problems: list[Problem] = []
    if text is None:
        text, problem = read_text(path)
        if problem is not None:
            read_problems.append(problem)
        if text is None:
            return SettingsFile(path, "", None, problems=read_problems)
    if text.startswith("\ufeff"):
        text = text[1:]
    if path.name == PYPROJECT:
        if "promptwise" not in text:
            return None
        from promptwise.documents.toml_nodes import parse_toml_table  # only for a pyproject.toml

        table = parse_toml_table(text)
        if table.root is None and not table.errors:
            return None
        for error in table.errors:
            read_problems.append(
                Problem(path, widen_to_token(error.range, text), Severity.ERROR, "PW101",
                        f"{error.message}; fix the TOML at this position")
            )  # fmt: skip
        return SettingsFile(path, text, table.root, toml=True, problems=read_problems)
    document = parse_yaml(text)
    for error in document.errors:
        read_problems.append(
            Problem(path, widen_to_token(error.range, text), Severity.ERROR, "PW101",
                    f"{error.message}; fix the YAML at this position")
        )  # fmt: skip
    for duplicate in document.duplicates:
        read_problems.append(
            Problem(path, duplicate.range, Severity.ERROR, "PW102",
                    f"duplicate key '{duplicate.key}' (also on line {duplicate.first.start.line + 1}); "
                    "the later one wins: remove or rename one of them")
        )  # fmt: skip
    root = document.root
    if root is not None and not isinstance(root, YamlMapping):
        if not (isinstance(root, YamlScalar) and root.value is None):
            read_problems.append(
                Problem(path, root.range, Severity.ERROR, "PW104",
                        "the settings must be a mapping of sections (defaults, models, deployments, "
                        "connections); write `section:` lines at the start of the line")
            )  # fmt: skip
        root = None
    return SettingsFile(path, text, root, problems=read_problems)


def settings_for(path: Path, context: Any = None) -> SettingsFile | None:
    """The settings that apply to a flow or prompt: the workspace's promptwise.yaml, else
    its pyproject.toml `[tool.promptwise]` (the order `promptwise.config` reads them in),
    preferring the editor's unsaved copy."""
    root = find_workspace_root(path)
    for name in (SETTINGS_FILE, PYPROJECT):
        candidate = root / name
        text = context.text(candidate) if context is not None else None
        if text is None and not candidate.is_file():
            continue
        if context is not None:
            context.dependencies.add(candidate)
        settings = read_settings_file(candidate, text)
        if settings is not None:
            return settings
    return None


# ------------------------------------------------------------------ the settings file


def check_settings_file(path: Path | str, text: str | None = None) -> list[Problem]:
    """Every problem of a promptwise.yaml or a pyproject.toml's `[tool.promptwise]`."""
    path = Path(path)
    settings = read_settings_file(path, text)
    if settings is None:
        return []
    problems = list(settings.problems)
    if settings.root is None:
        return problems
    problems += check_document_schema(settings.root, SETTINGS, path, "" if settings.toml else settings.text)
    problems += _model_numbers(settings)
    problems += _retirement_window(settings)
    problems += _connections(settings)
    problems += _default_connection(settings)
    secrets = scan_yaml(path, settings.text, settings.root)
    if settings.toml:  # TOML strings need their quotes back
        secrets = [_quote_fixes(problem) for problem in secrets]
    problems += secrets
    problems += _literal_keys(settings, secrets)
    problems += _operate_sections(settings)
    problems += _deploy_sections(settings)
    return problems


# The sections promptwise serve reads at start-up, checked by the runtime's own validators. That
# module sits in the operate layer, above this one: it is reached by name, like costing's checker.
OPERATE_CHECKS = "promptwise.serving.settings_check"
_OPERATE_SECTIONS = ("serve", "tracing", "monitoring", "alerts", "alerts_webhook", "alerts_interval",
                     "alerts_trace_url")


def _operate_sections(settings: SettingsFile) -> list[Problem]:
    if settings.root is None or not any(name in settings.root for name in _OPERATE_SECTIONS):
        return []  # most workspaces: nothing more is imported
    import importlib

    return importlib.import_module(OPERATE_CHECKS).check(settings.path, settings.text, settings.root)


# `rollout:` and `registry:`, checked by deploy's own readers (reached by name, as above).
DEPLOY_CHECKS = "promptwise.deploy.settings_check"
_DEPLOY_SECTIONS = ("rollout", "registry")


def _deploy_sections(settings: SettingsFile) -> list[Problem]:
    if settings.root is None or settings.toml or not any(name in settings.root for name in _DEPLOY_SECTIONS):
        return []
    import importlib

    return importlib.import_module(DEPLOY_CHECKS).check(settings.path, settings.text, settings.root)


def _problem(settings: SettingsFile, range_: Range, code: str, message: str,
             severity: Severity = Severity.ERROR, fixes: tuple[Fix, ...] = ()) -> Problem:  # fmt: skip
    return Problem(settings.path, range_, severity, code, message, fixes)


def _quote_fixes(problem: Problem) -> Problem:
    fixes = tuple(
        Fix(fix.title, tuple(TextEdit(e.path, e.range, f'"{e.new_text}"') for e in fix.edits)) for fix in problem.fixes
    )
    return Problem(problem.path, problem.range, problem.severity, problem.code, problem.message, fixes)


def _entries(mapping: YamlMapping | None):
    """(name, value node) of each entry whose value is a mapping."""
    if mapping is None:
        return
    for entry in mapping.entries:
        if entry.key_text is not None and isinstance(entry.value, YamlMapping):
            yield entry.key_text, entry.value


def _model_numbers(settings: SettingsFile) -> list[Problem]:
    problems = []
    for model, fields in _entries(settings.mapping("models")):
        for entry in fields.entries:
            name = entry.key_text
            if name not in _MODEL_WHOLE_NUMBERS and name not in _MODEL_PRICES:
                continue
            node = entry.value
            if not isinstance(node, YamlScalar) or node.value is None or isinstance(node.value, bool):
                continue  # empty values and true/false: the schema reports those
            where = f"`models.{model}.{name}`"
            unit = "US dollars per 1M tokens" if name in _MODEL_PRICES else "tokens"
            value = node.value
            if isinstance(value, str):
                number = _number(value)
                if number is None:
                    problems.append(_problem(
                        settings, node.range, "PW104",
                        f"{where} must be a number ({unit}), not the text '{value}'; write the figure",
                    ))  # fmt: skip
                    continue
                written = _format(number)
                problems.append(_problem(
                    settings, node.range, "PW104",
                    f"{where} is the string \"{value}\", not a number; write it without quotes: `{name}"
                    f"{' =' if settings.toml else ':'} {written}`",
                    fixes=(Fix(f"Write {written} as a number", (TextEdit(settings.path, node.range, written),)),),
                ))  # fmt: skip
                continue
            if name in _MODEL_WHOLE_NUMBERS and isinstance(value, float) and not value.is_integer():
                problems.append(_problem(
                    settings, node.range, "PW104", f"{where} must be a whole number of {unit}, not {value}",
                ))  # fmt: skip
            elif name in _MODEL_WHOLE_NUMBERS and value <= 0:
                problems.append(_problem(
                    settings, node.range, "PW106", f"{where} must be more than 0 {unit}; fix the figure",
                ))  # fmt: skip
            elif name in _MODEL_PRICES and value < 0:
                problems.append(_problem(
                    settings, node.range, "PW106", f"{where} cannot be negative ({unit}); fix the price",
                ))  # fmt: skip
    return problems


def _retirement_window(settings: SettingsFile) -> list[Problem]:
    """`retirement.window_days` as costing/retirement.py reads it (a whole number of days, 0 or
    more), reported here at its line: otherwise every flow says at 1:1 that retirement was not checked."""
    section = settings.mapping("retirement")
    for entry in section.entries if section is not None else ():
        node = entry.value
        if entry.key_text != "window_days" or not isinstance(node, YamlScalar) or isinstance(node.value, bool):
            continue  # true/false: the schema reports those
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return []
        fixes = ()
        if isinstance(value, str) and value.strip().isdigit():
            written = str(int(value.strip()))
            fixes = (Fix(f"Write {written} as a number", (TextEdit(settings.path, node.range, written),)),)
        return [_problem(settings, node.range, "PW104",
                         f"`retirement.window_days` must be a whole number of days (0 or more), e.g. "
                         f"`window_days: 90`, not {'empty' if value is None else repr(value)}; until it is, "
                         "retiring models are not checked",
                         fixes=fixes)]
    return []


def _number(text: str) -> float | int | None:
    cleaned = text.strip().replace("_", "")
    try:
        return int(cleaned)
    except ValueError:
        pass
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def _format(number: float | int) -> str:
    return str(number) if isinstance(number, int) else repr(number)


def _connections(settings: SettingsFile) -> list[Problem]:
    problems = []
    for name, connection in _entries(settings.mapping("connections")):
        type_node = connection.get("type")
        kind = None
        if isinstance(type_node, YamlScalar) and isinstance(type_node.value, str):
            spelled = type_node.value.strip().lower().replace("-", "_")
            if spelled in _CONNECTION_TYPE_SPELLINGS:
                kind = "custom" if spelled.startswith("custom") else spelled
            else:
                guess = suggest(spelled, CONNECTION_TYPES)
                hint = f"; did you mean '{guess}'?" if guess else f"; use one of: {', '.join(CONNECTION_TYPES)}"
                fixes = (replace_fix(settings.path, type_node.range, _quoted(settings, guess), f"Change to '{guess}'"),)
                problems.append(_problem(
                    settings, type_node.range, "PW106",
                    f"connection `{name}` has type '{type_node.value}', which promptwise does not know{hint}",
                    fixes=fixes if guess else (),
                ))  # fmt: skip
        for entry in connection.entries:
            key = entry.key_text
            if key is None:
                continue
            if key in AUTH_KEYS and isinstance(entry.value, YamlScalar):
                problems += _entra_without_azure_identity(settings, name, key, entry.value)
            if kind == "custom" and key not in _CUSTOM_KEYS:
                problems.append(_problem(
                    settings, entry.key.range, "PW103",
                    f"custom connection `{name}` takes only `secrets` (as ${{env:NAME}}) and `configs`; "
                    f"move `{key}` under one of them",
                ))  # fmt: skip
            elif kind not in (None, "custom") and key in ("secrets", "configs"):
                problems.append(_problem(
                    settings, entry.key.range, "PW103",
                    f"`{key}` is for connections of type custom, and connection `{name}` is "
                    f"'{type_node.value}'; remove it or make the connection `type: custom`",
                ))  # fmt: skip
    return problems


def _entra_without_azure_identity(settings: SettingsFile, name: str, key: str, value: YamlScalar) -> list[Problem]:
    """PW112 (warning): `auth: entra` (or Prompt flow's `auth_mode: meid_token`) signs in through
    azure-identity, which the core install leaves out: a run would stop on it, so say it here
    with the install command. Looked for, not imported (a check stays fast)."""
    if auth_value(value.value) != "entra" or not missing_modules(ENTRA_MODULE):
        return []
    return [_problem(settings, value.range, "PW112",
                     f"connection `{name}` signs in with Entra ID (`{key}: {value.value}`), which needs the "
                     f"azure-identity package, not installed here; install it with: {install_command(ENTRA_EXTRA)}",
                     Severity.WARNING)]


def _quoted(settings: SettingsFile, text: str | None) -> str:
    return f'"{text}"' if settings.toml and text is not None else (text or "")


def _default_connection(settings: SettingsFile) -> list[Problem]:
    defaults = settings.mapping("defaults")
    node = defaults.get("connection") if defaults is not None else None
    if not isinstance(node, YamlScalar) or not isinstance(node.value, str) or not node.value:
        return []
    defined = settings.connection_names() or []
    if node.value in defined:
        return []
    guess = suggest(node.value, defined) if defined else None
    if guess:
        advice = f"did you mean '{guess}'?"
    elif defined:
        advice = f"use one of: {', '.join(defined)}, or define `{node.value}` under `connections`"
    else:
        advice = f"define `{node.value}` under `connections:` (type, base_url, api_key: ${{env:NAME}})"
    fixes = (replace_fix(settings.path, node.range, _quoted(settings, guess), f"Change to '{guess}'"),) if guess else ()
    return [_problem(
        settings, node.range, "PW216",
        f"defaults.connection is '{node.value}', which is not defined under `connections`, so every "
        f"run without its own connection fails; {advice}",
        fixes=fixes,
    )]  # fmt: skip


def _literal_keys(settings: SettingsFile, already: list[Problem]) -> list[Problem]:
    """`api_key` and custom `secrets.*` must be `${env:NAME}`: the engine refuses anything
    else, placeholder or real, when a run starts. Values the secret scan already reported
    (as a real key) are not reported twice."""
    problems = []
    for name, connection in _entries(settings.mapping("connections")):
        type_node = connection.get("type")
        kind = type_node.value if isinstance(type_node, YamlScalar) else None
        candidates: list[tuple[str, YamlNode, str]] = [("api_key", connection.get("api_key"), _env_name(name, kind, "api_key"))]
        custom_secrets = connection.get("secrets")
        if isinstance(custom_secrets, YamlMapping):
            for entry in custom_secrets.entries:
                if entry.key_text:
                    label = f"secrets.{entry.key_text}"
                    candidates.append((label, entry.value, _env_name(name, None, entry.key_text)))
        for label, node, env in candidates:
            if not isinstance(node, YamlScalar) or node.value is None or node.value == "":
                continue
            value = str(node.value).strip()
            if _ENV_REFERENCE.fullmatch(value):
                continue
            if any(_inside(problem.range, node.range) for problem in already):
                continue
            reference = f"${{env:{env}}}"
            fix = Fix(f"Read it from {reference}", (TextEdit(settings.path, node.range, _quoted(settings, reference) or reference),))
            problems.append(_problem(
                settings, node.range, "PW606",
                f"`connections.{name}.{label}` is written literally; promptwise only takes keys from the "
                f"environment and refuses to run with this connection. Move the value to the environment "
                f"variable {env} and write `{reference}` here",
                fixes=(fix,),
            ))  # fmt: skip
    return problems


def _inside(inner: Range, outer: Range) -> bool:
    return outer.start <= inner.start and inner.end <= outer.end


def _env_name(connection: str, kind: Any, field_name: str) -> str:
    prefix = {"openai": "OPENAI", "open_ai": "OPENAI", "azure_openai": "AZURE_OPENAI", "azure_open_ai": "AZURE_OPENAI",
              "azure": "AZURE_OPENAI"}.get(
        str(kind or "").lower()
    )
    prefix = prefix or snake(connection).upper() or "CONNECTION"
    return f"{prefix}_{snake(field_name).upper()}"


# ------------------------------------------------------------------ flows and prompts


def check(document: Any, context: Any = None) -> list[Problem]:
    """PW216 warnings for connection names the workspace does not define."""
    if not isinstance(document, (FlowDag, Prompty)):
        return []
    settings = settings_for(document.path, context)
    problems = _llm_nodes_without_connection(document, settings) if isinstance(document, FlowDag) else []
    if settings is None:
        return problems
    defined = settings.connection_names()
    if defined is None:  # no `connections:` in the workspace: Prompt flow's own store decides
        return problems
    for name, range_ in _connection_uses(document):
        if name in defined or name in PROMPTFLOW_CONNECTION_NAMES:
            continue
        problems.append(_unknown_connection(document.path, name, range_, defined, settings))
    return problems


def _llm_nodes_without_connection(flow: FlowDag, settings: SettingsFile | None) -> list[Problem]:
    """PW217: an llm node with no `connection`, which Prompt flow refuses to run. An error,
    unless the workspace names a default connection (Promptwise runs it with that): then a
    warning, since the flow still fails under Prompt flow."""
    default = settings.default_connection() if settings is not None else None
    problems = []
    for node in flow.all_nodes():
        if node.type != "llm" or node.connection or "connection" in node.inputs or node.mapping is None:
            continue
        where = node.name_range
        if default:
            problems.append(Problem(
                flow.path, where, Severity.WARNING, "PW217",
                f"llm node '{node.name}' names no `connection`: Promptwise uses the default connection '{default}', "
                f"but Prompt flow refuses the node; add `connection: <name>`"))
        else:
            problems.append(Problem(
                flow.path, where, Severity.ERROR, "PW217",
                f"llm node '{node.name}' names no `connection`, so Prompt flow cannot call a model for it; add "
                f"`connection: <name>` (a Prompt flow connection, or one under `connections` in promptwise.yaml)"))
    return problems


def _connection_uses(document: FlowDag | Prompty) -> list[tuple[str, Range]]:
    uses = []
    if isinstance(document, FlowDag):
        for node in document.all_nodes():
            range_ = node.value_range("connection")
            if node.connection and range_ is not None:
                uses.append((node.connection, range_))
        return uses
    root = document.root
    model = root.get("model") if root is not None else None
    if not isinstance(model, YamlMapping):
        return uses
    configuration = model.get("configuration")
    places = [model.get("connection")]
    if isinstance(configuration, YamlMapping):
        places.append(configuration.get("connection"))
    for node in places:  # a mapping here is an inline connection, not a name
        if isinstance(node, YamlScalar) and isinstance(node.value, str) and node.value.strip():
            if not _ENV_REFERENCE.search(node.value):
                uses.append((node.value.strip(), node.range))
    return uses


def _unknown_connection(path: Path, name: str, range_: Range, defined: list[str], settings: SettingsFile) -> Problem:
    shown = _display(settings.path, path)
    guess = suggest(name, defined) or suggest(name, sorted(PROMPTFLOW_CONNECTION_NAMES))
    default = settings.default_connection()
    if default:
        consequence = f"runs would silently use the default connection '{default}'"
    else:
        consequence = "runs would fall back to the OPENAI_*/AZURE_OPENAI_* environment variables"
    if guess:
        advice = f"did you mean '{guess}'?"
        fixes: tuple[Fix, ...] = (replace_fix(path, range_, guess, f"Change to '{guess}'"),)
    else:
        advice = f"use one of: {', '.join(defined)}, or define '{name}' under `connections` in {shown}"
        fixes = ()
    return Problem(
        path, range_, Severity.WARNING, "PW216",
        f"connection '{name}' is not defined in {shown} ({consequence}); {advice}",
        fixes,
    )  # fmt: skip


def _display(settings_path: Path, document_path: Path) -> str:
    try:
        return os.path.relpath(settings_path, document_path.parent)
    except ValueError:
        return str(settings_path)
