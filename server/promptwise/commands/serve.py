"""`promptwise serve FLOW [--host H] [--port P] [--workers N]`: a flow as a production HTTP endpoint.

uvicorn + starlette (the `serve` extra): an ASGI server light enough to add well under a
millisecond per request, streaming responses built in, and no pydantic of its own to clash with
ours. The flow is loaded and its connections resolved before the server starts, so a flow that
cannot serve is one clear error, not a server that answers 503.
"""

from __future__ import annotations

import argparse
import atexit
import ipaddress
import json
import os
import shutil
import sys
import tempfile

from promptwise.cli import UserError
from promptwise.commands.options import positive_int

LOOPBACK_NAMES = ("localhost",)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve a flow or prompt over HTTP",
        description="Serve a flow.dag.yaml, flow.flex.yaml or .prompty file over HTTP: POST /score (Prompt flow's "
                    "contract), POST /v1/chat/completions (OpenAI-compatible, chat flows), GET /health, /ready, "
                    "/metrics, /openapi.json. Binds 127.0.0.1 unless told otherwise; any other address needs API "
                    "keys in promptwise.yaml (serve.keys). The `serve:` section also sets per-consumer limits "
                    "(429 + Retry-After), max_body_bytes (413), timeout_seconds (504), max_concurrency (503 + "
                    "Retry-After), cors (off unless set) and log_inputs; `promptwise check` checks it. SIGTERM or "
                    "Ctrl-C drains: in-flight requests finish, traces and metering are written. Each consumer's "
                    "usage: `promptwise monitor --metering`.")
    parser.add_argument("flow", metavar="FLOW", nargs="?", help="flow folder, flow.dag.yaml, flow.flex.yaml or .prompty")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    parser.add_argument("--workers", type=positive_int, default=1, help="worker processes (default 1)")
    parser.add_argument("--no-trace", action="store_true", help="do not trace requests")
    parser.add_argument("--init", nargs="+", metavar="NAME=VALUE",
                        help="init values of a flex flow class entry, as pf flow serve --init takes them: NAME=VALUE "
                             "pairs (a VALUE may be JSON), a JSON object, or a JSON file such as init.json")
    parser.add_argument("--hash-key", action="store_true",
                        help="read an API key from stdin and print the sha256 to put in serve.keys, then exit")
    parser.set_defaults(handler=handle)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _require_extra() -> None:
    from promptwise.common.extras import missing_extra, missing_modules

    missing = missing_modules("uvicorn", "starlette", "prometheus_client")
    if missing:
        raise UserError(missing_extra("serving", missing, "serve"))


def handle(args: argparse.Namespace) -> int:
    if args.hash_key:
        from promptwise.serving.settings import hash_key

        key = sys.stdin.readline().strip()
        if not key:
            raise UserError("--hash-key: give the key on stdin, e.g. `printenv MY_KEY | promptwise serve --hash-key`")
        print(hash_key(key))
        return 0
    if not args.flow:
        raise UserError("serve: give the flow to serve (a folder, flow.dag.yaml, flow.flex.yaml or .prompty)")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: a port is 0-65535")
    _require_extra()
    config = _config_in_child(args) if args.workers > 1 and _CAN_FORK else _config_checked(args)
    shared = None  # the workers' shared files, for this server's life (removed when it stops)
    if args.workers > 1:
        shared = tempfile.mkdtemp(prefix="promptwise-serve-")
        # Removed however serve ends: a port in use, a worker that cannot start (uvicorn's exit 3).
        atexit.register(shutil.rmtree, shared, ignore_errors=True)
        # The workers count per-consumer rate limits in one window (serving/limits.py).
        config["limits_db"] = os.path.join(shared, "rate-limits.sqlite")
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Each worker writes its metrics here; /metrics (any worker) adds them up.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(shared, "metrics")
            os.mkdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    os.environ["PROMPTWISE_SERVE_CONFIG"] = json.dumps(config)
    _check_bindable(args.host, args.port)
    if args.workers > 1:  # each worker configures tracing: a missing `otlp` extra is said once, here
        from promptwise.tracing.export import warn_before_workers

        warn_before_workers()
    import uvicorn

    host = f"[{args.host}]" if ":" in args.host else args.host  # an IPv6 address, as a URL writes it
    print(f"promptwise: serving {config['flow']} on http://{host}:{args.port} "
          f"({args.workers} worker{'s' if args.workers != 1 else ''}; POST /score"
          f"{', POST /v1/chat/completions' if config.get('chat') else ''}, GET /openapi.json)",
          file=sys.stderr, flush=True)
    settings = config["settings"]
    uvicorn.run("promptwise.serving.app:app_from_environment", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="warning", access_log=False, lifespan="on",
                # In-flight requests get their timeout to finish on SIGTERM before the workers stop.
                timeout_graceful_shutdown=int(settings["timeout_seconds"]) + 5,
                # A backstop under our own limit (which answers 503 with Retry-After first).
                limit_concurrency=settings["max_concurrency"] * 2 + 32, server_header=False)
    if shared is not None:
        shutil.rmtree(shared, ignore_errors=True)
    return 0


