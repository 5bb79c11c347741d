"""Alert rules: `alerts:` in promptwise.yaml, checked against the span store.

    alerts_webhook: ${env:ALERTS_URL}     # optional: where firing alerts are posted
    alerts_interval: 1m                   # optional: how often `promptwise serve` checks (default 60s)
    alerts_trace_url: https://jaeger.example/trace/{trace_id}   # optional: example traces as links
                                          # (vscode://promptwise.promptwise/trace?id={trace_id} opens VS Code)
    alerts:
      - name: slow-triage
        flow: log-triage                  # optional: every flow when left out
        metric: latency_p95_ms            # see METRICS; an online evaluator's NAME (or evaluator.NAME) for
                                          # its mean score; drift.NAME for its drop below the offline evaluation;
                                          # hits_per_hour.NAME: its failed scores per hour (prompt injections...)
        above: 2000                       # or below:
        window: 15m                       # 90s, 15m, 1h, 1d ...
        consumer: billing                 # optional
        webhook: ${env:TEAM_URL}          # optional, instead of alerts_webhook

Rules are validated with their file and line (unknown metric with did-you-mean, malformed
threshold or window); each check says what crossed which threshold, since when (the oldest of
the consecutive earlier windows in which it already fired) and example trace ids.
"""

from __future__ import annotations

import difflib
import re
import sqlite3
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from promptwise import span_attributes as attrs
from promptwise.monitoring.aggregates import GroupFigures, Selection, example_traces, figures
from promptwise.monitoring.windows import parse_duration

METRICS = {
    "latency_p50_ms": "median latency (ms)",
    "latency_p95_ms": "95th percentile latency (ms)",
    "latency_p99_ms": "99th percentile latency (ms)",
    "time_to_first_token_p95_ms": "95th percentile time to first token of streams (ms)",
    "error_rate": "share of requests that failed (0 to 1)",
    "requests": "requests in the window",
    "cost_usd": "cost in the window (USD)",
    "cost_per_day_usd": "cost in the window scaled to a day (USD)",
    "drift_score": "largest PSI of the flow's input/output drift checks",
}
EVALUATOR_PREFIX = "evaluator."
DRIFT_PREFIX = "drift."  # metric drift: monitoring/metric_drift.py
HITS_PREFIX = "hits_per_hour."  # scored requests under the evaluator's threshold, per hour (safety hits)
SCORE_PREFIXES = (EVALUATOR_PREFIX, DRIFT_PREFIX, HITS_PREFIX)
_ENV = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$")
_KEYS = {"name", "flow", "metric", "above", "below", "window", "consumer", "webhook"}
LOOKBACK_WINDOWS = 12  # how far back "since when" looks, in windows


class AlertRuleError(Exception):
    """Rules that cannot be used: every problem with its file and line."""


@dataclass(frozen=True)
class AlertRule:
    name: str
    metric: str
    threshold: float
    above: bool  # fires when the value is above the threshold (else below)
    window_s: float
    window: str  # as written
    flow: str | None = None
    consumer: str | None = None
    webhook: str | None = None  # the env variable holding the URL
    where: str = ""  # file:line of the rule
    evaluator: str | None = None  # whose scores the metric reads (NAME, evaluator.NAME, drift.NAME, hits_per_hour.NAME)
    trace_url: str | None = None  # alerts_trace_url: a link per example trace ({trace_id} filled in)
    drift_significance: float | None = None  # drift.NAME: monitoring.metric_drift.significance (None: its default)

    def crossed(self, value: float | None) -> bool:
        if value is None:
            return False
        return value > self.threshold if self.above else value < self.threshold


@dataclass
class AlertResult:
    rule: AlertRule
    value: float | None
    firing: bool
    since_ns: int | None = None  # start of the oldest consecutive window that fired
    traces: list[str] = field(default_factory=list)
    requests: int = 0

    def message(self) -> str:
        rule = self.rule
        scope = f"flow {rule.flow}" if rule.flow else "all flows"
        if rule.consumer:
            scope += f", consumer {rule.consumer}"
        value = "no data" if self.value is None else _figure(rule.metric, self.value)
        if not self.firing:
            return f"ok      {rule.name}: {rule.metric} {value} ({scope}, last {rule.window})"
        since = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.since_ns / 1e9)) if self.since_ns else "?"
        text = (f"FIRING  {rule.name}: {rule.metric} {value} is {'above' if rule.above else 'below'} "
                f"{_figure(rule.metric, rule.threshold)} ({scope}, last {rule.window}, {self.requests} requests) "
                f"since {since}")
        if self.traces and rule.trace_url:
            text += "; traces: " + ", ".join(self.trace_links())
        elif self.traces:
            text += f"; traces: {', '.join(self.traces)} (promptwise traces show ID)"
        return text

    def trace_links(self) -> list[str]:
        """The example traces as links (alerts_trace_url), none without it."""
        template = self.rule.trace_url
        return [template.replace("{trace_id}", trace) for trace in self.traces] if template else []

    def document(self) -> dict:
        return {"rule": self.rule.name, "metric": self.rule.metric, "value": self.value,
                "threshold": self.rule.threshold, "direction": "above" if self.rule.above else "below",
                "window": self.rule.window, "flow": self.rule.flow, "consumer": self.rule.consumer,
                "firing": self.firing, "since_ns": self.since_ns, "requests": self.requests,
                "example_traces": self.traces, "example_trace_urls": self.trace_links()}


