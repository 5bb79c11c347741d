"""How often metric drift cries wolf, and how often it catches a real drop.

Draws an offline evaluation (its row scores) and many windows of online scores, and runs
monitoring.metric_drift.assess on each (default tolerance 0.05, one-sided Welch p < 0.01).
Unshifted windows measure the false-alarm rate; shifted ones the detection rate.

    python benchmarks/metric_drift_false_alarms.py [--trials 2000] [--offline 100] [--online 200]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from promptwise.monitoring.metric_drift import SIGNIFICANCE, TOLERANCE, assess, group_of  # noqa: E402


def pass_fail(rate):
    return lambda rng: 1.0 if rng.random() < rate else 0.0


def judge(mean):  # a 1-5 judge score: a rounded normal around `mean`, clipped
    return lambda rng: float(min(5, max(1, round(rng.gauss(mean, 0.9)))))


SCENARIOS = [  # (name, offline draw, online draw)
    ("pass/fail 0.90, unshifted", pass_fail(0.90), pass_fail(0.90)),
    ("pass/fail 0.90 -> 0.85", pass_fail(0.90), pass_fail(0.85)),
    ("pass/fail 0.90 -> 0.80", pass_fail(0.90), pass_fail(0.80)),
    ("pass/fail 0.90 -> 0.75", pass_fail(0.90), pass_fail(0.75)),
    ("pass/fail 0.90 -> 0.95 (better)", pass_fail(0.90), pass_fail(0.95)),
    ("judge 1-5 mean 4.2, unshifted", judge(4.2), judge(4.2)),
    ("judge 1-5 mean 4.2 -> 4.0", judge(4.2), judge(4.0)),
    ("judge 1-5 mean 4.2 -> 3.8", judge(4.2), judge(3.8)),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--offline", type=int, default=100, help="rows in the offline evaluation")
    parser.add_argument("--online", type=int, default=200, help="online scores in each window")
    args = parser.parse_args()
    rng = random.Random(2026)
    print(f"{args.trials} windows of {args.online} online scores per scenario against offline evaluations of "
          f"{args.offline} rows (a new one every window); flagged = drop >= {TOLERANCE} and p < {SIGNIFICANCE}")
    print(f"{'scenario':<36} {'flagged':>8}")
    for name, offline_draw, online_draw in SCENARIOS:
        flagged = 0
        for _ in range(args.trials):
            offline = [offline_draw(rng) for _ in range(args.offline)]
            online = [online_draw(rng) for _ in range(args.online)]
            flagged += assess(group_of(online, offline))["level"] == "drift"
        print(f"{name:<36} {flagged / args.trials:>8.2%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
