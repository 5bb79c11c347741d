"""Metric drift: is a version scoring worse online than in its offline evaluation?

Online scores (monitoring/online_eval.py's `scores` table) are compared with the row scores
of the newest offline evaluation of the same flow content (`promptwise eval`, matched by the
content hash the run recorded and by evaluator name). A group is flagged when both:

  - the online mean is worse than the offline mean by at least `tolerance` (0.05 by default,
    in the evaluator's own units; "worse" follows the evaluator's higher_is_better), and
  - a one-sided Welch test says the difference is unlikely to be noise (p < `significance`,
    0.01 by default): t = drop / sqrt(var_online / n_online + var_offline / n_offline), with
    p from Student's t at the Welch-Satterthwaite degrees of freedom (both sides need
    MIN_SAMPLE scores).

Both thresholds can be set per workspace (a 1-5 judge wants a larger tolerance than a pass rate):

    monitoring:
      metric_drift: {tolerance: 0.2, significance: 0.01}

Only means, variances and counts are needed, so the online side is three SQL aggregates over
any number of scores. For an alert rule, `drift.NAME` is the largest significant drop over the
window's versions and 0 when none is significant (the rule's `above:` is then the tolerance), so
`above: 0.05` fires on a real drop only; with too few scores or no offline side it has no data.
benchmarks/metric_drift_false_alarms.py measures the false-alarm and detection rates.
"""

from __future__ import annotations

import math
from pathlib import Path

TOLERANCE = 0.05
SIGNIFICANCE = 0.01
MIN_SAMPLE = 30
PREFIX = "drift."


def drift_options(settings: dict, source: Path | None = None) -> dict:
    """`monitoring.metric_drift` of the workspace settings: {tolerance, significance}, the
    defaults where unset. ConfigError (naming the settings file) for values that cannot be used."""
    from promptwise.config import ConfigError

    monitoring = settings.get("monitoring") if isinstance(settings, dict) else None
    section = monitoring.get("metric_drift") if isinstance(monitoring, dict) else None
    options = {"tolerance": TOLERANCE, "significance": SIGNIFICANCE}
    if section is None:
        return options
    where = f"{source}: `monitoring.metric_drift`" if source else "`monitoring.metric_drift`"
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a mapping, e.g. {{tolerance: 0.05, significance: 0.01}}")
    unknown = sorted(set(section) - set(options))
    if unknown:
        raise ConfigError(f"{where}: unknown setting {', '.join(map(str, unknown))}; allowed: tolerance, significance")
    for key, bound, fits in (("tolerance", "a number of 0 or more", lambda v: v >= 0),
                             ("significance", "a number above 0 and at most 0.5", lambda v: 0 < v <= 0.5)):
        value = section.get(key, options[key])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or not fits(value):
            raise ConfigError(f"{where}.{key} must be {bound} (got {value!r})")
        options[key] = float(value)
    return options


def sample_stats(values: list[float]) -> tuple[float | None, float | None, int]:
    """Mean, sample variance (n - 1) and count of a list of scores."""
    n = len(values)
    if not n:
        return None, None, 0
    mean = sum(values) / n
    return mean, (sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else None), n


def group_of(online: list[float], offline: list[float], *, higher_is_better: bool = True) -> dict:
    """A group in with_offline's shape from raw scores (benchmarks and tests draw them)."""
    mean, variance, n = sample_stats(online)
    offline_mean, offline_variance, m = sample_stats(offline)
    return {"mean": mean, "variance": variance, "scored": n, "offline": offline_mean,
            "offline_variance": offline_variance, "offline_n": m, "higher_is_better": higher_is_better}


def worse_p_value(drop: float, online_variance: float, online_n: int, offline_variance: float,
                  offline_n: int) -> float:
    """One-sided p-value of 'online is worse by `drop`' under 'no difference': Welch's t test,
    Student's t with the Welch-Satterthwaite degrees of freedom."""
    online_part, offline_part = online_variance / online_n, offline_variance / offline_n
    standard_error = math.sqrt(online_part + offline_part)
    if standard_error == 0.0:  # every score equal on both sides: any drop is certain, none is none
        return 0.0 if drop > 0 else 1.0
    t = drop / standard_error
    df = (online_part + offline_part) ** 2 / (
        (online_part ** 2 / (online_n - 1) if online_n > 1 else 0.0)
        + (offline_part ** 2 / (offline_n - 1) if offline_n > 1 else 0.0) or 1e-300)
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))  # P(T > |t|)
    return tail if t > 0 else 1.0 - tail


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (modified
    Lentz), evaluated where it converges fast and mirrored elsewhere."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):
        return 1.0 - _incomplete_beta(b, a, 1.0 - x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-12:
            break
    return front * fraction / a


def assess(group: dict, *, tolerance: float = TOLERANCE, significance: float = SIGNIFICANCE) -> dict:
    """The `drift` of one online group from online_eval.with_offline: drop, p_value and level
    (ok | drift | too few | no offline)."""
    offline, online = group.get("offline"), group.get("mean")
    n, m = group.get("scored") or 0, group.get("offline_n") or 0
    if offline is None or online is None or not m:
        return {"level": "no offline", "drop": None, "p_value": None}
    sign = 1.0 if group.get("higher_is_better", True) else -1.0
    drop = sign * (offline - online)
    if min(n, m) < MIN_SAMPLE:
        return {"level": "too few", "drop": round(drop, 6), "p_value": None}
    p = worse_p_value(drop, group.get("variance") or 0.0, n, group.get("offline_variance") or 0.0, m)
    level = "drift" if drop >= tolerance and p < significance else "ok"
    return {"level": level, "drop": round(drop, 6), "p_value": p}


def with_drift(groups: list[dict], **options) -> list[dict]:
    """online_eval.with_offline's groups, each with its `drift`."""
    return [{**group, "drift": assess(group, **options)} for group in groups]


def alert_value(groups: list[dict], *, significance: float = SIGNIFICANCE) -> tuple[float | None, int]:
    """The value of a `drift.NAME` rule over its groups (one per version): the largest drop
    significant at `significance`, 0.0 when none is, None when no group has an offline side;
    and the online scores it rests on."""
    assessed = [(group, assess(group, significance=significance)) for group in groups]
    known = [(group, drift) for group, drift in assessed if drift["level"] in ("ok", "drift")]
    if not known:
        return None, sum(group.get("scored") or 0 for group, _ in assessed)
    # The rule's own threshold plays the tolerance's part: every significant drop counts.
    value = max((drift["drop"] for _, drift in known if drift["drop"] > 0 and drift["p_value"] < significance),
                default=0.0)
    return value, sum(group.get("scored") or 0 for group, _ in known)


def online_with_drift(connection, state_dir, since_ns: int | None, until_ns: int | None, *,
                      flow: str | None = None, version: str | None = None, options: dict | None = None) -> list[dict]:
    """Online scores per version and evaluator, beside the offline evaluation of the same content,
    with their drift: what `promptwise monitor` and the editor's Monitor view show."""
    from promptwise.monitoring.online_eval import scores_by_version, with_offline

    if connection is None:
        return []
    groups = scores_by_version(connection, since_ns, until_ns, flow=flow, version=version)
    return with_drift(with_offline(groups, state_dir), **(options or {})) if groups else []
