"""`promptwise connections list|test`: the connections a workspace resolves, without secrets.

`list` shows each connection defined in the settings (or, with none defined, the one the
environment variables give): its type, endpoint host, the environment variables it reads and
whether they are set, and how it authenticates. Secret values are never printed.
`test` makes one cheap call per connection (a chat completion of one token) and reports ok or
the error (redacted), with the latency.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_TEST_MODEL = "gpt-4o-mini"
_SECRET_KEYS = ("api_key", "secrets")


def register(subparsers) -> None:
    from promptwise.commands.run import positive_seconds

    parser = subparsers.add_parser(
        "connections", help="list the workspace's connections (no secrets) or test each with one cheap call",
        description="List the connections the workspace resolves, or test each with a one-token chat completion.")
    actions = parser.add_subparsers(dest="connections_action", metavar="ACTION")
    for name, help_text in (("list", "list the connections: type, endpoint host, environment variables, auth"),
                            ("test", "make one cheap call (1-token chat completion) per connection")):
        action = actions.add_parser(name, help=help_text, description=help_text)
        action.add_argument("names", nargs="*", metavar="NAME", help="only these connections (default: all)")
        action.add_argument("--workspace", type=Path, default=None, metavar="DIR",
                            help="workspace folder (default: found from the current folder)")
        action.add_argument("--format", choices=("text", "json"), default="text")
        if name == "test":
            action.add_argument("--model", default=None,
                                help="model (or Azure deployment) to call (default: defaults.model, the "
                                     f"connection's deployment, or {DEFAULT_TEST_MODEL})")
            action.add_argument("--timeout", type=positive_seconds, default=20.0, metavar="SECONDS",
                                help="per call (default 20)")
    parser.set_defaults(handler=run_list)
    actions.choices["list"].set_defaults(handler=run_list)
    actions.choices["test"].set_defaults(handler=run_test)


def _workspace(args):
    from promptwise.commands.options import existing_folder, workspace_or_error

    existing_folder("--workspace", getattr(args, "workspace", None))
    return workspace_or_error(getattr(args, "workspace", None) or Path.cwd())


def _env_names(value) -> list[str]:
    from promptwise.engine.connections import _ENV_REF

    if isinstance(value, dict):
        return [name for item in value.values() for name in _env_names(item)]
    return [match.group(1) for match in _ENV_REF.finditer(value)] if isinstance(value, str) else []


def _host(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url)
    return parsed.hostname + (f":{parsed.port}" if parsed.port else "") if parsed.hostname else None


def describe_connections(workspace, names: list[str] | None = None, environ=None) -> list[dict]:
    """One dict per connection, safe to print: never a secret value."""
    from promptwise.engine.connections import ConnectionConfigError, ConnectionResolver

    environ = os.environ if environ is None else environ
    resolver = ConnectionResolver(workspace.settings, str(workspace.source or workspace.root / "promptwise.yaml"),
                                  environ)
    specs = dict(resolver.specs)
    wanted = list(names or specs) or [None]  # none defined: what the environment gives
    rows = []
    for name in wanted:
        spec = specs.get(name) if name is not None else None
        row: dict = {"name": name or "(environment)", "default": bool(name and name == resolver.default_name)}
        variables = sorted(set(_env_names(spec or {})))
        row["env"] = {variable: bool(environ.get(variable)) for variable in variables}
        if name is not None and spec is None:
            row.update(type=None, host=None, auth=None, ok=False,
                       error=f"connection `{name}` is not defined in {resolver.source}")
            rows.append(row)
            continue
        row["type"] = str(spec.get("type")) if isinstance(spec, dict) and spec.get("type") else None
        try:
            connection = resolver.resolve(name)
        except ConnectionConfigError as error:
            from promptwise.redaction import redact

            row.update(host=_written_host(spec), auth=_auth(spec), ok=False, error=redact(str(error)))
            rows.append(row)
            continue
        row.update(type=connection.type, host=_host(connection.endpoint), auth=_auth(spec, connection),
                   api_version=connection.api_version, ok=True, error=None)
        if name is None:
            row["origin"] = connection.origin
        rows.append(row)
    return rows


def _written_host(spec) -> str | None:
    """The endpoint host as the settings write it, for a connection that does not resolve (a key
    not set...): shown all the same, unless it comes from a variable."""
    if not isinstance(spec, dict):
        return None
    for key in ("azure_endpoint", "base_url", "api_base"):
        value = spec.get(key)
        if isinstance(value, str) and "${" not in value:
            return _host(value)
    return None


def _auth(spec, connection=None) -> str:
    if connection is not None and connection.type == "custom":
        return "custom secrets" if connection.secrets else "none"
    if connection is not None and connection.auth != "key":
        return connection.auth
    if isinstance(spec, dict) and (spec.get("auth") or spec.get("auth_mode")):
        return str(spec.get("auth") or spec.get("auth_mode"))
    if connection is not None:
        return "api key" if connection.api_key else "none"
    return "api key" if isinstance(spec, dict) and spec.get("api_key") else "unknown"


def run_list(args) -> int:
    rows = describe_connections(_workspace(args), getattr(args, "names", None))
    resolved = 0 if all(row["ok"] for row in rows) else 1  # 1: some connection does not resolve
    if getattr(args, "format", "text") == "json":
        print(json.dumps(rows, indent=2))
        return resolved
    for row in rows:
        env = ", ".join(f"{name} ({'set' if is_set else 'NOT SET'})" for name, is_set in row["env"].items()) or "-"
        default = " (default)" if row["default"] else ""
        print(f"{row['name']}{default}: type {row['type'] or '?'}, endpoint {row['host'] or '?'}, "
              f"auth {row['auth'] or '?'}, env {env}")
        if row.get("origin"):
            print(f"  from {row['origin']}")
        if row["error"]:
            print(f"  error: {row['error']}")
    return resolved


def _a_deployment(workspace) -> str | None:
    """An Azure deployment the settings name (`deployments: {prod-chat: gpt-4o}`): on Azure the call
    goes to a deployment, and a model name is one only when the deployment was named after it."""
    deployments = workspace.settings.get("deployments")
    return next(iter(deployments), None) if isinstance(deployments, dict) else None


async def _test_one(connection, model: str, timeout: float) -> tuple[bool, float, str | None]:
    from promptwise.engine.providers import Provider, ProviderError, RetryPolicy

    provider = Provider(connection, RetryPolicy(max_attempts=1, timeout=timeout), concurrency=1)
    name, ping = provider.model_for(model, None), [{"role": "user", "content": "ping"}]
    started = time.perf_counter()
    try:
        try:
            await provider.chat(name, ping, {"max_tokens": 1})
        except ProviderError as error:
            if error.kind != "bad_request":
                raise
            # Reasoning models (o-series, gpt-5) refuse max_tokens and take max_completion_tokens;
            # a refused request is not billed, so asking once more the other way costs nothing.
            try:
                await provider.chat(name, ping, {"max_completion_tokens": 1})
            except ProviderError:
                raise error from None
        return True, (time.perf_counter() - started) * 1000, None
    except ProviderError as error:
        return False, (time.perf_counter() - started) * 1000, f"{error.kind}: {error.message}"
    finally:
        await provider.aclose()


def run_test(args) -> int:
    import asyncio  # here: `promptwise --help` imports this module and need not load asyncio

    from promptwise.engine.connections import ConnectionResolver
    from promptwise.redaction import redact

    workspace = _workspace(args)
    rows = describe_connections(workspace, args.names)
    resolver = ConnectionResolver.for_workspace(workspace)
    defaults = workspace.settings.get("defaults") if isinstance(workspace.settings.get("defaults"), dict) else {}
    for row in rows:
        row["latency_ms"] = None
        if not row["ok"] or row["type"] == "custom":
            if row["type"] == "custom":
                row["error"] = "custom connection: nothing to call"
                row["ok"] = None
            continue
        connection = resolver.resolve(None if row["name"] == "(environment)" else row["name"])
        model = args.model or connection.azure_deployment or (connection.is_azure and _a_deployment(workspace)) \
            or defaults.get("model") or DEFAULT_TEST_MODEL
        try:
            ok, latency, error = asyncio.run(_test_one(connection, str(model), args.timeout))
        except Exception as error:  # a client that cannot even be built: report it, test the others
            ok, latency, error = False, None, redact(f"{type(error).__name__}: {error}")
        row.update(ok=ok, latency_ms=round(latency, 1) if latency is not None else None, error=error, model=model)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            status = "ok" if row["ok"] else ("skipped" if row["ok"] is None else "error")
            latency = f" in {row['latency_ms']:.0f} ms" if row.get("latency_ms") is not None else ""
            print(f"{row['name']}: {status}{latency}" + (f" ({row['host']}, model {row['model']})" if row.get("model")
                                                       else "") + (f": {row['error']}" if row["error"] else ""))
    return 0 if all(row["ok"] is not False for row in rows) else 1
