"""PW6xx: API keys and connection strings written literally in flows, prompts and tools.

Codes:
  PW601  OpenAI API key (`sk-...`, `sk-proj-...`)
  PW602  Azure key (32 hex characters) under a key-like name
  PW603  AWS access key id (`AKIA...`, `ASIA...`)
  PW604  connection string or URL with a password / AccountKey
  PW605  long high-entropy value under a key-like name (api_key, secret, token, password ...)

Each is an error whose fix moves the value out of the file: in YAML the value becomes
`${env:NAME}`, in Python `os.environ["NAME"]`. References (`${env:X}`, `${inputs.x}`),
Jinja expressions, obvious placeholders (`<your-key>`, `xxx`, `...`) and short values are
never flagged. Reading is static: YAML through our node tree, Python through `ast`.
"""

from __future__ import annotations

import ast
import hashlib
import math
import re
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from promptwise.analysis.context import normalize
from promptwise.analysis.problem import Fix, Problem, Severity, TextEdit
from promptwise.documents.python_tool import Utf8Columns, import_insert_line, parse_quietly
from promptwise.documents.source import Range
from promptwise.documents.yaml_nodes import YamlMapping, YamlNode, YamlScalar, YamlSequence, parse_yaml

# ------------------------------------------------------------------ what a secret looks like

