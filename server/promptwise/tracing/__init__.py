"""Tracing: every run, batch row, evaluation call and served request as an OpenTelemetry trace.

    from promptwise import tracing
    tracing.configure(workspace_root, service_name="promptwise-serve")   # once per process/workspace
    tracer = tracing.get_tracer("promptwise.serving")                    # plain OTel API from here on
    with tracer.start_as_current_span("POST /score") as span: ...        # the engine's spans nest below
    tracing.shutdown(timeout_s=5.0)                                      # flush before exit

The engine creates its spans with the OpenTelemetry API alone (engine/spans.py), so a caller's
span (a served request) is their parent through the OTel context. `configure` installs the SDK
TracerProvider once per process, with two processors behind a switch that later calls can
replace: the local span store (`.promptwise/traces.sqlite`, tracing/processor.py; for `promptwise
serve` its writer runs in a child process, tracing/writer.py, off the event loop's GIL) and, when
OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, the SDK's OTLP/HTTP
exporter in a BatchSpanProcessor (tracing/export.py). Both work in bounded background queues
that drop and count rather than block. While the local store is the only consumer, the engine's
own spans skip the SDK's export machinery (tracing/local.py); with an exporter they are the
SDK's. Attribute names: tracing/attributes.py.

The SDK itself comes with the `otlp` extra: the core install has the OTel API alone, and then
`configure` installs tracing/local.py's LocalProvider, whose spans (ids, nesting through the
OTel context, limits) go to the local store as the SDK's would; an OTLP endpoint set without
the extra is named once in a warning with the `pip install` that brings export.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

_lock = threading.Lock()
_provider = None  # the TracerProvider our processors hang from (set once per process): the SDK's or a LocalProvider
_pipeline = None  # the switch in front of the current processors: a Pipeline, or the LocalProvider itself
_configured_for: tuple | None = None  # (workspace root, settings, OTLP requested, writer process) now in force
_store_processor = None
_own_provider = False  # the provider is the one we installed (not the user's own SDK set-up)
_value_limits = None  # our SDK provider's span limits as the OTEL_* variables set them (value lengths included)


def configure(workspace_root: Path, *, service_name: str = "promptwise", settings: Any = None,
              writer_process: bool = False) -> bool:
    """Turn tracing on for the workspace at `workspace_root` (its `tracing:` settings, or
    `settings`: a TracingSettings or the section as a dict). Returns whether spans are recorded.

    Safe to call again (another workspace, other settings): the previous processors are
    flushed and replaced. `service_name` names the process in exported traces; the first
    call in a process sets it. `writer_process`: the local store's writer runs in a child process
    (tracing/writer.py), so it never holds the caller's GIL: for `promptwise serve`, whose event
    loop's tail it would lengthen. Raises ConfigError for a `tracing:` section that cannot be used."""
    from promptwise.tracing.export import otlp_processor, otlp_requested
    from promptwise.tracing.settings import parse_settings, tracing_settings

    root = Path(workspace_root).resolve()
    resolved = tracing_settings(root) if settings is None else parse_settings(settings)
    global _configured_for, _store_processor
    with _lock:
        key = (root, resolved, otlp_requested(), writer_process)
        if _configured_for == key and _pipeline is not None and _pipeline.active:
            return True
        _ensure_provider(service_name)
        old = _pipeline.replace(())
        _shutdown_processors(old, timeout_s=5.0)
        _configured_for, _store_processor = None, None
        _set_engine_switches(False, False)
        if not resolved.enabled:
            return False
        processors = []
        pii = _pii_policy(resolved)
        keyring = _store_keyring(resolved, root if settings is None else None)
        store_processor = _make_store_processor(root, resolved, pii, keyring, writer_process)
        if store_processor is not None:
            processors.append(store_processor)
        exporter = otlp_processor(pii=pii)
        if exporter is not None:
            processors.append(exporter)
        _pipeline.replace(tuple(processors))
        _configured_for, _store_processor = key, store_processor
        local = _local_tracer(store_processor) if processors == [store_processor] else None
        _set_engine_switches(bool(processors), resolved.capture_content, local)
        return bool(processors)