def _config_checked(args: argparse.Namespace) -> dict:
    """The engine (imported with the GC paused, see import_engine), then every check before start-up."""
    from promptwise.commands.run import import_engine

    import_engine()
    return _config(args)


# fork() without exec: Linux only (macOS's system libraries are not fork-safe); elsewhere the
# supervisor runs the checks itself and keeps their imports.
_CAN_FORK = sys.platform.startswith("linux") and hasattr(os, "fork")


def _config_in_child(args: argparse.Namespace) -> dict:
    """`_config_checked` in a forked child that sends back the config (or the error) and exits.
    With --workers N the supervisor serves nothing, yet the checks import the engine and the
    openai SDK (~50 MB, never freed) and keep them for the server's life; the spawned workers
    import their own. Same checks, same messages and output (the child writes to the same
    stdout/stderr); the fork adds a few milliseconds to a start-up of seconds."""
    read_end, write_end = os.pipe()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child would write what is buffered here a second time
    pid = os.fork()
    if pid == 0:  # the child: never returns, never runs the parent's atexit handlers
        os.close(read_end)
        try:
            answer = {"config": _config_checked(args)}
        except UserError as error:
            answer = {"error": str(error)}
        except KeyboardInterrupt:
            answer = {"interrupted": True}
        except BaseException as error:  # noqa: BLE001 - reported as the CLI would, then passed on
            schema = sys.modules.get("promptwise.store.schema")  # cli.py says a damaged store in one line
            if schema is not None and isinstance(error, schema.DamagedDatabase):
                answer = {"error": str(error)}
            else:
                import traceback

                traceback.print_exc()
                answer = {"crashed": True}
        try:
            with os.fdopen(write_end, "w", encoding="utf-8") as out:
                json.dump(answer, out)
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        with os.fdopen(read_end, encoding="utf-8") as answers:
            text = answers.read()
    finally:
        _, status = os.waitpid(pid, 0)
    try:
        answer = json.loads(text)
    except ValueError:
        raise UserError(f"serve: the check before start-up ended without an answer (wait status {status}); "
                        f"nothing is served") from None
    if "error" in answer:
        raise UserError(answer["error"])
    if answer.get("interrupted"):
        raise KeyboardInterrupt
    if answer.get("crashed"):
        raise SystemExit(1)  # the child printed the traceback, as an uncaught error here would
    return answer["config"]


def _check_bindable(host: str, port: int) -> None:
    """A port another process holds (or a host that is not this machine's) is one error line
    before the banner, not "serving on ..." followed by uvicorn's own error and exit code 3."""
    import socket

    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is free
            sock.bind(address)
    except OSError as error:
        reason = error.strerror or str(error)
        raise UserError(f"cannot listen on {host}:{port}: {reason}; stop the process using it or choose another "
                        f"--port (or --host)") from None


