"""The sections `promptwise serve` reads at start-up — `serve:`, `tracing:`, `monitoring:` and
the `alerts` rules — checked ahead, for `promptwise check` and the editor's diagnostics on
promptwise.yaml (PW111).

Nothing here decides what is valid: each section goes through the very function the runtime
calls (serving/settings.py, tracing/settings.py, store/encryption.py, monitoring/online_eval.py,
monitoring/metric_drift.py, monitoring/alerts.py), and this module only turns the error it
raises into a Problem at the setting it names (the first `section.key[0].key` in backticks,
then any bare key after it that exists there), else at the section.

- ERROR: the server would refuse the setting whatever the environment (an unknown key, a PII
  mode that is not redact/hash/drop, an encryption key written literally, a bad threshold).
- WARNING: the setting is sound, but this environment lacks what it needs (a `${env:NAME}` not
  exported, a store key shorter than 32 characters, the `cryptography` package): here, serve
  would answer without tracing, or refuse a consumer's key. CI and editors often lack
  production secrets, so these do not fail `check`.

The analysis reaches this module by name (analysis/settings.py), as it reaches costing's
checker: analysis sits below the operate layers and imports none of them.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from promptwise.analysis.problem import Problem, Severity
from promptwise.documents.source import Position, Range
from promptwise.documents.yaml_nodes import YamlMapping, YamlNode, YamlSequence, settings_mapping

log = logging.getLogger(__name__)

CODE = "PW111"
SECTIONS = ("serve", "tracing", "monitoring", "alerts", "alerts_webhook", "alerts_interval", "alerts_trace_url")
_WHERE = "<settings>"  # what the validators are told the file is; cut from their messages
# `serve.keys[0]` then `.sample_rate` outside the quotes (online_eval's spelling), or `key`
_NAMED = re.compile(r"`([A-Za-z_][\w.\[\]]*)`((?:\.[A-Za-z_]\w*|\[\d+\])*)|unknown setting ([A-Za-z_]\w*)")
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_FILE_LINE = re.compile(r"^(.*?):(\d+): (.*)$")


class _Unset(dict):
    """An environment where every variable is exported, each with its own value: the settings'
    form is checked without this machine's secrets."""

    def get(self, name, default=None):
        return f"promptwise-check-{name}-" + "x" * 32

    def __getitem__(self, name):
        return self.get(name)

    def __contains__(self, name) -> bool:
        return True


def check(path: Path, text: str, root: YamlMapping) -> list[Problem]:
    """PW111 problems of the operate sections present in a settings file's node tree."""
    if not any(name in root for name in SECTIONS):
        return []
    settings = settings_mapping(root)
    if settings is None:
        return []
    problems: list[Problem] = []
    locate = _Locator(path, root)
    # A section of the wrong shape (a list for `serve`) is the schema's PW104 already.
    if isinstance(root.get("serve"), YamlMapping):
        problems += _guarded("serve", lambda: _serve(settings.get("serve"), locate))
    if isinstance(root.get("tracing"), YamlMapping):
        problems += _guarded("tracing", lambda: _tracing(settings.get("tracing"), locate))
    if isinstance(root.get("monitoring"), YamlMapping):
        problems += _guarded("monitoring", lambda: _monitoring(settings, locate))
    if any(name in root for name in SECTIONS[4:]) or isinstance(root.get("alerts"), YamlSequence):
        problems += _guarded("alerts", lambda: _alerts(settings, path, text, locate))
    return problems


def _guarded(section: str, check_section) -> list[Problem]:
    """A validator that fails on a value it did not foresee costs its own section's problems only."""
    try:
        return check_section()
    except Exception:  # noqa: BLE001 - logged: the other sections are still checked
        log.exception("checking the `%s` settings failed", section)
        return []


# --- one function per section: the runtime's validator, then where its error points ---------
def _serve(section: Any, locate: "_Locator") -> list[Problem]:
    from promptwise.serving.settings import ServeConfigError, parse_serve_settings

    try:
        parse_serve_settings(section, _WHERE, _Unset())
    except ServeConfigError as error:
        return [locate("serve", str(error), Severity.ERROR)]
    try:  # the same again with this environment: a consumer's key not exported here
        parse_serve_settings(section, _WHERE, os.environ)
    except ServeConfigError as error:
        return [locate("serve", str(error), Severity.WARNING, here=True)]
    return []


