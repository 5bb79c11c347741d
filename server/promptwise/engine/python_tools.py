"""Load and call the user's Python tools, as written.

The file is imported from disk (its folder on `sys.path`, so it can import its neighbours),
with the promptflow shim installed when promptflow is absent. Which function is the tool
follows Prompt flow's rule, as H1's static reader finds it (`find_tool_function`). Async
tools run on the event loop. Sync tools run in a thread pool, where code that blocks (a
database, an HTTP call) cannot hold up the other rows or requests; but a hop to a thread and
back costs more than a small tool itself (about 0.2 ms of CPU, and waits for the GIL between
the loop and the thread), so a sync tool whose first calls were all quick runs on the loop
from then on, and goes back to the pool for good the first time it is not quick
(`ToolPlacement`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import importlib.util
import inspect
import logging
import sys
import threading
import time
import traceback
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from promptwise.documents.python_tool import find_tool_function, load_python_tool
from promptwise.engine import shim
from promptwise.engine.errors import FlowError, NodeError

log = logging.getLogger(__name__)
_modules: dict[tuple[str, int], ModuleType] = {}
_import_lock = threading.Lock()


def _user_location(error: BaseException, files: set[str]) -> str:
    """` (file:line)` of the innermost traceback frame in the user's files, if any."""
    found = ""
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename in files:
            found = f" ({frame.filename}:{frame.lineno})"
    if not found and isinstance(error, SyntaxError) and error.filename:
        found = f" ({error.filename}:{error.lineno})"
    return found


def _stack(error: BaseException, folder: Path) -> str:
    """The traceback from the first frame in the user's folder on (the engine's, asyncio's and
    importlib's frames above it say nothing to them)."""
    frames = traceback.extract_tb(error.__traceback__)
    inside = str(folder.resolve())
    first_user = next((i for i, frame in enumerate(frames) if frame.filename.startswith(inside)), 0)
    shown = traceback.format_list(frames[first_user:])
    return "Traceback (most recent call last):\n" + "".join(shown) + "".join(
        traceback.format_exception_only(type(error), error))


def import_file(path: Path, module_name: str | None = None) -> ModuleType:
    """Import a Python file once per version of it; import errors become FlowError."""
    path = path.resolve()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise FlowError(f"{path}: the file does not exist; create it or fix the path that names it") from None
    key = (str(path), mtime)
    with _import_lock:
        if key in _modules:
            return _modules[key]
        shim.install()
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        name = module_name or f"promptwise_user_{path.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise FlowError(f"{path}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException as error:  # the user's module failed at import: report, never crash
            sys.modules.pop(name, None)
            if isinstance(error, KeyboardInterrupt):
                raise
            location = _user_location(error, {str(path)})
            log.debug("%s: importing failed:\n%s", path, _stack(error, path.parent))  # `promptwise -v` shows the stack
            hint = ""
            if isinstance(error, ModuleNotFoundError):
                hint = f"; install {error.name!r} in this Python environment"
            raise FlowError(f"{path}: importing failed{location}: {type(error).__name__}: {error}{hint}") from None
        _modules[key] = module
        return module


QUICK_SECONDS = 0.0005  # a call this short gains from running on the loop (a thread hop costs about as much)
QUICK_CALLS_FIRST = 20  # calls in the pool, all quick, before a sync tool runs on the loop
SLOW_SECONDS = 0.002  # two calls in a row on the loop longer than this send the tool back to the pool for good,
BLOCKING_SECONDS = 0.05  # and one this long does: a single slow call may only have waited for the GIL
_ASYNCIO_FOLDER = str(Path(asyncio.__file__).parent)


@dataclass
class ToolPlacement:
    """Where a sync tool runs: the thread pool until QUICK_CALLS_FIRST calls in a row were quick,
    then the event loop; back to the pool for good after a blocking call there (or two slow ones
    in a row), or one that needed a loop of its own (asyncio.run inside the tool). So a tool that
    turns slow later holds the loop once or twice, never again."""

    quick_calls: int = 0
    inline: bool = False
    pool_only: bool = False
    slow_on_loop: bool = False  # the last call on the loop was slow

    def took(self, seconds: float, *, on_loop: bool) -> None:
        if on_loop:
            slow = seconds > SLOW_SECONDS
            if seconds > BLOCKING_SECONDS or (slow and self.slow_on_loop):
                self.send_back()
            self.slow_on_loop = slow
        elif not self.pool_only:
            self.quick_calls = self.quick_calls + 1 if seconds < QUICK_SECONDS else 0
            self.inline = self.quick_calls >= QUICK_CALLS_FIRST

    def send_back(self) -> None:
        self.inline, self.pool_only = False, True