def _figure(metric: str, value: float) -> str:
    if metric == "error_rate":
        return f"{value:.2%}"
    if metric.endswith("_usd"):
        return f"${value:,.4f}"
    if metric == "requests":
        return f"{value:,.0f}"
    if metric in METRICS and metric != "drift_score":
        return f"{value:,.0f}"
    return f"{value:,.3g}"  # scores and drift


# --- reading rules -----------------------------------------------------------------------
def read_rules(settings: dict, source: Path | None) -> tuple[list[AlertRule], str | None]:
    """The rules and the default webhook (an env variable name) of a workspace's settings.
    Raises AlertRuleError naming every bad rule's file and line."""
    lines = _rule_lines(source)
    where = lambda index, key=None: _where(source, lines, index, key)  # noqa: E731
    problems: list[str] = []
    default_hook = _webhook(settings.get("alerts_webhook"), f"{_where(source, lines, None, 'alerts_webhook')}",
                            "alerts_webhook", problems)
    trace_url = settings.get("alerts_trace_url")
    if trace_url is not None and not (isinstance(trace_url, str) and "{trace_id}" in trace_url
                                      and trace_url.split(":", 1)[0] in ("http", "https", "vscode")):
        problems.append(f"{_where(source, lines, None, 'alerts_trace_url')}: `alerts_trace_url` must be an http(s) or "
                        f"vscode:// link holding {{trace_id}}, e.g. https://jaeger.example/trace/{{trace_id}}")
        trace_url = None
    interval = settings.get("alerts_interval")
    if interval is not None and parse_duration(interval) is None:
        problems.append(f"{_where(source, lines, None, 'alerts_interval')}: `alerts_interval: {interval!r}` is not a "
                        f"duration; write e.g. 30s or 5m (how often `promptwise serve` checks the rules)")
    raw = settings.get("alerts")
    if raw is None:
        _raise(problems)
        return [], default_hook
    if not isinstance(raw, list):
        raise AlertRuleError(f"{where(None)}: `alerts` must be a list of rules (`- name: ...` items)")
    rules, names = [], set()
    evaluators = _online_evaluator_names(settings)
    significance = _drift_significance(settings, source)
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            problems.append(f"{where(index)}: an alert rule is a mapping (name, metric, above/below, window)")
            continue
        for key in sorted(set(item) - _KEYS):
            hint = difflib.get_close_matches(str(key), sorted(_KEYS), n=1)
            problems.append(f"{where(index, key)}: unknown key `{key}` in alert rule"
                            + (f"; did you mean `{hint[0]}`?" if hint else f" (known: {', '.join(sorted(_KEYS))})"))
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where(index)}: the rule needs a `name:` (text)")
            name = f"rule {index + 1}"
        elif name in names:
            problems.append(f"{where(index, 'name')}: a second rule named {name!r}; names must be unique")
        names.add(name)
        metric = item.get("metric")
        if not isinstance(metric, str) or not metric:
            problems.append(f"{where(index)}: rule {name!r} needs a `metric:` ({', '.join(METRICS)}, an online "
                            f"evaluator's name, {EVALUATOR_PREFIX}NAME or {DRIFT_PREFIX}NAME)")
        elif metric in evaluators:
            pass  # an online evaluator's name: its mean score
        elif metric not in METRICS and not any(metric.startswith(prefix) and len(metric) > len(prefix)
                                               for prefix in SCORE_PREFIXES):
            known = [*METRICS, *sorted(evaluators)]
            hint = difflib.get_close_matches(metric, known, n=1)
            problems.append(f"{where(index, 'metric')}: unknown metric {metric!r} in rule {name!r}"
                            + (f"; did you mean `{hint[0]}`?" if hint else
                               f"; use one of {', '.join(known)}, {EVALUATOR_PREFIX}NAME for an evaluator's mean "
                               f"score, {DRIFT_PREFIX}NAME for its drop below the offline evaluation, or "
                               f"{HITS_PREFIX}NAME for its failed scores per hour"))
        directions = [key for key in ("above", "below") if key in item]
        threshold = None
        if len(directions) != 1:
            problems.append(f"{where(index)}: rule {name!r} needs exactly one of `above:` or `below:` (a number)")
        else:
            value = item[directions[0]]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                problems.append(f"{where(index, directions[0])}: `{directions[0]}: {value!r}` in rule {name!r} is not a "
                                f"number; write e.g. `{directions[0]}: 2000` (no units: the metric names them)")
            else:
                threshold = float(value)
        window = item.get("window", "15m")
        seconds = parse_duration(window)
        if seconds is None:
            problems.append(f"{where(index, 'window')}: `window: {window!r}` in rule {name!r} is not a duration; "
                            f"write e.g. 15m, 1h or 1d")
        for key in ("flow", "consumer"):
            if key in item and not isinstance(item[key], str):
                problems.append(f"{where(index, key)}: `{key}:` in rule {name!r} must be a name (text)")
        hook = _webhook(item.get("webhook"), where(index, "webhook"), "webhook", problems)
        if threshold is not None and seconds is not None and isinstance(metric, str):
            rules.append(AlertRule(name=name, metric=metric, threshold=threshold, above=directions[0] == "above",
                                   window_s=seconds, window=str(window), flow=_text(item.get("flow")),
                                   consumer=_text(item.get("consumer")), webhook=hook, where=where(index),
                                   evaluator=_scored_by(metric, evaluators), trace_url=trace_url,
                                   drift_significance=significance if metric.startswith(DRIFT_PREFIX) else None))
    _raise(problems)
    return rules, default_hook


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _scored_by(metric: str, evaluators: set[str]) -> str | None:
    if metric in evaluators:
        return metric
    for prefix in SCORE_PREFIXES:
        if metric.startswith(prefix):
            return metric[len(prefix):]
    return None