def _tracing(section: Any, locate: "_Locator") -> list[Problem]:
    from promptwise.config import ConfigError
    from promptwise.tracing.settings import parse_settings

    try:
        settings = parse_settings(section, environment=False)
    except ConfigError as error:
        return [locate("tracing", str(error), Severity.ERROR)]
    problems = []
    if settings.pii == "hash":  # what the span store and exporter do when tracing starts
        from promptwise.tracing.pii import PiiKeyError, policy_from_settings

        try:
            policy_from_settings(settings)
        except PiiKeyError as error:
            problems.append(locate("tracing", str(error), Severity.WARNING, here=True))
    if settings.encrypt is not None:  # the writers' keyring (strict): the current key must open
        from promptwise.store.encryption import StoreKeyError, keyring_from_settings

        try:
            keyring_from_settings(settings.encrypt, where=_WHERE, strict=True)
        except StoreKeyError as error:
            problems.append(locate("tracing", str(error), Severity.WARNING, here=True))
    return problems


def _monitoring(settings: dict, locate: "_Locator") -> list[Problem]:
    from promptwise.config import ConfigError
    from promptwise.monitoring.metric_drift import drift_options
    from promptwise.monitoring.online_eval import read_settings

    problems = []
    for validate in (read_settings, drift_options):
        try:
            validate(settings)
        except ConfigError as error:
            problems.append(locate("monitoring", str(error), Severity.ERROR))
    return problems


def _alerts(settings: dict, path: Path, text: str, locate: "_Locator") -> list[Problem]:
    """Alert rules name their own lines: monitoring/alerts.py reads them from the file on disk, so
    in an editor whose unsaved copy moved the rules they may be off by those lines until saved."""
    from promptwise.monitoring.alerts import AlertRuleError, read_rules

    try:
        read_rules(settings, path)
    except AlertRuleError as error:
        problems = []
        for line in str(error).splitlines():
            found = _FILE_LINE.match(line)
            if found and found.group(1) == str(path):
                problems.append(locate.at_line(int(found.group(2)), found.group(3), text))
            else:
                section = next(name for name in SECTIONS[3:] if name in settings)
                problems.append(locate(section, line.removeprefix(f"{path}: "), Severity.ERROR))
        return problems
    return []


# --- where an error points --------------------------------------------------------------------
def with_line(message: str, path: Path | str, section: str = "serve") -> str:
    """A start-up error about a `section` setting of the file at `path` (`PATH: ...`), as
    `PATH:LINE: ...` with the line `promptwise check` points at, so `promptwise serve` says where
    the setting is; the message unchanged when the file cannot say."""
    from promptwise.analysis.settings import read_settings_file

    path = Path(path)
    prefix = f"{path}: "
    if not message.startswith(prefix):
        return message
    settings = read_settings_file(path)
    if settings is None or not isinstance(settings.root, YamlMapping) or settings.root.entry(section) is None:
        return message
    rest = message[len(prefix):]
    line = _Locator(path, settings.root)._range(section, rest).start.line + 1
    return f"{path}:{line}: {rest}"


class _Locator:
    def __init__(self, path: Path, root: YamlMapping) -> None:
        self.path, self.root = path, root

    def __call__(self, section: str, message: str, severity: Severity, here: bool = False) -> Problem:
        message = _without_where(message)
        if here:  # true of this machine, not of the file: say so
            message = f"in this environment: {message}"
        return Problem(self.path, self._range(section, message), severity, CODE, message)

    def at_line(self, line: int, message: str, text: str) -> Problem:
        lines = text.splitlines()
        content = lines[line - 1] if 0 < line <= len(lines) else ""
        start = len(content) - len(content.lstrip())
        where = Range(Position(line - 1, start), Position(line - 1, max(start, len(content.rstrip()))))
        return Problem(self.path, where, Severity.ERROR, CODE, message)

    def _range(self, section: str, message: str) -> Range:
        entry = self.root.entry(section)
        if entry is None:
            return self.root.range
        node: YamlNode = entry.value
        found = entry.key.range
        for match in _NAMED.finditer(message):
            name = (match.group(1) or "") + (match.group(2) or "") if match.group(3) is None else match.group(3)
            parts = _PART.findall(name)
            if parts and parts[0] == (section, ""):
                node, found, parts = entry.value, entry.key.range, parts[1:]
            for key, index in parts:
                step = _child(node, key, index)
                if step is None:
                    break
                node, found = step
        return found


def _child(node: YamlNode, key: str, index: str) -> tuple[YamlNode, Range] | None:
    if isinstance(node, YamlMapping) and key:
        entry = node.entry(key)
        return (entry.value, entry.key.range) if entry is not None else None
    if isinstance(node, YamlSequence) and index and int(index) < len(node.items):
        item = node.items[int(index)]
        return item, item.range
    return None


def _without_where(message: str) -> str:
    for prefix in (f"{_WHERE}: ", "tracing settings: "):
        message = message.replace(prefix, "")
    return message