@contextmanager
def traced(path: Path | str | None, *, service_name: str = "promptwise") -> Iterator[bool]:
    """Tracing on, for the workspace that holds `path` (a flow; the current folder when None),
    while the block runs; every span written out when it ends. For commands (`run`, `batch`,
    `eval`): a `tracing:` section that cannot be used is a FlowError naming file and line."""
    from promptwise.config import ConfigError, find_workspace_root
    from promptwise.engine.errors import FlowError

    try:
        on = configure(find_workspace_root(Path(path) if path else Path.cwd()), service_name=service_name)
    except ConfigError as error:
        raise FlowError(str(error)) from None
    try:
        yield on
    finally:
        shutdown()


def flush(timeout_s: float = 5.0) -> bool:
    """Write out every finished span (local store and OTLP) without stopping tracing."""
    if _pipeline is None:
        return True
    return all(_within(timeout_s, lambda p=processor: p.force_flush(int(timeout_s * 1000)))
               for processor in _pipeline.processors)


def shutdown(timeout_s: float = 5.0) -> None:
    """Flush and stop the current processors; spans after this are not recorded (until the
    next `configure`). Safe to call when tracing was never configured."""
    global _configured_for, _store_processor
    with _lock:
        if _pipeline is None:
            return
        old = _pipeline.replace(())
        _configured_for, _store_processor = None, None
        _set_engine_switches(False, False)
    _shutdown_processors(old, timeout_s=timeout_s)


def is_enabled() -> bool:
    return _pipeline is not None and _pipeline.active


def dropped_spans() -> int:
    """Spans dropped by the local store's queue since `configure` (the queue was full, or the
    disk refused them). For /metrics."""
    processor = _store_processor
    return processor.dropped if processor is not None else 0


def get_tracer(name: str = "promptwise"):
    """An OpenTelemetry tracer; its spans go to the configured processors."""
    from opentelemetry import trace

    return trace.get_tracer(name)


# --- internals ---------------------------------------------------------------------------
def _ensure_provider(service_name: str) -> None:
    """Install our TracerProvider as the global one (once). If the process already has an SDK
    provider (the user's own OTel set-up), our processors join it instead. Without the SDK
    (the core install) the provider is a LocalProvider (tracing/local.py)."""
    global _provider, _pipeline, _own_provider, _value_limits
    if _pipeline is not None:
        return
    from opentelemetry import trace

    service_name = _service_name(service_name)

    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:  # the OTel API alone: spans for the local store only
        from promptwise.tracing.local import LocalProvider

        try:
            provider = LocalProvider(service_name)
        except ValueError as error:  # an OTEL_*_LIMIT variable that is no count, refused as the SDK does
            raise _refused_variable(error) from None
        trace.set_tracer_provider(provider)
        _provider = _pipeline = provider
        _own_provider = True
        return
    except ValueError as error:  # the SDK reads the OTEL_*_LIMIT variables as it loads, and refuses bad ones
        raise _refused_variable(error) from None

    from opentelemetry.sdk.trace import SpanLimits

    from promptwise.tracing.pipeline import CuttingPipeline, Pipeline, PipelineSampler

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):  # the user's provider: its limits are the user's own
        pipeline = Pipeline()
        current.add_span_processor(pipeline)
        _provider = current
    else:
        try:
            limits = SpanLimits()  # the OTEL_*_LIMIT variables, read here
            # A value length limit is applied by our pipeline to content only (tracing/limits.py):
            # the SDK's would cut our ids too, with a warning line per value.
            lengths = (limits.max_span_attribute_length, limits.max_attribute_length)
            pipeline = Pipeline() if lengths == (None, None) else CuttingPipeline(*lengths)
            provider = TracerProvider(resource=Resource.create({"service.name": service_name}),
                                      sampler=PipelineSampler(pipeline), shutdown_on_exit=False,
                                      span_limits=SpanLimits(max_attribute_length=SpanLimits.UNSET,
                                                             max_span_attribute_length=SpanLimits.UNSET))
        except ValueError as error:  # an OTEL_*_LIMIT variable that is no count
            raise _refused_variable(error) from None
        _value_limits = limits
        provider.add_span_processor(pipeline)
        trace.set_tracer_provider(provider)
        _provider = provider
        _own_provider = True
    _pipeline = pipeline


def _service_name(default: str) -> str:
    """The process's service.name: the user's OTEL_SERVICE_NAME, else a `service.name=` in
    OTEL_RESOURCE_ATTRIBUTES (the SDK's order), else ours. Ours given to Resource.create would
    win over both, and every flow would show in Jaeger or Phoenix as one `promptwise` service."""
    import os
    from urllib.parse import unquote

    named = os.environ.get("OTEL_SERVICE_NAME", "").strip()
    if named:
        return named
    for pair in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() == "service.name" and unquote(value.strip()):
            return unquote(value.strip())
    return default


