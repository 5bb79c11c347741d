"""Online evaluation: evaluators scoring a sample of live requests, off the request path.

    monitoring:
      online_eval:
        evaluators: [pii, secrets, prompt_injection, json_valid]   # built-in kinds, or the name of an
                    # evaluator in the served flow's eval.yaml (or the workspace's), e.g. valid_category, or
                    # {name: polite, type: coherence, model: gpt-4o-mini}  (eval.yaml's entry shape)
        sample_rate: 0.1      # share of finished requests scored
        queue_size: 1000      # requests waiting; beyond it they are dropped and counted
        concurrency: 4        # requests scored at once: at most this many judge calls in flight

The server `offer`s each finished request (inputs, outputs, trace id, version, consumer): a
random draw and one `put_nowait` on a bounded queue, nothing more, and a full queue drops the
request and counts it. One daemon thread takes requests from the queue and runs the
evaluators in its own event loop: computed and safety evaluators in-process, LLM judges through
the engine's normal path (evaluation/judge_transport.py), at most `concurrency` calls in flight,
so they never compete with served traffic for more than that. A judge that fails is a score with
an error; nothing reaches the request. Scores go to a `scores` table in the trace store
(.promptwise/traces.sqlite) keyed by trace id, with the version and the evaluator's name;
rows older than `tracing.retention_days` are deleted like the traces.

What an evaluator reads: its `text`/`prediction` is the request's output (its one output's
value when there is one, else all outputs as JSON), except prompt_injection, which reads the
inputs (an injection attempt arrives in them).
"""

from __future__ import annotations

import asyncio
import difflib
import json
import logging
import queue
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptwise.config import ConfigError
from promptwise.documents.version_label import HASH_PREFIX, label_sql, version_match_sql
from promptwise.store.disk_full import DiskGate

# A score's version as monitor and the server's header spell it (scores keep what the server
# recorded: the full content hash when no packaged version answered).
SCORE_VERSION = label_sql("s.version")

log = logging.getLogger("promptwise.monitoring")

SECTION = "online_eval"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS scores (
    trace_id TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    version TEXT,
    consumer TEXT,
    evaluator TEXT NOT NULL,
    value REAL,
    passed INTEGER,
    error TEXT,
    content_hash TEXT           -- the flow's content hash: offline evaluations of the same content compare
);
-- Covering the monitor's aggregate per (version, evaluator) over a window: one sequential index
-- walk, no table lookups and no sort (a plain (version, evaluator, time_ns) index read 400k scores
-- five times slower). It replaces that index.
DROP INDEX IF EXISTS scores_by_version;
CREATE INDEX IF NOT EXISTS scores_summary ON scores(version, evaluator, time_ns, value, passed, error);
CREATE INDEX IF NOT EXISTS scores_by_trace ON scores(trace_id);
"""
RETENTION_CHECK_S = 3600.0


@dataclass
class Finished:
    """One finished request, as the server hands it over."""

    inputs: Any
    outputs: Any
    trace_id: str | None
    version: str | None
    consumer: str | None
    time_ns: int
    content_hash: str | None = None


@dataclass(frozen=True)
class OnlineSettings:
    evaluators: tuple
    sample_rate: float
    queue_size: int
    concurrency: int = 4


def read_settings(settings: dict, source: Path | None = None) -> OnlineSettings | None:
    """`monitoring.online_eval` of the workspace settings; None when absent. ConfigError (with
    the settings file) for a section that cannot be used."""
    section = ((settings or {}).get("monitoring") or {}).get(SECTION) if isinstance(settings, dict) else None
    if section is None:
        return None
    where = f"{source}: `monitoring.{SECTION}`" if source else f"`monitoring.{SECTION}`"
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a mapping (evaluators, sample_rate, queue_size)")
    unknown = sorted(set(section) - {"evaluators", "sample_rate", "queue_size", "concurrency"})
    if unknown:
        raise ConfigError(f"{where}: unknown setting {', '.join(unknown)}; allowed: evaluators, sample_rate, "
                          "queue_size, concurrency")
    evaluators = section.get("evaluators") or []
    if not isinstance(evaluators, list) or not evaluators:
        raise ConfigError(f"{where}.evaluators must be a non-empty list of evaluator kinds or eval.yaml entries")
    rate = section.get("sample_rate", 0.1)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
        raise ConfigError(f"{where}.sample_rate must be a number above 0 and at most 1 (got {rate!r})")
    size = section.get("queue_size", 1000)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 1_000_000:
        raise ConfigError(f"{where}.queue_size must be a whole number from 1 to 1000000 (got {size!r})")
    concurrency = section.get("concurrency", 4)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 64:
        raise ConfigError(f"{where}.concurrency must be a whole number from 1 to 64 (got {concurrency!r})")
    return OnlineSettings(tuple(evaluators), float(rate), size, concurrency)


def eval_configs_for(workspace_root: Path, flow_path: Path | None) -> list[Path]:
    """The eval.yaml files whose evaluators online evaluation may name: the served flow's, then
    the workspace root's."""
    from promptwise.evaluation.config import find_eval_config

    found = [find_eval_config(Path(flow_path))] if flow_path is not None else []
    found.append(find_eval_config(Path(workspace_root)))
    return list(dict.fromkeys(path.resolve() for path in found if path is not None))