@dataclass
class PythonTool:
    """A callable tool: a function, or a method of a class created with init values."""

    path: Path
    function: Callable[..., Any]
    parameters: dict[str, inspect.Parameter]
    accepts_kwargs: bool
    owner: type | None = None  # the class, for class-based tools
    init_parameters: tuple[str, ...] = ()
    placement: ToolPlacement = field(default_factory=ToolPlacement, compare=False, repr=False)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)

    def has_default(self, name: str) -> bool:
        parameter = self.parameters.get(name)
        return parameter is not None and parameter.default is not inspect.Parameter.empty


def _describe(function: Callable) -> tuple[dict[str, inspect.Parameter], bool]:
    signature = inspect.signature(function)
    parameters = dict(signature.parameters)
    parameters.pop("self", None)
    accepts_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    return parameters, accepts_kwargs


def load_tool(path: Path, name: str | None, where: str) -> PythonTool:
    """The tool in `path` (Prompt flow's rule: the one @tool function; or `name` when given)."""
    static = load_python_tool(path) if path.is_file() else None
    if static is None:
        raise FlowError(f"{where}: the tool file {path} does not exist; create it or fix `source.path`")
    if static.syntax_error is not None:
        error = static.syntax_error
        line = getattr(error, "range", None)
        line_text = f":{line.start.line + 1}" if line is not None else ""
        raise FlowError(f"{path}{line_text}: syntax error: {getattr(error, 'message', error)}; fix the Python code")
    lookup = find_tool_function(static, name)
    if lookup.function is None:
        if lookup.error == "multiple":
            names = ", ".join(f.name for f in lookup.candidates)
            raise FlowError(f"{path}: more than one @tool function ({names}); keep one @tool per file, as Prompt "
                            f"flow requires")
        if lookup.error == "not_found":
            raise FlowError(f"{where}: {path} has no function or class named {name!r}")
        raise FlowError(f"{path}: no @tool function found; decorate the node's function with "
                        f"`@tool` (from promptflow.core import tool)")
    module = import_file(path)
    found = lookup.function
    if found.class_name:
        owner = getattr(module, found.class_name, None)
        if owner is None:
            raise FlowError(f"{path}: class {found.class_name} is not defined at import time")
        init_parameters = tuple(p for p in inspect.signature(owner.__init__).parameters if p != "self")
        function = getattr(owner, found.name)
        parameters, accepts_kwargs = _describe(function)
        return PythonTool(path, function, parameters, accepts_kwargs, owner, init_parameters)
    function = getattr(module, found.name, None)
    if not callable(function):
        raise FlowError(f"{path}: {found.name} is not callable after import")
    parameters, accepts_kwargs = _describe(function)
    return PythonTool(path, function, parameters, accepts_kwargs)


class ToolExit(Exception):
    """User code raised SystemExit or KeyboardInterrupt: that fails its row, not the process.
    (Left as they are, asyncio re-raises both out of the event loop: a served flow calling
    sys.exit() would stop the server, a batch row would end the batch.)"""


def exit_text(error: BaseException) -> str:
    return f"the code called sys.exit({error.code!r})" if isinstance(error, SystemExit) else "the code raised KeyboardInterrupt"


def _guarded(function, kwargs: dict, placement: ToolPlacement, on_loop: bool = False) -> Any:
    """A sync tool's call, in the tool thread or on the loop, timed for its placement."""
    usage = _thread_usage() if on_loop and _thread_usage is not None else None
    started = time.perf_counter()
    try:
        return function(**kwargs)
    except (SystemExit, KeyboardInterrupt) as error:
        raise ToolExit(exit_text(error)) from None
    finally:
        seconds = time.perf_counter() - started
        if usage is not None and seconds > SLOW_SECONDS:
            seconds = held_loop_seconds(seconds, usage, _thread_usage())
        placement.took(seconds, on_loop=on_loop)


try:  # Linux: the calling thread's own CPU time and context switches
    import resource

    _thread_usage = functools.partial(resource.getrusage, resource.RUSAGE_THREAD)
except (ImportError, AttributeError):  # elsewhere a slow call on the loop is judged by its wall time alone
    _thread_usage = None