def _refused_variable(error: ValueError):
    """The ConfigError for an OpenTelemetry environment variable that tracing cannot start with
    (the error names it): a command says so and stops, as it does for a bad `tracing:` setting."""
    from promptwise.config import ConfigError

    return ConfigError(f"tracing: {error} (an OpenTelemetry environment variable); fix or unset it")


def _pii_policy(settings):
    """The settings' PII policy; a hash key that went missing since the settings were read is
    a ConfigError (content is never stored or exported unprocessed)."""
    from promptwise.config import ConfigError
    from promptwise.tracing.pii import PiiKeyError, policy_from_settings

    try:
        return policy_from_settings(settings)
    except PiiKeyError as error:
        raise ConfigError(f"tracing settings: {error}") from None


def _store_keyring(settings, root: Path | None = None):
    """The keyring that seals stored content (`tracing.encrypt`), or None when encryption is off;
    a key that cannot be used is a ConfigError (content is never stored in the clear instead),
    naming the settings file and line when the settings came from the workspace at `root`."""
    if settings.encrypt is None:
        return None
    from promptwise.config import ConfigError
    from promptwise.store.encryption import StoreKeyError, keyring_from_settings
    from promptwise.tracing.settings import store_keyring

    if root is not None:
        return store_keyring(root, strict=True)

    try:
        return keyring_from_settings(settings.encrypt, strict=True)
    except StoreKeyError as error:
        raise ConfigError(str(error)) from None


def _make_store_processor(root: Path, settings, pii=None, keyring=None, writer_process: bool = False):
    from promptwise.tracing.processor import StoreSpanProcessor
    from promptwise.tracing.store import SpanStore

    try:
        store = SpanStore.for_workspace(root, keyring=keyring)
    except Exception as error:  # a damaged or unwritable store: trace to OTLP only, say why
        log.warning("tracing: spans will not be stored locally: %s", error)
        return None
    options = dict(queue_size=settings.queue_size, retention_days=settings.retention_days,
                   capture_content=settings.capture_content, pii=pii)
    if writer_process:
        from promptwise.tracing.writer import ProcessSpanProcessor

        return ProcessSpanProcessor(store, encrypt=settings.encrypt, **options)
    return StoreSpanProcessor(store, **options)


def _shutdown_processors(processors, *, timeout_s: float) -> None:
    """Flush and stop each processor, within `timeout_s` in all: the SDK's batch processor
    ignores flush timeouts and retries a collector that is down for its export timeout, and a
    command must not hang at exit for a collector."""
    for processor in processors:
        if not _within(timeout_s, processor.shutdown):
            log.warning("tracing: spans not exported within %g s (is the OTLP collector down?); giving up on them",
                        timeout_s)


def _within(timeout_s: float, call) -> bool:
    """Run `call` in a daemon thread for at most `timeout_s`; whether it finished (and did not raise)."""
    outcome: list[bool] = []

    def run() -> None:
        try:
            call()
            outcome.append(True)
        except Exception as error:  # an exporter that fails to stop must not stop the caller
            log.warning("tracing: a span processor failed (%s: %s)", type(error).__name__, error)
            outcome.append(False)

    thread = threading.Thread(target=run, name="promptwise-tracing-flush", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(outcome) and outcome[0]


def _local_tracer(store_processor):
    """A LocalTracer (tracing/local.py) when the local store is all that records spans: our own
    provider (not a user's, whose processors want SDK spans), the SDK not disabled; a value length
    limit is applied as by CuttingPipeline. None: the engine uses the SDK's spans. Without the SDK: the
    LocalProvider's current tracer."""
    from promptwise.tracing.local import LocalProvider, LocalTracer

    if isinstance(_provider, LocalProvider):
        return _provider.tracer

    if _provider is None or not _own_provider or getattr(_provider, "_disabled", True) or _value_limits is None:
        return None
    return LocalTracer(store_processor, _provider.resource, _provider.id_generator, _value_limits)


def _set_engine_switches(enabled: bool, capture: bool, tracer=None) -> None:
    from promptwise.engine import spans

    spans.set_tracer(tracer if enabled else None)
    spans.set_enabled(enabled)
    spans.set_capture_content(enabled and capture)