def _config(args: argparse.Namespace) -> dict:
    """Check everything that can be checked before the server starts, and return the settings the
    workers read (PROMPTWISE_SERVE_CONFIG: no secrets, only key hashes)."""
    import asyncio
    from dataclasses import asdict

    from promptwise.config import ConfigError, load_workspace
    from promptwise.engine.errors import FlowError
    from promptwise.engine.flow_path import resolve_flow_path
    from promptwise.serving.flow import ServedFlow
    from promptwise.serving.settings import ServeConfigError, parse_serve_settings

    try:
        flow_path = resolve_flow_path(args.flow).resolve()
        workspace = load_workspace(flow_path)
    except (FlowError, ConfigError) as error:
        raise UserError(str(error)) from None
    where = str(workspace.source or workspace.root / "promptwise.yaml")
    try:
        settings = parse_serve_settings(workspace.settings.get("serve"), where)
    except ServeConfigError as error:
        from promptwise.serving.settings_check import with_line

        raise UserError(with_line(str(error), where)) from None
    if not args.no_trace:  # a typo in `tracing:` must not serve every request untraced (and unmonitored)
        from promptwise.tracing.settings import SECTION, parse_settings

        try:  # the file's errors (PW111 errors); a key variable this machine lacks serves untraced, saying why
            parse_settings(workspace.section(SECTION), workspace, environment=False)
        except ConfigError as error:
            raise UserError(f"{error} (or serve without traces: --no-trace)") from None
    if not is_loopback(args.host) and not settings.requires_keys:
        raise UserError(f"--host {args.host} would serve the flow to the network without API keys; add keys under "
                        f"`serve.keys` in {where} (`- consumer: NAME` with `key: ${{env:VAR}}` or `sha256: HEX`), or "
                        f"bind 127.0.0.1")

    from promptwise.deploy.errors import DeployError
    from promptwise.deploy.registry import check_name_owner, registry_root
    from promptwise.deploy.rollout import flow_name, served_state, state_path

    try:  # its registered name must be its own, or the rollout below would be another flow's
        check_name_owner(workspace, flow_path)
    except DeployError as error:
        raise UserError(str(error)) from None
    try:  # a flow with a rollout (promptwise rollout set) serves its packaged versions
        rollout = served_state(flow_path, workspace)
        # Without one, the server still watches where the first `promptwise rollout set` will write.
        root = registry_root(workspace)
        pending = (state_path(root, flow_name(flow_path)), root) if rollout is None else None
    except DeployError as error:
        raise UserError(f"{error}; nothing is served (fix it with promptwise rollout set or rollback)") from None

    from promptwise.commands.run import parse_values

    init = parse_values(args.init, "--init", json_values=True) or None
    if init is not None and rollout is not None:
        raise UserError("--init: this flow is served from its rollout's packaged versions, which do not take init "
                        "values from the command line; serve the flow's files (no rollout) to give --init")
    chat = False  # the banner names /v1/chat/completions only for a chat flow

    async def preflight() -> None:
        nonlocal chat
        flow = ServedFlow(flow_path, timeout_seconds=settings.timeout_seconds, init=init)
        try:
            await flow.open()
            chat = flow.chat_shape() is not None
        finally:
            await flow.close()

    if rollout is None:
        try:
            asyncio.run(preflight())
        except FlowError as error:
            raise UserError(str(error)) from None
    data = asdict(settings)
    config = {"flow": str(flow_path), "settings": data, "workers": args.workers,
              "state_dir": str(workspace.state_dir), "trace": not args.no_trace, "chat": chat, "init": init}
    if rollout is not None:
        config["rollout_state"], config["registry_root"] = str(rollout[0]), str(rollout[1])
    elif pending is not None:
        config["rollout_state"], config["registry_root"] = str(pending[0]), str(pending[1])
        config["rollout_pending"] = True
    return config