# Every pattern here must run in time linear in the text, because a pasted base64 or hex
# blob can be one line of a megabyte. Two rules keep it so (tests/analysis/test_secret_scan_work.py):
# - a match may start only at the beginning of a run of the characters its first part
#   consumes (a look-behind): otherwise a run of n letters gives n start positions that each
#   read to the end of the run, which is n**2 / 2 steps;
# - what follows a run is consumed possessively (`*+`, `++`): the next part of the pattern
#   can never match a character of that run, so giving characters back could never help.
_OPENAI = re.compile(r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")
_AWS_ACCESS_KEY = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
# `AccountKey=...;` / `Password=...` inside a connection string
_CONNECTION_SECRET = re.compile(
    r"(?i)(?<![A-Za-z])(AccountKey|SharedAccessKey|Password|Pwd)\s*+=\s*+([^;'\"\s]++)"
)
# `scheme://user:password@host`; the scheme is the run of scheme characters before `://`
# from its first letter on (`1http://` -> `http`), as a leftmost search would find it.
_URL_PASSWORD = re.compile(
    r"(?<![A-Za-z0-9+.-])[0-9+.-]*+[A-Za-z][A-Za-z0-9+.-]*+://[^/\s:@]++:([^@\s/]++)@"
)

# Every pattern above needs one of these in the value.
_MARKERS = ("sk-", "AKIA", "ASIA", "=", "://")

_PLACEHOLDER_WORDS = (
    "xxx", "...", "***", "your", "example", "placeholder", "replace", "changeme",
    "change_me", "dummy", "fake", "sample", "redacted", "insert", "test", "todo",
)  # fmt: skip

# Names whose value is a credential, matched on the end of the snake_cased name.
_KEY_LIKE_ENDINGS = (
    "api_key", "apikey", "key", "secret", "token", "password", "passwd", "pwd",
    "access_key_id", "connection_string", "conn_str", "connstr", "credential",
    "credentials", "sas", "auth", "authorization", "bearer", "passphrase",
)  # fmt: skip
_NOT_KEY_LIKE = frozenset(
    {"sort_key", "partition_key", "row_key", "cache_key", "primary_key", "foreign_key",
     "dict_key", "lookup_key", "output_key", "input_key", "key", "max_tokens"}
)  # fmt: skip
_PASSWORD_ENDINGS = ("password", "passwd", "pwd", "passphrase")
# Names too generic to name an environment variable on their own.
_GENERIC = frozenset(
    {"api_key", "apikey", "key", "secret", "token", "password", "passwd", "pwd",
     "access_key", "connection_string", "conn_str", "connstr", "credential", "credentials",
     "auth", "authorization", "bearer", "client_secret", "secret_key", "access_token"}
)  # fmt: skip
_PROVIDER_PREFIX = {
    "azure_openai": "AZURE_OPENAI",
    "azure_open_ai": "AZURE_OPENAI",  # Prompt flow's spelling
    "azureopenai": "AZURE_OPENAI",
    "azure": "AZURE_OPENAI",
    "openai": "OPENAI",
    "serverless": "SERVERLESS",
}


@lru_cache(maxsize=4096)
def snake(name: str) -> str:
    """`apiKey`, `API-Key`, `OPENAI_API_KEY` -> `api_key`, `api_key`, `openai_api_key`."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@lru_cache(maxsize=4096)  # the same few key names repeat across a whole flow
def is_key_like(name: str | None) -> bool:
    if not name:
        return False
    normalized = snake(name)
    if normalized in _NOT_KEY_LIKE and normalized != "key":
        return False
    return any(
        normalized == ending or normalized.endswith("_" + ending) for ending in _KEY_LIKE_ENDINGS
    )


def _entropy(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _classes(value: str) -> int:
    return sum(
        bool(re.search(pattern, value)) for pattern in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]")
    )


def is_placeholder(value: str) -> bool:
    lowered = value.lower()
    if "<" in value or ">" in value or "${" in value or "{{" in value or "{%" in value:
        return True
    if value.startswith(("$", "%(", "os.environ")):
        return True
    return any(word in lowered for word in _PLACEHOLDER_WORDS)


def _looks_random(value: str, minimum: int) -> bool:
    if len(value) < minimum or any(c.isspace() for c in value):
        return False
    return _entropy(value) >= 3.0 and _classes(value) >= 2


@dataclass(frozen=True)
class Secret:
    code: str
    label: str  # "an OpenAI API key"
    start: int  # the secret's span inside the value
    end: int
    kind: str  # openai | azure | aws | connection | generic


def classify(value: str, key: str | None = None) -> Secret | None:
    """The secret a string value holds, if any. `key` is the name it is stored under."""
    if not value or len(value) < 8 or value.lstrip().startswith("${"):
        return None
    key_like = is_key_like(key)
    if not key_like and not any(marker in value for marker in _MARKERS):
        return None  # the common case, kept cheap: ordinary text under an ordinary name
    for match in _OPENAI.finditer(value):
        token = match.group(0)
        if not is_placeholder(token) and _entropy(token) >= 3.5:
            return Secret("PW601", "an OpenAI API key", match.start(), match.end(), "openai")
    for match in _AWS_ACCESS_KEY.finditer(value):
        if not is_placeholder(match.group(0)):
            return Secret("PW603", "an AWS access key id", match.start(), match.end(), "aws")
    for match in _CONNECTION_SECRET.finditer(value):
        secret = match.group(2)
        minimum = 20 if match.group(1).lower() in ("accountkey", "sharedaccesskey") else 6
        if len(secret) >= minimum and not is_placeholder(secret):
            return Secret(
                "PW604", f"a connection string with its {match.group(1)}",
                match.start(2), match.end(2), "connection",
            )  # fmt: skip
    for match in _URL_PASSWORD.finditer(value):
        secret = match.group(1)
        if len(secret) >= 6 and not is_placeholder(secret):
            return Secret("PW604", "a URL with a password", match.start(1), match.end(1), "connection")
    if not key_like:
        return None
    stripped = value.strip()
    offset = value.index(stripped) if stripped else 0
    if is_placeholder(stripped):
        return None
    if _HEX32.fullmatch(stripped):
        return Secret("PW602", "an Azure key", offset, offset + len(stripped), "azure")
    password = snake(key or "").endswith(_PASSWORD_ENDINGS)
    if _looks_random(stripped, 8 if password else 20):
        label = "a password" if password else "a secret-looking value"
        return Secret("PW605", label, offset, offset + len(stripped), "generic")
    return None


def env_name(key: str | None, secret: Secret, provider: str | None = None, parent: str | None = None) -> str:
    """The environment variable a secret should move to, derived from its name:
    `api_key` under an azure_openai configuration -> AZURE_OPENAI_API_KEY."""
    normalized = snake(key) if key else ""
    if secret.kind == "aws":
        return "AWS_ACCESS_KEY_ID"
    if not is_key_like(key) and not (secret.kind == "connection" and normalized):
        # stored under an ordinary name (`prompt`, `description`): name it after what it is
        return {"openai": "OPENAI_API_KEY", "azure": "AZURE_OPENAI_API_KEY"}.get(
            secret.kind, "AZURE_STORAGE_CONNECTION_STRING" if "AccountKey" in secret.label else "SECRET"
        )
    if secret.kind == "connection" and not is_key_like(key):
        if normalized.endswith(("url", "uri", "dsn", "conn", "connection")):
            return normalized.upper()
        return f"{normalized.upper()}_CONNECTION_STRING"
    if normalized not in _GENERIC:
        return normalized.upper()
    base = {"apikey": "api_key", "key": "api_key"}.get(normalized, normalized)
    prefix = None
    if provider:
        prefix = _PROVIDER_PREFIX.get(snake(provider))
    if prefix is None and secret.kind == "openai":
        prefix = "OPENAI"
    if prefix is None and secret.kind == "connection" and "AccountKey" in secret.label:
        prefix = "AZURE_STORAGE"
    if prefix is None and secret.kind == "azure":
        prefix = "AZURE_OPENAI"
    if prefix is None and parent and snake(parent) not in _STRUCTURAL:
        prefix = snake(parent).upper()
    return f"{prefix}_{base.upper()}" if prefix else base.upper()


def movable(value: str, secret: Secret) -> bool:
    """Whether the whole value can move to the environment: it is the secret itself, or a
    connection string / URL (moved whole). A key inside prose gets no automatic edit."""
    stripped = value.strip()
    if value[secret.start : secret.end] == stripped:
        return True
    return secret.kind == "connection" and "\n" not in stripped


# Mapping keys that structure a file rather than name a service (never an env prefix).
_STRUCTURAL = frozenset(
    {"configuration", "model", "inputs", "outputs", "nodes", "node", "parameters", "options",
     "connection", "connections", "environment_variables", "environment", "sample", "init",
     "default", "value", "variants", "node_variants", "source", "settings", "env"}
)  # fmt: skip


def _message(secret: Secret, key: str | None, name: str, where: str) -> str:
    under = f" under `{key}`" if key else ""
    return (
        f"{secret.label} is written literally{under}; anyone who can read this file can use it. "
        f"Move it to the environment variable {name} and {where} (then rotate the key, "
        "since it may already be in version control)"
    )


# ------------------------------------------------------------------ YAML


def _scalar_span(node: YamlScalar, lines: list[str], secret: Secret) -> Range:
    """The secret's exact range when the scalar sits on one line as written; otherwise
    the whole scalar (block and folded scalars no longer map character for character)."""
    start, end = node.range.start, node.range.end
    if start.line == end.line and node.style in (None, "'", '"') and start.line < len(lines):
        raw = lines[start.line][start.character : end.character]
        token = node.value[secret.start : secret.end]
        at = raw.find(token)
        if at >= 0:
            begin = start.character + at
            return Range.of(start.line, begin, start.line, begin + len(token))
    return node.range


def _provider(mapping: YamlMapping) -> str | None:
    for key in ("type", "api_type", "apiType", "provider"):
        node = mapping.get(key)
        if isinstance(node, YamlScalar) and isinstance(node.value, str):
            return node.value
    return None


# Flow files read `${env:NAME}` only under `environment_variables`: anywhere else Prompt flow
# (and we) take `${env:...}` for a reference to a node called `env` (PW202), so writing it
# there would trade one problem for another.
_FLOW_FILE_NAMES = frozenset({"flow.dag.yaml", "flow.dag.yml", "flow.flex.yaml", "flow.flex.yml"})


def _flow_advice(top: str | None, name: str) -> str:
    """What to do with a key in a flow file outside `environment_variables`, the Prompt flow way."""
    if top in ("nodes", "node_variants", "init"):
        return (
            "pass it as Prompt flow does, through a connection: define one in promptwise.yaml "
            f"(e.g. `type: custom` with `secrets: {{api_key: ${{env:{name}}}}}`), write the "
            "connection's name here and type the tool's parameter as that connection "
            f"(`CustomConnection`); or set {name} in the environment and read it in the tool "
            f'with `os.environ["{name}"]`'
        )
    return (
        f"remove it from the flow; where code needs it, add `{name}: ${{env:{name}}}` under "
        "`environment_variables:` (or a connection's field, `${my_connection.api_key}`)"
    )


def scan_yaml(path: Path, text: str, root: YamlNode | None) -> list[Problem]:
    """Secrets in a parsed YAML tree (ranges are those of the tree, already in file lines)."""
    if root is None:
        return []
    lines = text.split("\n")
    flow_file = path.name.lower() in _FLOW_FILE_NAMES
    return _walk(path, lines, root, root, (None, None, None, None), flow_file, memo=True)


def _walk(
    path: Path, lines: list[str], root: YamlNode, start: YamlNode,
    names: tuple[str | None, str | None, str | None, str | None], flow_file: bool, memo: bool,
) -> list[Problem]:  # fmt: skip
    problems: list[Problem] = []
    # explicit stack: (node, (key it is stored under, provider hint, parent key, top-level
    # key), whether it is a list item whose scan may come from the cache)
    stack: list[tuple[YamlNode, tuple, bool]] = [(start, names, False)]
    seen: set[int] = set()
    while stack:
        node, (key, provider, parent, top), cached = stack.pop()
        if cached:
            problems += _scan_item(path, lines, root, node, (key, provider, parent, top), flow_file)
            continue
        if id(node) in seen:  # aliases share nodes
            continue
        seen.add(id(node))
        if isinstance(node, YamlMapping):
            hint = _provider(node) or provider
            for entry in reversed(node.entries):
                stack.append((entry.value, (entry.key_text, hint, key, top if node is not root else entry.key_text), False))
        elif isinstance(node, YamlSequence):
            for item in reversed(node.items):
                stack.append((item, (key, provider, parent, top), memo and isinstance(item, YamlMapping)))
        elif isinstance(node, YamlScalar) and isinstance(node.value, str):
            problem = _scalar_problem(path, lines, node, key, provider, parent, top, flow_file)
            if problem is not None:
                problems.append(problem)
    return problems


def _scalar_problem(
    path: Path, lines: list[str], node: YamlScalar, key: str | None, provider: str | None,
    parent: str | None, top: str | None, flow_file: bool,
) -> Problem | None:  # fmt: skip
    secret = classify(node.value, key)
    if secret is None:
        return None
    name = env_name(key, secret, provider, parent)
    fixes: tuple[Fix, ...] = ()
    if flow_file and top != "environment_variables":
        todo = _flow_advice(top, name)
    elif movable(node.value, secret):
        edit = TextEdit(path, node.range, f"${{env:{name}}}")
        fixes = (Fix(f"Move the value to ${{env:{name}}}", (edit,)),)
        todo = f"write `${{env:{name}}}` here"
    else:
        todo = f"remove it from this text: where the key is needed, write `${{env:{name}}}`"
    return Problem(
        path, _scalar_span(node, lines, secret), Severity.ERROR, secret.code,
        _message(secret, key, name, todo), fixes,
    )  # fmt: skip


# Incremental: a flow's 200 nodes are list items, and an edit changes one of them. The scan
# of a list item is kept under its exact text and place (file, start and end line and
# column), so an unchanged node is not walked again; an edit that moves a node to other
# lines scans it afresh. Items with YAML anchors or aliases are always walked, since their
# values may come from elsewhere in the file.
_ITEM_SCANS: "OrderedDict[tuple, list[Problem]]" = OrderedDict()
_ITEM_SCANS_LOCK = threading.Lock()
ITEM_SCANS_MAX = 4096


def _scan_item(
    path: Path, lines: list[str], root: YamlNode, item: YamlNode, names: tuple, flow_file: bool
) -> list[Problem]:
    start_line, start_column, end_line, end_column = item.range.start.line, item.range.start.character, item.range.end.line, item.range.end.character
    source = "\n".join(lines[start_line : end_line + 1])
    if "&" in source or "*" in source:
        return _walk(path, lines, root, item, names, flow_file, memo=False)
    digest = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    key = (str(path), start_line, start_column, end_line, end_column, digest, names, flow_file)
    with _ITEM_SCANS_LOCK:
        found = _ITEM_SCANS.get(key)
        if found is not None:
            _ITEM_SCANS.move_to_end(key)
            return list(found)
    found = _walk(path, lines, root, item, names, flow_file, memo=False)
    with _ITEM_SCANS_LOCK:
        _ITEM_SCANS[key] = found
        while len(_ITEM_SCANS) > ITEM_SCANS_MAX:
            _ITEM_SCANS.popitem(last=False)
    return list(found)


# ------------------------------------------------------------------ Python


def _target_name(target: ast.expr) -> str | None:
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
        return str(target.slice.value)
    return None


def _called_name(func: ast.expr) -> str | None:
    """`log_metric` for `log_metric(...)` and `promptflow.log_metric(...)`."""
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else None


def _named_strings(tree: ast.AST) -> Iterable[tuple[ast.Constant, str | None]]:
    """Every string constant with the name it is bound to, when it has one."""
    named: dict[int, str] = {}
    metric_names: set[int] = set()  # ast.walk meets a call before its keywords
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                name = _target_name(target)
                if name:
                    named[id(node.value)] = name
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and node.value is not None:
            name = _target_name(node.target)
            if name:
                named[id(node.value)] = name
        elif isinstance(node, ast.Call) and _called_name(node.func) == "log_metric":
            # log_metric(key="gpt_relevance", value=...): `key` names a metric, not a credential
            metric_names.update(id(k.value) for k in node.keywords if k.arg == "key")
        elif isinstance(node, ast.keyword) and node.arg and id(node.value) not in metric_names:
            named[id(node.value)] = node.arg
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    named[id(value)] = key.value
        elif isinstance(node, ast.arguments):  # def f(api_key="sk-...")
            positional = node.posonlyargs + node.args
            for arg, default in zip(positional[len(positional) - len(node.defaults) :], node.defaults):
                named[id(default)] = arg.arg
            for arg, default in zip(node.kwonlyargs, node.kw_defaults):
                if default is not None:
                    named[id(default)] = arg.arg
    in_fstring: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            in_fstring.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstring:
            yield node, named.get(id(node))


def _import_os_edit(path: Path, tree: ast.Module) -> TextEdit | None:
    """`import os` after the docstring and `from __future__` lines, unless already there."""
    for node in tree.body:
        if isinstance(node, ast.Import) and any(a.name == "os" and not a.asname for a in node.names):
            return None
    line = import_insert_line(tree)
    return TextEdit(path, Range.empty(line, 0), "import os\n")


def scan_python(path: Path, text: str) -> list[Problem]:
    """Secrets in string literals of a Python file (parsed, never run)."""
    try:
        tree = parse_quietly(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return scan_text(path, text)  # still look: a broken file can leak a key too
    cols = Utf8Columns(text)
    problems: list[Problem] = []
    import_edit: TextEdit | None | bool = False  # computed on first need
    for constant, key in _named_strings(tree):
        secret = classify(constant.value, key)
        if secret is None:
            continue
        literal = cols.node_range(constant)
        span = literal
        token = constant.value[secret.start : secret.end]
        line = cols.line(constant.lineno)
        at = line.find(token, literal.start.character) if literal.start.line == literal.end.line else -1
        if at >= 0:
            span = Range.of(literal.start.line, at, literal.start.line, at + len(token))
        name = env_name(key, secret)
        fixes: tuple[Fix, ...] = ()
        todo = f'read it from the environment (`os.environ["{name}"]`) instead of writing it in the code'
        if movable(constant.value, secret):
            if import_edit is False:
                import_edit = _import_os_edit(path, tree)
            edits = [TextEdit(path, literal, f'os.environ["{name}"]')]
            if isinstance(import_edit, TextEdit):
                edits.insert(0, import_edit)
            fixes = (Fix(f'Read it from os.environ["{name}"]', tuple(edits)),)
            todo = (
                f'read it with `os.environ["{name}"]`, or give the tool a connection whose key is '
                f"`${{env:{name}}}` in promptwise.yaml"
            )
        problems.append(
            Problem(path, span, Severity.ERROR, secret.code, _message(secret, key, name, todo), fixes)
        )
    return problems


# ------------------------------------------------------------------ plain text

# `api_key: value`, `api_key = "value"`, `"api_key": "value"` on one line
# (linear: the key starts at the first letter of its run of name characters, see the top)
_ASSIGNMENT = re.compile(
    r"""(?<![A-Za-z0-9_.-])[0-9.-]*+(?P<key>[A-Za-z_][A-Za-z0-9_.-]*+)["']?\s*+[:=]\s*+["']?(?P<value>[^\s"',;}]++)"""
)


def scan_text(path: Path, text: str, line_offset: int = 0) -> list[Problem]:
    """Secrets in text we do not parse as YAML or Python: templates, prompt bodies."""
    problems: list[Problem] = []
    for number, line in enumerate(text.split("\n")):
        if len(line) < 8:
            continue
        found: list[tuple[Secret, str | None, int]] = []
        secret = classify(line)
        if secret is not None:
            found.append((secret, None, 0))
        else:
            for match in _ASSIGNMENT.finditer(line):
                key = match.group("key").rsplit(".", 1)[-1]
                candidate = classify(match.group("value"), key)
                if candidate is not None:
                    found.append((candidate, key, match.start("value")))
                    break
        for secret, key, base in found:
            name = env_name(key, secret)
            line_no = number + line_offset
            problems.append(
                Problem(
                    path,
                    Range.of(line_no, base + secret.start, line_no, base + secret.end),
                    Severity.ERROR,
                    secret.code,
                    _message(
                        secret, key, name,
                        "remove it from this text: where a connection or prompty configuration "
                        f"needs it, write `${{env:{name}}}` there",
                    ),  # fmt: skip
                )
            )
    return problems


# ------------------------------------------------------------------ entry points


def check_text(path: Path | str, text: str) -> list[Problem]:
    """Secrets in any file by its kind: YAML (flows, promptwise.yaml), .prompty (front
    matter and body), Python, anything else as text."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".yaml", ".yml")):
        return scan_yaml(path, text, parse_yaml(text).root)
    if name.endswith(".py"):
        return scan_python(path, text)
    if name.endswith(".prompty"):
        from promptwise.documents.prompty import split_front_matter

        front, front_line, body_line = split_front_matter(text)
        if front is None:
            return scan_text(path, text)
        problems = scan_yaml(path, text, parse_yaml(front, line_offset=front_line).root)
        body = "\n".join(text.split("\n")[body_line:])
        return problems + scan_text(path, body, body_line)
    return scan_text(path, text)


