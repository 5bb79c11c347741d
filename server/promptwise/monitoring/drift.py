"""Drift: does live traffic still look like what the flow was evaluated on?

Input drift compares each flow input of recent traffic with a baseline (by default the rows
of the flow's evaluation data, eval.yaml's `data:`):
  - text inputs: length in tokens (o200k_base), PSI over the baseline's quantile bins and the
    two-sample Kolmogorov-Smirnov statistic; and the mix of scripts (Latin, Cyrillic, CJK...)
  - categorical inputs (few distinct values in the baseline): PSI over the categories
Output drift compares this window's outputs with the window before it (same length):
  - categorical outputs (e.g. log-triage's category, "new" proposals): PSI over categories
  - the kind of answer: answered / empty / refusal, as shares and PSI

PSI = sum over bins of (a - e) * ln(a / e), with a and e the actual and expected shares
(a floor of 1e-4 keeps empty bins finite). Levels: below `warn` (0.1) stable, below
`alert` (0.25) warn, else alert. Both samples need MIN_SAMPLE values or the check says so
instead of guessing: PSI of small samples is noisy (its expected value without any drift is
about (bins - 1) * (1/n + 1/m)), so the bin count also shrinks with the smaller sample.

The statistics are written out here from their textbook formulas (no scipy dependency).
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import unicodedata
from bisect import bisect_right
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from promptwise import span_attributes as attrs
from promptwise.store.encryption import is_sealed

PSI_WARN = 0.1
PSI_ALERT = 0.25
MIN_SAMPLE = 30
MAX_BINS = 10
MAX_CATEGORIES = 20  # more distinct baseline values than this: not a categorical input
TRAFFIC_SAMPLE = 5000  # the newest requests of the window that drift looks at
_FLOOR = 1e-4
_TOKENIZER = "o200k_base"
_REFUSAL = re.compile(r"^\s*(i'?m sorry|i am sorry|sorry, (but )?i|i can(?:no|')t (help|assist|comply)|"
                      r"i cannot (help|assist|comply|provide)|i'?m (not able|unable) to|as an ai\b)", re.IGNORECASE)


class DriftError(Exception):
    """No baseline can be found or read, or the traffic is encrypted without its key: the message
    says which file or setting and what to do."""


# --- statistics --------------------------------------------------------------------------
def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index of two histograms over the same bins (counts or shares)."""
    e_total, a_total = sum(expected), sum(actual)
    if not e_total or not a_total:
        return 0.0
    score = 0.0
    for e, a in zip(expected, actual):
        e_share = max(e / e_total, _FLOOR)
        a_share = max(a / a_total, _FLOOR)
        score += (a_share - e_share) * math.log(a_share / e_share)
    return score