def _online_evaluator_names(settings: dict) -> set[str]:
    """The names `monitoring.online_eval.evaluators` gives its evaluators (rules may use them bare)."""
    section = ((settings.get("monitoring") or {}) if isinstance(settings.get("monitoring"), dict) else {}).get(
        "online_eval")
    entries = section.get("evaluators") if isinstance(section, dict) else None
    names = set()
    for entry in entries if isinstance(entries, list) else []:
        name = entry
        if isinstance(entry, dict):
            name = entry.get("name") or entry.get("type")
        if isinstance(name, str) and name not in METRICS:
            names.add(name)
    return names


def _raise(problems: list[str]) -> None:
    if problems:
        raise AlertRuleError("\n".join(problems))


def _webhook(value, where: str, key: str, problems: list[str]) -> str | None:
    """The env variable a webhook URL comes from: URLs carry their secret, so only ${env:NAME}."""
    if value is None:
        return None
    match = _ENV.match(value) if isinstance(value, str) else None
    if match is None:
        problems.append(f"{where}: `{key}` must name an environment variable, `${{env:ALERTS_URL}}`: webhook URLs "
                        f"hold their secret and are never written in settings")
        return None
    return match.group(1)


def _rule_lines(source: Path | None) -> dict:
    """Line numbers in a promptwise.yaml: ('alerts', None) the section, (index, key) a rule's key."""
    lines: dict = {}
    if source is None or source.suffix not in (".yaml", ".yml"):
        return lines
    from promptwise.documents.files import read_user_text
    from promptwise.documents.yaml_nodes import YamlMapping, YamlSequence, parse_yaml

    try:
        root = parse_yaml(read_user_text(source)).root
    except (OSError, UnicodeDecodeError):
        return lines
    if not isinstance(root, YamlMapping):
        return lines
    for entry in root:
        if entry.key_text in ("alerts", "alerts_webhook", "alerts_interval", "alerts_trace_url"):
            lines[(None, entry.key_text)] = entry.key.range.start.line + 1
    section = root.get("alerts")
    if isinstance(section, YamlSequence):
        for index, item in enumerate(section):
            lines[(index, None)] = item.range.start.line + 1
            if isinstance(item, YamlMapping):
                for entry in item:
                    if entry.key_text is not None:
                        lines[(index, entry.key_text)] = entry.key.range.start.line + 1
    return lines