def _named_in_eval_config(name: str, configs: list[Path], judge_transport, where: str):
    """The evaluator called `name` in the first eval.yaml that has one (its type, threshold,
    options, judge defaults and column mapping), or None."""
    from promptwise.evaluation.base import EvaluatorConfigError
    from promptwise.evaluation.config import EvaluationError, load_eval_config
    from promptwise.evaluation.registry import BuildContext, build_evaluator, resolve_type

    for path in configs:
        try:
            config = load_eval_config(path)
        except EvaluationError as error:
            raise ConfigError(f"{where}: evaluator `{name}` is looked up in {path}, which has errors:\n{error}") from None
        spec = next((spec for spec in config.evaluators if spec.name == name), None)
        if spec is None:
            continue
        try:
            evaluator = build_evaluator(resolve_type(spec.type), spec.name, spec.threshold, spec.options,
                                        BuildContext(base_dir=config.base_dir, judge_transport=judge_transport,
                                                     judge_defaults=config.judge))
        except (EvaluatorConfigError, ValueError, TypeError) as error:
            raise ConfigError(f"{path}: evaluator `{name}` cannot run online: {error}") from None
        # Its column mapping, read from the live request: ${run.outputs.X} from the outputs, ${data.X}
        # and ${run.inputs.X} from the inputs (a reference column live requests lack is an error row).
        evaluator.online_inputs = dict(spec.inputs)
        return evaluator
    return None


def _names_in(configs) -> list[str]:
    from promptwise.evaluation.config import EvaluationError, load_eval_config

    names = []
    for path in configs:
        try:
            names += [spec.name for spec in load_eval_config(path).evaluators]
        except EvaluationError:
            pass
    return names


def build_evaluators(entries, workspace_root: Path, *, judge_transport=None, where: str = "monitoring.online_eval",
                     eval_configs: list[Path] = ()):
    """Evaluator objects for `entries`: the name of an evaluator in one of `eval_configs`
    (eval.yaml files), a kind name, or a mapping in eval.yaml's entry shape."""
    from promptwise.evaluation.base import EvaluatorConfigError
    from promptwise.evaluation.registry import EVALUATOR_TYPES, BuildContext, build_evaluator, resolve_type

    built = []
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, str):
            named = _named_in_eval_config(entry, list(eval_configs), judge_transport,
                                          f"{where}.evaluators[{number}]")
            if named is not None:
                built.append(named)
                continue
            entry = {"name": entry, "type": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("type", entry.get("name")), str):
            raise ConfigError(f"{where}.evaluators[{number}]: give a kind name or a mapping with `type`")
        options = dict(entry)
        name = str(options.pop("name", None) or options.get("type"))
        kind_name = options.pop("type", name)
        threshold = options.pop("threshold", None)
        kind = resolve_type(kind_name)
        if kind is None:
            searched = ", ".join(str(path) for path in eval_configs) or "no eval.yaml found"
            hint = difflib.get_close_matches(kind_name, [*_names_in(eval_configs), *EVALUATOR_TYPES], n=1)
            raise ConfigError(f"{where}.evaluators[{number}]: unknown evaluator `{kind_name}`: neither an evaluator "
                              f"named so in eval.yaml ({searched}) nor a kind"
                              + (f"; did you mean `{hint[0]}`?" if hint else
                                 "; kinds: " + ", ".join(sorted(EVALUATOR_TYPES))))
        try:
            built.append(build_evaluator(kind, name, threshold, options,
                                         BuildContext(base_dir=workspace_root, judge_transport=judge_transport)))
        except (EvaluatorConfigError, ValueError, TypeError) as error:
            raise ConfigError(f"{where}.evaluators[{number}] ({name}): {error}") from None
    return built