def check(document: Any, context: Any = None) -> list[Problem]:
    """PW6xx problems of a loaded document (any kind promptwise reads) and, for a flow or
    prompty, of every file it uses (templates, tool modules, `${file:...}` files): a key
    pasted into a template leaks as surely as one in the flow, and `promptwise check`
    only opens the flow files themselves."""
    problems = document_secrets(document)
    if getattr(document, "kind", None) == "flow_dag":  # a key in a python node: via a connection
        from promptwise.analysis.secret_fixes import with_connection_fixes

        problems = with_connection_fixes(document, problems, context)
    if context is not None and hasattr(document, "yaml"):
        problems += _used_file_secrets(document, context)
    return problems


def _used_file_secrets(document: Any, context: Any) -> list[Problem]:
    from promptwise.analysis.analyzer import referenced_files  # the analyzer imports us lazily
    from promptwise.documents.load import read_text

    problems: list[Problem] = []
    own = Path(getattr(document, "path", ""))
    for used in sorted(referenced_files(document)):
        if used == own or not context.exists(used):
            continue
        loaded = context.load(used)
        if loaded is not None:
            if not hasattr(loaded, "yaml"):  # a flow's files are scanned with that flow
                problems += _cached_document_secrets(loaded)
            continue
        text = context.text(used)
        if text is None:
            text, _ = read_text(used)  # size, binary and encoding limits of every read
        if text is not None:  # data a prompty pulls in with ${file:...}: JSON, text
            problems += check_text(used, text)
    return problems