def _where(source: Path | None, lines: dict, index: int | None, key: str | None) -> str:
    line = lines.get((index, key)) or lines.get((index, None)) or lines.get((None, key or "alerts"))
    return f"{source}:{line}" if source and line else str(source or "settings")


# --- evaluating rules --------------------------------------------------------------------
def evaluate(connection: sqlite3.Connection | None, rules: list[AlertRule], *, now_ns: int | None = None,
             drift_score=None, state_dir: Path | None = None) -> list[AlertResult]:
    """Check every rule over its window ending now. `drift_score(rule, selection)` computes the
    drift metric (it needs the flow's baseline); without it drift rules report no data.
    `state_dir` holds the offline evaluations that drift.NAME rules compare with."""
    now_ns = now_ns or time.time_ns()
    results = []
    for rule in rules:
        window_ns = int(rule.window_s * 1e9)
        selection = Selection(since_ns=now_ns - window_ns, until_ns=now_ns, flow=rule.flow, consumer=rule.consumer)
        value, requests = _value(connection, rule, selection, drift_score, state_dir)
        result = AlertResult(rule, value, rule.crossed(value), requests=requests)
        if result.firing and connection is not None:
            result.since_ns = selection.since_ns
            for step in range(1, LOOKBACK_WINDOWS):
                earlier = replace(selection, since_ns=selection.since_ns - step * window_ns,
                                  until_ns=selection.until_ns - step * window_ns)
                if not rule.crossed(_value(connection, rule, earlier, drift_score, state_dir)[0]):
                    break
                result.since_ns = earlier.since_ns
            result.traces = _lowest_scored(connection, rule, selection) if rule.evaluator else []
            result.traces = result.traces or example_traces(
                connection, selection, errors_only=rule.metric == "error_rate",
                slowest=rule.metric.startswith(("latency", "time_to_first")))
        results.append(result)
    return results


def _value(connection, rule: AlertRule, selection: Selection, drift_score,
           state_dir: Path | None) -> tuple[float | None, int]:
    if connection is None:
        return (0.0, 0) if rule.metric == "requests" else (None, 0)
    if rule.metric == "drift_score":
        return (drift_score(rule, selection) if drift_score else None), 0
    if rule.evaluator is not None and rule.metric.startswith(DRIFT_PREFIX):
        return _metric_drift(connection, rule, selection, state_dir)
    if rule.evaluator is not None and rule.metric.startswith(HITS_PREFIX):
        groups = _online_groups(connection, rule.evaluator, selection)
        window_h = (selection.until_ns - selection.since_ns) / 3600e9
        return sum(group["failed"] for group in groups) / window_h, sum(group["scored"] for group in groups)
    if rule.evaluator is not None:
        return _evaluator_mean(connection, rule.evaluator, selection)
    groups = figures(connection, selection, by="flow")
    group = _merge(groups)
    if rule.metric == "requests":
        return float(group.requests), group.requests
    if not group.requests:
        return None, 0
    metric = rule.metric
    if metric.startswith("latency_p"):
        value = group.latency_ms.get(metric.removeprefix("latency_").removesuffix("_ms"))
    elif metric == "time_to_first_token_p95_ms":
        value = group.time_to_first_token_ms.get("p95")
    elif metric == "error_rate":
        value = group.error_rate
    elif metric == "cost_usd":
        value = group.cost_usd or 0.0
    else:  # cost_per_day_usd
        value = (group.cost_usd or 0.0) * 86400 / rule.window_s
    return value, group.requests


def _merge(groups: list[GroupFigures]) -> GroupFigures:
    """One flow's figures as they are; several flows' summed (percentiles then from the worst)."""
    if len(groups) == 1:
        return groups[0]
    merged = GroupFigures(flow="(all)", key="(all)", latency_ms={}, time_to_first_token_ms={})
    for group in groups:
        merged.requests += group.requests
        merged.errors += group.errors
        if group.cost_usd is not None:
            merged.cost_usd = (merged.cost_usd or 0.0) + group.cost_usd
        for figures_of, into in ((group.latency_ms, merged.latency_ms),
                                 (group.time_to_first_token_ms, merged.time_to_first_token_ms)):
            for name, value in figures_of.items():
                if value is not None:
                    into[name] = max(into.get(name) or 0.0, value)
    return merged


def _online_groups(connection: sqlite3.Connection, evaluator: str, selection: Selection) -> list[dict]:
    from promptwise.monitoring.online_eval import scores_by_version

    return scores_by_version(connection, selection.since_ns, selection.until_ns, flow=selection.flow,
                             consumer=selection.consumer, version=selection.version, evaluator=evaluator)