def quantile_edges(baseline: list[float], bins: int) -> list[float]:
    """Inner bin edges at the baseline's quantiles (duplicates dropped, so ties share a bin)."""
    ordered = sorted(baseline)
    edges = []
    for i in range(1, bins):
        edge = ordered[min(len(ordered) - 1, (i * len(ordered)) // bins)]
        if not edges or edge > edges[-1]:
            edges.append(edge)
    return edges


def binned(values: Iterable[float], edges: list[float]) -> list[int]:
    """Counts per bin: bin i holds values v with edges[i-1] <= v < edges[i]."""
    counts = [0] * (len(edges) + 1)
    for value in values:
        counts[bisect_right(edges, value)] += 1
    return counts


def psi_numeric(baseline: list[float], current: list[float], bins: int | None = None) -> float:
    bins = bins or bin_count(len(baseline), len(current))
    edges = quantile_edges(baseline, bins)
    return psi(binned(baseline, edges), binned(current, edges))


def bin_count(n: int, m: int) -> int:
    """Fewer bins for small samples (about 25 values per bin in the smaller one), 2 to 10."""
    return max(2, min(MAX_BINS, min(n, m) // 25))


def psi_categorical(baseline: Iterable[str], current: Iterable[str]) -> float:
    expected, actual = Counter(baseline), Counter(current)
    categories = sorted(set(expected) | set(actual))
    return psi([expected[c] for c in categories], [actual[c] for c in categories])


def ks_statistic(sample_a: list[float], sample_b: list[float]) -> float:
    """Two-sample Kolmogorov-Smirnov D = max |F_a(x) - F_b(x)| over every x (ties handled)."""
    a, b = sorted(sample_a), sorted(sample_b)
    n, m = len(a), len(b)
    i = j = 0
    d = 0.0
    while i < n and j < m:
        x = min(a[i], b[j])
        while i < n and a[i] == x:
            i += 1
        while j < m and b[j] == x:
            j += 1
        d = max(d, abs(i / n - j / m))
    return d


def ks_p_value(d: float, n: int, m: int) -> float:
    """Asymptotic p-value of D (Kolmogorov distribution with Stephens' small-sample correction):
    Q(l) = 2 * sum_{j>=1} (-1)^(j-1) exp(-2 j^2 l^2), l = (sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) * D."""
    if n == 0 or m == 0:
        return 1.0
    root = math.sqrt(n * m / (n + m))
    lam = (root + 0.12 + 0.11 / root) * d
    if lam < 0.2:
        return 1.0
    total = 0.0
    for j in range(1, 101):
        term = 2 * (-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam)
        total += term
        if abs(term) < 1e-10:
            break
    return min(1.0, max(0.0, total))


def level(score: float, warn: float = PSI_WARN, alert: float = PSI_ALERT) -> str:
    return "alert" if score >= alert else "warn" if score >= warn else "ok"


# --- features ----------------------------------------------------------------------------
def script_of(text: str) -> str:
    """The script most of a text's letters are written in (latin, cyrillic, cjk, arabic...)."""
    counts: Counter = Counter()
    for char in text[:2000]:
        if char.isalpha():
            name = unicodedata.name(char, "")
            word = name.split(" ", 1)[0] if name else "other"
            counts["cjk" if word in ("CJK", "HIRAGANA", "KATAKANA", "HANGUL") else word.lower()] += 1
    return counts.most_common(1)[0][0] if counts else "none"


def answer_kind(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()) or value in ({}, []):
        return "empty"
    if isinstance(value, str) and _REFUSAL.search(value):
        return "refusal"
    return "answered"


def _count_tokens(text: str) -> int:
    from promptwise.costing.tokenizers import count_text

    return count_text(text, _TOKENIZER)


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _is_categorical(values: list) -> bool:
    distinct = {_text(v) for v in values}
    return len(distinct) <= MAX_CATEGORIES and len(distinct) <= max(2, len(values) // 3)


# --- checks ------------------------------------------------------------------------------
@dataclass
class DriftCheck:
    feature: str  # e.g. "input log_text: length in tokens"
    statistic: str  # psi | ks
    score: float | None
    level: str  # ok | warn | alert | too few
    baseline_n: int
    current_n: int
    detail: str = ""


@dataclass
class DriftReport:
    baseline: str
    checks: list[DriftCheck] = field(default_factory=list)

    @property
    def worst(self) -> str:
        levels = [c.level for c in self.checks]
        return next((lvl for lvl in ("alert", "warn", "ok") if lvl in levels), "ok")

    @property
    def score(self) -> float:
        """The largest PSI over every check: the number an alert rule compares."""
        return max((c.score for c in self.checks if c.statistic == "psi" and c.score is not None), default=0.0)

    def document(self) -> dict:
        # Each level names its own features: "alert: A; warn: B" (was "alert: A, B" with B only a warning).
        flagged = [f"{level}: " + ", ".join(c.feature for c in self.checks if c.level == level)
                   for level in ("alert", "warn") if any(c.level == level for c in self.checks)]
        summary = "; ".join(flagged) if flagged else "no drift flagged"
        return {"baseline": self.baseline, "level": self.worst, "score": round(self.score, 6), "summary": summary,
                "checks": [asdict(c) for c in self.checks]}


def compare_inputs(baseline_rows: list[dict], current_rows: list[dict], *, warn: float = PSI_WARN,
                   alert: float = PSI_ALERT, count_tokens=_count_tokens) -> list[DriftCheck]:
    """Checks for every input that both the baseline and the traffic carry."""
    names = sorted({k for row in current_rows for k in row} & {k for row in baseline_rows for k in row})
    checks = []
    for name in names:
        base = [row[name] for row in baseline_rows if row.get(name) is not None]
        live = [row[name] for row in current_rows if row.get(name) is not None]
        if _is_categorical(base):
            checks.append(_categorical(f"input {name}: categories", [_text(v) for v in base],
                                       [_text(v) for v in live], warn, alert))
            continue
        base_len = [float(count_tokens(_text(v))) for v in base]
        live_len = [float(count_tokens(_text(v))) for v in live]
        checks.append(_numeric(f"input {name}: length in tokens", base_len, live_len, warn, alert))
        checks.append(_categorical(f"input {name}: script", [script_of(_text(v)) for v in base],
                                   [script_of(_text(v)) for v in live], warn, alert))
    return checks


def compare_outputs(previous: list[dict], current: list[dict], *, warn: float = PSI_WARN,
                    alert: float = PSI_ALERT) -> list[DriftCheck]:
    """Output checks: categorical outputs and the kind of answer, this window against the last."""
    checks = []
    names = sorted({k for row in current for k in row} & {k for row in previous for k in row})
    for name in names:
        before = [row.get(name) for row in previous]
        now = [row.get(name) for row in current]
        if _is_categorical([v for v in before if v is not None]) and all(
                isinstance(v, (str, bool, int)) or v is None for v in before):
            checks.append(_categorical(f"output {name}: categories", [_text(v) for v in before],
                                       [_text(v) for v in now], warn, alert))
        kinds_before = [answer_kind(v) for v in before]
        kinds_now = [answer_kind(v) for v in now]
        if set(kinds_before) | set(kinds_now) != {"answered"}:
            checks.append(_categorical(f"output {name}: empty/refusal share", kinds_before, kinds_now, warn, alert))
    return checks


def _too_few(feature: str, statistic: str, n: int, m: int) -> DriftCheck:
    return DriftCheck(feature, statistic, None, "too few", n, m,
                      f"needs {MIN_SAMPLE} values on each side to say anything")


def _numeric(feature: str, base: list[float], live: list[float], warn: float, alert: float) -> DriftCheck:
    if min(len(base), len(live)) < MIN_SAMPLE:
        return _too_few(feature, "psi", len(base), len(live))
    score = psi_numeric(base, live)
    d = ks_statistic(base, live)
    p = ks_p_value(d, len(base), len(live))
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    return DriftCheck(feature, "psi", round(score, 6), level(score, warn, alert), len(base), len(live),
                      f"median {median(base):g} -> {median(live):g}; KS D={d:.3f} p={p:.3g}")


def _categorical(feature: str, base: list[str], live: list[str], warn: float, alert: float) -> DriftCheck:
    if min(len(base), len(live)) < MIN_SAMPLE:
        return _too_few(feature, "psi", len(base), len(live))
    score = psi_categorical(base, live)
    before, now = Counter(base), Counter(live)
    moved = sorted(set(before) | set(now), key=lambda c: -abs(now[c] / len(live) - before[c] / len(base)))[:3]
    detail = ", ".join(f"{c} {before[c] / len(base):.0%} -> {now[c] / len(live):.0%}" for c in moved)
    return DriftCheck(feature, "psi", round(score, 6), level(score, warn, alert), len(base), len(live), detail)


# --- reading traffic and baselines --------------------------------------------------------
def traffic(connection: sqlite3.Connection, selection, limit: int = TRAFFIC_SAMPLE) -> tuple[list[dict], list[dict]]:
    """(inputs, outputs) of the newest flow executions in the selection, from their flow spans
    (recorded only while tracing captures content)."""
    where, params = selection.where("t")
    inputs, outputs = [], []
    seen: set[str] = set()
    keyring = None
    for row in connection.execute(
            f"SELECT s.trace_id, json_extract(s.attributes, '$.\"{attrs.FLOW_INPUTS}\"') AS inputs, "
            f"json_extract(s.attributes, '$.\"{attrs.FLOW_OUTPUTS}\"') AS outputs "
            f"FROM traces t JOIN spans s ON s.trace_id = t.trace_id AND s.kind = '{attrs.SPAN_KIND_FLOW}' "
            f"WHERE {where} ORDER BY t.start_ns DESC LIMIT ?", [*params, limit * 2]):
        if row["trace_id"] in seen or len(seen) >= limit:
            continue
        seen.add(row["trace_id"])
        for text, into, name in ((row["inputs"], inputs, attrs.FLOW_INPUTS),
                                 (row["outputs"], outputs, attrs.FLOW_OUTPUTS)):
            if is_sealed(text):  # tracing.encrypt: opened with the workspace's key (without it: skipped)
                if keyring is None:
                    from promptwise.tracing.settings import connection_keyring

                    keyring = connection_keyring(connection)
                text = keyring.open(text, name)
            value = _decode(text)
            if isinstance(value, dict):
                into.append(value)
    if keyring is not None and keyring.unreadable:  # drift over the readable part alone would mislead
        raise DriftError(f"the recorded inputs and outputs are encrypted (tracing.encrypt) and "
                         f"{keyring.unreadable} of them cannot be opened: {keyring.missing()}")
    return inputs, outputs


def _decode(text):
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


def baseline_rows(flow_path: Path | None, baseline: Path | None) -> tuple[str, list[dict]]:
    """The baseline's name and rows: `baseline` (JSONL), else the data of the flow's eval.yaml."""
    if baseline is None:
        if flow_path is None:
            raise DriftError("no baseline: give the flow as a path (its eval.yaml names the data) or --baseline "
                             "DATA.jsonl")
        from promptwise.evaluation.config import EvaluationError, find_eval_config, load_eval_config

        config_path = find_eval_config(flow_path)
        if config_path is None:
            raise DriftError(f"no eval.yaml beside {flow_path}: give --baseline DATA.jsonl (the inputs the flow "
                             f"was evaluated on)")
        try:
            config = load_eval_config(config_path)
        except EvaluationError as error:
            raise DriftError(str(error)) from None
        if config.data is None:
            raise DriftError(f"{config_path}: no `data:` to use as the baseline; add it or give --baseline")
        baseline = config.data
    rows = []
    try:
        with open(baseline, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as error:
                    raise DriftError(f"{baseline}:{number}: not a JSON line ({error.msg}); fix the row") from None
                if isinstance(row, dict):
                    rows.append(row)
    except OSError as error:
        raise DriftError(f"cannot read the baseline {baseline}: {error.strerror or error}") from None
    return str(baseline), rows


def drift_report(connection: sqlite3.Connection | None, selection, *, flow_path: Path | None,
                 baseline: Path | None, warn: float = PSI_WARN, alert: float = PSI_ALERT) -> DriftReport:
    name, rows = baseline_rows(flow_path, baseline)
    report = DriftReport(baseline=name)
    if connection is None:
        return report
    inputs, outputs = traffic(connection, selection)
    report.checks += compare_inputs(rows, inputs, warn=warn, alert=alert)
    if selection.since_ns is not None:
        from dataclasses import replace

        length = (selection.until_ns or _now_ns()) - selection.since_ns
        previous = replace(selection, since_ns=selection.since_ns - length, until_ns=selection.since_ns)
        _, earlier = traffic(connection, previous)
        report.checks += compare_outputs(earlier, outputs, warn=warn, alert=alert)
    return report


def _now_ns() -> int:
    import time

    return time.time_ns()


def drift_text(document: dict) -> str:
    lines = [f"drift against {document['baseline']}: {document['summary']}"]
    for check in document["checks"]:
        score = f"{check['score']:.3f}" if check["score"] is not None else "-"
        lines.append(f"  {check['level']:<7} {check['statistic'].upper()} {score:>7}  {check['feature']}"
                     f"  ({check['baseline_n']} vs {check['current_n']}; {check['detail']})")
    if not document["checks"]:
        lines.append("  no inputs recorded in this window (tracing records them while capture_content is on)")
    return "\n".join(lines)