# Loaded documents are shared and replaced when their file changes, so a document object
# stands for one version of its file: its scan is kept rather than redone (an AST walk per
# tool file) every time a flow that uses it is analyzed on a keystroke. One entry per path
# (a newer version replaces the older), least recently used first, bounded by count and by
# the total length of the texts the entries hold, so typing in a large file never piles up
# versions; `forget` drops a file's entry when the editor closes it.
_SCANNED: "OrderedDict[str, tuple[Any, list[Problem]]]" = OrderedDict()
_SCANNED_LOCK = threading.Lock()
SCANNED_MAX_ENTRIES = 1024
SCANNED_MAX_CHARS = 8_000_000


def _text_length(document: Any) -> int:
    text = getattr(document, "text", None)
    return len(text) if isinstance(text, str) else 0


def _cached_document_secrets(document: Any) -> list[Problem]:
    key = str(normalize(getattr(document, "path", "")))
    with _SCANNED_LOCK:
        entry = _SCANNED.get(key)
        if entry is not None and entry[0] is document:
            _SCANNED.move_to_end(key)
            return list(entry[1])
    problems = document_secrets(document)
    with _SCANNED_LOCK:
        _SCANNED[key] = (document, problems)
        _SCANNED.move_to_end(key)
        total = sum(_text_length(kept) for kept, _ in _SCANNED.values())
        while len(_SCANNED) > 1 and (len(_SCANNED) > SCANNED_MAX_ENTRIES or total > SCANNED_MAX_CHARS):
            _, (dropped, _) = _SCANNED.popitem(last=False)
            total -= _text_length(dropped)
        if total > SCANNED_MAX_CHARS:  # one file alone is over the budget: not kept
            _SCANNED.clear()
    return list(problems)


def forget(path: Path | str) -> None:
    """Drop the kept scans of `path` (the editor closed it, or it was deleted)."""
    with _SCANNED_LOCK:
        _SCANNED.pop(str(normalize(path)), None)
    with _ITEM_SCANS_LOCK:
        for key in [key for key in _ITEM_SCANS if key[0] == str(path) or key[0] == str(normalize(path))]:
            del _ITEM_SCANS[key]


def document_secrets(document: Any) -> list[Problem]:
    """PW6xx problems of one loaded document, without the files it uses."""
    path = Path(getattr(document, "path", "<memory>"))
    text = getattr(document, "text", None)
    if not isinstance(text, str):
        return []
    yaml_document = getattr(document, "yaml", None)
    body_line = getattr(document, "body_line", None)
    if yaml_document is not None:  # flow.dag.yaml, flow.flex.yaml, .prompty front matter
        problems = scan_yaml(path, text, yaml_document.root)
        if body_line is not None and hasattr(document, "body"):
            problems += scan_text(path, document.body, body_line)
        return problems
    if body_line is not None and hasattr(document, "body"):  # a .prompty without front matter
        return scan_text(path, document.body, body_line)
    return check_text(path, text)