def _metric_drift(connection: sqlite3.Connection, rule: AlertRule, selection: Selection,
                  state_dir: Path | None) -> tuple[float | None, int]:
    """drift.NAME: the largest significant drop of NAME's online mean below the offline evaluation
    of the same version (monitoring/metric_drift.py), at the workspace's significance level."""
    from promptwise.monitoring.metric_drift import SIGNIFICANCE, alert_value
    from promptwise.monitoring.online_eval import with_offline

    groups = _online_groups(connection, rule.evaluator, selection)
    if not groups or state_dir is None:
        return None, 0
    return alert_value(with_offline(groups, state_dir), significance=rule.drift_significance or SIGNIFICANCE)


def _drift_significance(settings: dict, source: Path | None) -> float | None:
    """monitoring.metric_drift.significance for drift.NAME rules; None (the default) when the
    section is unusable — `check` and `monitor` report that section's own error."""
    from promptwise.config import ConfigError
    from promptwise.monitoring.metric_drift import drift_options

    try:
        return drift_options(settings, source)["significance"]
    except ConfigError:
        return None


def _lowest_scored(connection: sqlite3.Connection, rule: AlertRule, selection: Selection, limit: int = 3) -> list[str]:
    """Example traces for a score rule: the requests its evaluator scored lowest in the window."""
    from promptwise.monitoring.online_eval import score_filters

    source, params = score_filters(selection.since_ns, selection.until_ns, flow=selection.flow,
                                   consumer=selection.consumer, evaluator=rule.evaluator, scored_only=True)
    try:
        return [row[0] for row in connection.execute(
            f"SELECT s.trace_id {source} AND s.trace_id != '' ORDER BY s.value ASC, s.time_ns DESC LIMIT ?",
            [*params, limit])]
    except sqlite3.OperationalError:  # no scores table: online evaluation never ran here
        return []


def _evaluator_mean(connection: sqlite3.Connection, evaluator: str, selection: Selection) -> tuple[float | None, int]:
    """Mean score of an evaluator in the selection: its online scores (monitoring.online_eval) when
    the window has any, else its evaluation spans (batch evaluations are traffic too)."""
    groups = _online_groups(connection, evaluator, selection)
    scored = sum(group["scored"] for group in groups)
    if scored:
        return sum(group["mean"] * group["scored"] for group in groups if group["scored"]) / scored, scored
    # Evaluations are traces of their own; they name the run they scored, not its flow or version:
    # a rule scoped to those reads them through the run's own traces.
    where, params = replace(selection, flow=None, version=None).where("t", traffic_only=False)
    if selection.flow is not None or selection.version is not None:
        scoped, scoped_params = Selection(flow=selection.flow, version=selection.version).where("r", traffic_only=False)
        where += f" AND t.run_id IN (SELECT r.run_id FROM traces r WHERE r.run_id IS NOT NULL AND {scoped})"
        params += scoped_params
    row = connection.execute(
        f"SELECT avg(json_extract(s.attributes, '$.\"{attrs.GEN_AI_EVALUATION_SCORE_VALUE}\"')), count(*) "
        f"FROM spans s JOIN traces t ON t.trace_id = s.trace_id WHERE s.kind = '{attrs.SPAN_KIND_EVALUATION}' "
        f"AND json_extract(s.attributes, '$.\"{attrs.EVALUATOR}\"') = ? AND {where}", [evaluator, *params]).fetchone()
    return (row[0], row[1]) if row and row[1] else (None, 0)


def drift_scorer(connection: sqlite3.Connection | None, root: Path, warn):
    """The drift_score metric for evaluate(): the largest PSI of a rule's flow against its eval
    data. `warn(text)` hears why a rule's drift cannot be computed (no baseline...)."""
    from promptwise.monitoring.drift import DriftError, drift_report

    def score(rule: AlertRule, selection: Selection) -> float | None:
        if connection is None or rule.flow is None:
            return None
        try:
            return drift_report(connection, selection, flow_path=_find_flow(root, rule.flow), baseline=None).score
        except DriftError as error:
            warn(f"rule {rule.name}: {error}")
            return None

    return score


def _find_flow(root: Path, name: str) -> Path | None:
    """The folder of the flow traces call `name` (a folder of that name holding a flow, or a path)."""
    for candidate in (root / name, root / "flows" / name):  # no tree walk: workspaces hold .venv/ and more
        if candidate.exists():
            return candidate
    return None