def _text(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def evaluator_inputs(evaluator, item: Finished) -> dict:
    """What the evaluator reads from a live request (no reference exists online): its eval.yaml
    mapping when it came from one, else the output's text (the inputs' for prompt_injection)."""
    mapping = getattr(evaluator, "online_inputs", None)
    if mapping:
        from promptwise.evaluation.mapping import resolve_value

        inputs = item.inputs if isinstance(item.inputs, dict) else {}
        outputs = item.outputs if isinstance(item.outputs, dict) else {"output": item.outputs}
        context = {"data": inputs, "run": {"outputs": outputs, "inputs": inputs}}
        return {name: resolve_value(reference, context) for name, reference in mapping.items()}
    subject = item.inputs if evaluator.kind == "prompt_injection" else item.outputs
    text = _text(subject)
    inputs = {"text": text, "prediction": text, "answer": text, "response": text,
              "question": _text(item.inputs), "query": _text(item.inputs)}
    return {name: inputs[name] for name in (*evaluator.required_inputs, *evaluator.optional_inputs) if name in inputs}


class OnlineEvaluation:
    def __init__(self, store_path: Path, evaluators: list, *, sample_rate: float = 0.1, queue_size: int = 1000,
                 retention_days: float | None = None, judge_transport=None, random_draw=random.random,
                 concurrency: int = 4, protect_error=None, on_score=None) -> None:
        self.store_path = Path(store_path)
        # An evaluator's error can quote the request (a judge's unreadable answer): the text stored
        # goes through this (tracing.pii, then tracing.encrypt: see error_protection) when given.
        self.protect_error = protect_error
        # on_score(version, evaluator, value, passed, error) after each stored score: the server's /metrics
        self.on_score = on_score
        self.evaluators = evaluators
        self.sample_rate = sample_rate
        self.retention_days = retention_days
        self.judge_transport = judge_transport
        self.concurrency = concurrency  # requests scored at once (the cap on judge calls in flight)
        self._draw = random_draw
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.dropped = 0  # requests the full queue turned away
        self.scored = 0  # requests scored and stored
        self.failed = 0  # evaluator runs that raised (stored as errors)
        self.unstored = 0  # requests not scored because the disk refused the scores (no judge call wasted)
        # A full disk: one error, then requests are not scored (counted) for a minute, then one try.
        self._disk = DiskGate(log, "online evaluation", self.store_path, "scoring stopped. Requests are still "
                              "served; they are not scored and are counted")
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None

    # --- the request path: one draw and one put_nowait -------------------------------------
    def offer(self, item: Finished) -> bool:
        if self.sample_rate < 1.0 and self._draw() >= self.sample_rate:
            return False
        self._idle.clear()  # before the put: the worker may finish the item before this line returns
        try:
            self._queue.put_nowait(item)
        except queue.Full:  # (the queue is not empty, so the worker sets idle again)
            self.dropped += 1
            if self.dropped == 1:
                log.warning("online evaluation cannot keep up (%d requests waiting); further requests are not "
                            "scored and are counted", self._queue.maxsize)
            return False
        return True

    # --- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="promptwise-online-eval", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            pass
        self._thread.join(timeout_s)

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Whether everything offered so far was scored within `timeout_s` (tests, shutdown)."""
        return self._idle.wait(timeout_s)

    # --- the worker ---------------------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        # This thread's own loop, also for code that asks for "the current loop" (under some
        # event-loop policies a thread without one set raises instead of creating one).
        asyncio.set_event_loop(loop)
        connection = None
        next_purge = 0.0
        try:
            connection = self._connect()
            while True:
                items, stop = self._take()
                if items and not self._disk.open():  # the disk refused the last scores: no judge call wasted
                    self.unstored += len(items)
                    items = []
                try:
                    # Up to `concurrency` requests scored at once: each runs its evaluators one
                    # after the other, so at most that many judge calls are in flight.
                    scored = loop.run_until_complete(self._score_all(items))
                    rows = [row for rows in scored for row in rows]
                    connection.executemany("INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                    connection.commit()
                    if rows:
                        self._disk.succeeded()
                    self.scored += len(items)
                    self._report(rows)
                    if self.retention_days and time.monotonic() >= next_purge:
                        next_purge = time.monotonic() + RETENTION_CHECK_S
                        cutoff = time.time_ns() - int(self.retention_days * 86400e9)
                        connection.execute("DELETE FROM scores WHERE time_ns < ?", (cutoff,))
                        connection.commit()
                except Exception as error:  # noqa: BLE001 - a locked or full disk: logged, the next request goes on
                    if self._disk.failed(error):
                        self.unstored += len(items)
                    else:
                        log.warning("online evaluation: could not store scores (%s: %s)", type(error).__name__, error)
                finally:
                    if self._queue.empty():
                        self._idle.set()
                if stop:
                    return
        except Exception as error:  # noqa: BLE001 - the store cannot be opened: scoring is off, serving is not
            log.error("online evaluation is off: cannot open %s (%s)", self.store_path, error)
            self._idle.set()
        finally:
            if connection is not None:
                connection.close()
            if self.judge_transport is not None and hasattr(self.judge_transport, "aclose"):
                try:
                    loop.run_until_complete(self.judge_transport.aclose())
                except Exception:  # noqa: BLE001 - closing at exit
                    pass
            loop.close()

    def _report(self, rows: list[tuple]) -> None:
        if self.on_score is None:
            return
        for _, _, version, _, evaluator, value, passed, error, _ in rows:
            try:
                self.on_score(version, evaluator, value, None if passed is None else bool(passed), error)
            except Exception as failure:  # noqa: BLE001 - metrics must not stop scoring
                log.debug("online evaluation: reporting a score failed: %s", failure)

    def _take(self) -> tuple[list[Finished], bool]:
        """The next requests to score (waiting for the first, up to `concurrency`), and whether
        the stop mark came."""
        items: list[Finished] = []
        while len(items) < self.concurrency:
            try:
                item = self._queue.get() if not items else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return items, True
            items.append(item)
        return items, False

    def _connect(self) -> sqlite3.Connection:
        self.store_path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.store_path, timeout=10.0)
        connection.executescript(_SCHEMA)
        connection.commit()
        return connection

    async def _score_all(self, items: list[Finished]) -> list[list[tuple]]:
        return await asyncio.gather(*(self._score(item) for item in items))

    async def _score(self, item: Finished) -> list[tuple]:
        from promptwise.redaction import redact

        rows = []
        for evaluator in self.evaluators:
            try:
                score = await evaluator.ascore(evaluator_inputs(evaluator, item))
                value, passed, error = score.value, score.passed, score.error
            except Exception as failure:  # noqa: BLE001 - a judge's endpoint down, a bug: an error row
                self.failed += 1
                value, passed, error = None, None, f"{type(failure).__name__}: {redact(str(failure))}"[:500]
            if error and self.protect_error is not None:
                error = self.protect_error(error)
            rows.append((item.trace_id or "", item.time_ns, item.version, item.consumer, evaluator.name, value,
                         None if passed is None else int(bool(passed)), error, item.content_hash))
        return rows


def start_for_workspace(workspace, flow_path: Path | None = None, on_score=None) -> OnlineEvaluation | None:
    """The workspace's online evaluation, started (None when not configured). Evaluators may be
    named from `flow_path`'s eval.yaml or the workspace root's. Raises ConfigError."""
    settings = read_settings(workspace.settings, workspace.source)
    if settings is None:
        return None
    from promptwise.tracing.settings import tracing_settings
    from promptwise.tracing.store import store_path

    transport = None
    configs = eval_configs_for(workspace.root, flow_path)
    where = f"{workspace.source}: monitoring.{SECTION}" if workspace.source else f"monitoring.{SECTION}"
    evaluators = build_evaluators(settings.evaluators, workspace.root, eval_configs=configs, where=where)
    if any(evaluator.calls_model for evaluator in evaluators):  # judges call through the engine
        from promptwise.evaluation.judge_transport import EngineJudgeTransport

        transport = EngineJudgeTransport(workspace)
        evaluators = build_evaluators(settings.evaluators, workspace.root, judge_transport=transport,
                                      eval_configs=configs, where=where)
    tracing = tracing_settings(workspace)
    online = OnlineEvaluation(store_path(workspace.root), evaluators, sample_rate=settings.sample_rate,
                              queue_size=settings.queue_size, concurrency=settings.concurrency,
                              retention_days=tracing.retention_days, judge_transport=transport,
                              protect_error=error_protection(workspace, tracing), on_score=on_score)
    online.start()
    return online


def error_protection(workspace, tracing):
    """What stored evaluator errors go through, as the trace store's content does: personal data
    handled by `tracing.pii`, then sealed under `tracing.encrypt` (the scores live in the same
    file). Raises ConfigError when encryption is asked for and its key is unusable."""
    from promptwise.tracing.pii import policy_from_settings
    from promptwise.tracing.settings import store_keyring

    policy = policy_from_settings(tracing)
    keyring = store_keyring(workspace, strict=True) if tracing.encrypt is not None else None

    def protect(text: str) -> str:
        text = policy.text(text)
        return keyring.seal(text, "scores.error") if keyring is not None else text

    return protect


def score_filters(since_ns: int | None, until_ns: int | None, *, flow: str | None = None,
                  consumer: str | None = None, version: str | None = None, evaluator: str | None = None,
                  scored_only: bool = False) -> tuple[str, list]:
    """`FROM scores s ... WHERE ...` and its parameters for a window and filters; `flow` joins the
    traces table (scores keep the trace id, not the flow); a version matches as `monitor
    --version` matches it (documents/version_label.py: its label, the full hash or a prefix)."""
    clauses, params = ["s.time_ns >= ?", "s.time_ns < ?"], [since_ns or 0, until_ns or 2**63 - 1]
    if scored_only:
        clauses.append("s.value IS NOT NULL")
    for clause, value in (("s.consumer = ?", consumer), ("s.evaluator = ?", evaluator), ("t.flow = ?", flow)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if version is not None:
        clause, values = version_match_sql(SCORE_VERSION, version)
        clauses.append(clause)
        params += values
    join = "JOIN traces t ON t.trace_id = s.trace_id " if flow is not None else ""
    return f"FROM scores s {join}WHERE {' AND '.join(clauses)}", params


def scores_by_version(connection: sqlite3.Connection, since_ns: int | None = None, until_ns: int | None = None, *,
                      flow: str | None = None, consumer: str | None = None, version: str | None = None,
                      evaluator: str | None = None) -> list[dict]:
    """Online scores per (version, evaluator): mean, rows, errors, pass rate, failed (scores under
    the evaluator's threshold), and the count and variance of the scored values (what metric
    drift tests with). Filters as score_filters."""
    source, params = score_filters(since_ns, until_ns, flow=flow, consumer=consumer, version=version,
                                   evaluator=evaluator)
    try:
        rows = connection.execute(
            f"SELECT {SCORE_VERSION}, s.evaluator, AVG(s.value), COUNT(*), SUM(s.error IS NOT NULL), AVG(s.passed), "
            "COUNT(s.value), AVG(s.value * s.value), COALESCE(SUM(s.passed = 0), 0) "
            f"{source} GROUP BY 1, 2 ORDER BY 1, 2", params).fetchall()
    except sqlite3.OperationalError:  # no scores table yet: online evaluation never ran here
        return []
    groups = []
    for version, name, mean, count, errors, pass_rate, scored, mean_square, failed in rows:
        # The version's content hash (its offline evaluation's key), from its newest score: one
        # index lookup per group rather than a table read per score. A hash label covers the
        # stored versions that start with it (hex digits sort below 'g'); an id is stored as is.
        match, values = (("version >= ? AND version < ?", [version, version + "g"])
                         if version and version.startswith(HASH_PREFIX) else ("version IS ?", [version]))
        newest = connection.execute(
            f"SELECT content_hash FROM scores WHERE {match} AND evaluator = ? ORDER BY time_ns DESC LIMIT 1",
            (*values, name)).fetchone()
        groups.append({"version": version, "evaluator": name, "mean": mean, "rows": count, "errors": errors,
                       "pass_rate": pass_rate, "content_hash": newest[0] if newest else None, "scored": scored,
                       "variance": _variance(mean, mean_square, scored), "failed": failed})
    return groups


def daily_means(connection: sqlite3.Connection, since_ns: int | None = None, until_ns: int | None = None, *,
                flow: str | None = None, version: str | None = None) -> list[dict]:
    """Each version's and evaluator's mean online score per UTC day: the trend the Monitor view
    and the HTML page chart."""
    source, params = score_filters(since_ns, until_ns, flow=flow, version=version, scored_only=True)
    try:
        rows = connection.execute(
            f"SELECT {SCORE_VERSION}, s.evaluator, date(s.time_ns / 1000000000, 'unixepoch') AS day, AVG(s.value), "
            "COUNT(*) "
            f"{source} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", params).fetchall()
    except sqlite3.OperationalError:  # no scores table yet
        return []
    return [{"version": version, "evaluator": evaluator, "day": day, "mean": mean, "scored": scored}
            for version, evaluator, day, mean, scored in rows]


def _variance(mean: float | None, mean_square: float | None, n: int) -> float | None:
    """The sample variance from the mean and the mean of squares (n - 1 in the denominator)."""
    if mean is None or mean_square is None or n < 2:
        return None
    return max(0.0, (mean_square - mean * mean) * n / (n - 1))


def with_offline(groups: list[dict], state_dir: Path) -> list[dict]:
    """Each online group with the same evaluator in the newest stored evaluation of the same flow
    content: `offline` (its mean), `offline_n` and `offline_variance` (of its row scores),
    `offline_evaluation` (its name) and `higher_is_better`; None when there is none."""
    from promptwise.evaluation.results_store import EvalStore
    from promptwise.monitoring.metric_drift import sample_stats
    from promptwise.store.run_store import DB_FILE

    alone = [{**group, "offline": None, "offline_evaluation": None, "offline_n": 0, "offline_variance": None,
              "higher_is_better": True} for group in groups]
    if not (Path(state_dir) / DB_FILE).exists():
        return alone
    newest: dict[str, Any] = {}
    row_scores: dict[str, dict[str, list[float]]] = {}
    try:
        store = EvalStore(Path(state_dir), readonly=True)
    except Exception:  # noqa: BLE001 - an unreadable evaluation store: online figures alone
        return alone
    try:
        out = []
        for group in alone:
            content = group.get("content_hash")
            if content and content not in newest:
                try:
                    found = store.list_for_content(content, limit=1)
                except sqlite3.Error:  # a store without evaluations yet
                    found = []
                newest[content] = found[0] if found else None
            evaluation = newest.get(content) if content else None
            metric = (evaluation.metrics.get(group["evaluator"]) or {}) if evaluation is not None else {}
            if not metric:
                out.append(group)
                continue
            if evaluation.name not in row_scores:
                values: dict[str, list[float]] = {}
                for row in store.scores(evaluation.name, details=False):
                    for name, score in row.scores.items():
                        if isinstance(score.value, (int, float)) and score.value == score.value:
                            values.setdefault(name, []).append(float(score.value))
                row_scores[evaluation.name] = values
            _, variance, n = sample_stats(row_scores[evaluation.name].get(group["evaluator"], []))
            described = next((e for e in evaluation.evaluators if isinstance(e, dict)
                              and e.get("name") == group["evaluator"]), {})
            out.append({**group, "offline": metric.get("mean"), "offline_evaluation": evaluation.name,
                        "offline_n": n, "offline_variance": variance,
                        "higher_is_better": bool(described.get("higher_is_better", True))})
        return out
    finally:
        store.close()