def held_loop_seconds(wall: float, before, after) -> float:
    """How long a call on the loop held the loop up, for its placement (`before`/`after`: the
    loop thread's getrusage around it). Its wall time, unless the thread never gave up the CPU
    of its own accord during the call (no voluntary context switch: no sleep, no I/O, no wait for
    the GIL): then all beyond its own CPU time was the kernel running other processes, which
    would have held up the loop whatever ran on it. Measured (benchmarks/request_cpu.py with
    four busy processes beside it): log-triage's 0.05 ms tool took 59 ms on the loop once and was
    sent to the thread pool for good, where every call costs a thread hop."""
    if after.ru_nvcsw != before.ru_nvcsw:
        return wall
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return min(wall, cpu)


def _needed_its_own_loop(error: BaseException) -> bool:
    """The tool called asyncio.run (or ran a loop) and asyncio refused, as it does inside a
    running loop: the innermost frame of the error is asyncio's own."""
    frames = traceback.extract_tb(error.__traceback__)
    return isinstance(error, RuntimeError) and bool(frames) and frames[-1].filename.startswith(_ASYNCIO_FOLDER)


async def _guarded_async(coroutine) -> Any:
    try:
        return await coroutine
    except (SystemExit, KeyboardInterrupt) as error:
        raise ToolExit(exit_text(error)) from None


async def call_tool(tool: PythonTool, kwargs: dict[str, Any], executor: Executor | None,
                    instance_cache: dict | None = None, metrics: dict | None = None) -> Any:
    """Call a tool with keyword arguments; its exceptions become NodeError naming file and line."""
    function = tool.function
    call_kwargs = dict(kwargs)
    if tool.owner is not None:
        init_kwargs = {k: call_kwargs.pop(k) for k in list(call_kwargs) if k in tool.init_parameters}
        cache_key = (tool.owner, repr(sorted(init_kwargs.items())))
        instance = (instance_cache or {}).get(cache_key)
        if instance is None:
            instance = tool.owner(**init_kwargs)
            if instance_cache is not None:
                instance_cache[cache_key] = instance
        function = getattr(instance, function.__name__)
    unknown = [k for k in call_kwargs if k not in tool.parameters]
    if unknown and not tool.accepts_kwargs:
        raise NodeError(f"{tool.path}: the tool does not take input(s) {', '.join(unknown)}; remove them from the "
                        f"node or add the parameters")
    context = contextvars.copy_context()
    metrics_var = shim.metrics_context()
    context.run(metrics_var.set, metrics)
    try:
        if tool.is_async:
            task = asyncio.get_running_loop().create_task(_guarded_async(function(**call_kwargs)), context=context)
            return await task
        placement = tool.placement
        if placement.inline:
            try:
                return context.run(_guarded, function, call_kwargs, placement, True)
            except RuntimeError as error:
                if not _needed_its_own_loop(error):
                    raise
                placement.send_back()  # asyncio refused before the tool's work began: run it where it ran before
                context = contextvars.copy_context()
                context.run(metrics_var.set, metrics)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(context.run, _guarded, function, call_kwargs,
                                                                      placement))
    except asyncio.CancelledError:
        raise
    except NodeError:
        raise
    except Exception as error:  # the user's code failed: a row-level error, never a crash
        location = _user_location(error, {str(tool.path.resolve()), str(tool.path)})
        log.debug("%s: the tool raised:\n%s", tool.path, _stack(error, tool.path.parent))  # `promptwise -v` shows the stack
        raise NodeError(f"{type(error).__name__}: {error}{location}", "python") from None


def connection_parameter(tool: PythonTool, name: str) -> bool:
    """Is this parameter annotated with a connection class (`conn: CustomConnection`)?

    Prompt flow passes such parameters the connection named by the node input."""
    parameter = tool.parameters.get(name)
    if parameter is None or parameter.annotation is inspect.Parameter.empty:
        return False
    annotation = parameter.annotation
    label = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return str(label).rsplit(".", 1)[-1].endswith("Connection")


def tool_connection(connection) -> Any:
    """The promptflow-style connection object a tool receives (the shim's classes)."""
    from promptwise.engine.promptflow_shim import connections as classes

    if connection.type == "custom":
        return classes.CustomConnection(secrets=dict(connection.secrets), configs=dict(connection.configs),
                                        name=connection.name)
    if connection.is_azure:
        return classes.AzureOpenAIConnection(name=connection.name, api_key=connection.api_key,
                                             api_base=connection.azure_endpoint, api_type="azure",
                                             api_version=connection.api_version)
    return classes.OpenAIConnection(name=connection.name, api_key=connection.api_key, base_url=connection.base_url,
                                    organization=connection.organization)
