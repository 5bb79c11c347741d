"""How often drift cries wolf, and how often it catches a real shift.

Draws a baseline (the size of an evaluation dataset) and many windows of live traffic from a
log-triage-like generator (log text of varying length, a system name, a few Cyrillic logs),
runs monitoring.drift.compare_inputs on each (real o200k_base token counts) and reports, per
scenario, the share of windows at warn-or-worse and at alert (default thresholds PSI 0.1 /
0.25). Unshifted windows measure the false-alarm rate; shifted ones the detection rate.

    python benchmarks/drift_false_alarms.py [--trials 100] [--baseline 300] [--window 500]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from promptwise.monitoring.drift import compare_inputs  # noqa: E402

WORDS = ("timeout", "policy", "ledger", "retry", "failed", "upstream", "ERROR", "claim", "mismatch", "instalment",
         "HO-44-1190832", "java.net.SocketTimeoutException", "corr=5d0e7b42", "503", "held", "manual", "review")
SYSTEMS = ("billing-engine", "claims-intake", "policy-admin", "broker-portal", "data-warehouse-etl")


def traffic(rng: random.Random, n: int, *, words=(12, 60), weights=(3, 3, 2, 1, 1), cyrillic=0.05) -> list[dict]:
    rows = []
    for _ in range(n):
        if rng.random() < cyrillic:
            text = "Ошибка " + " ".join(rng.choice(("платежа", "полиса", "сервиса", "таймаут"))
                                       for _ in range(rng.randint(*words)))
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(*words)))
        rows.append({"log_text": text, "system_name": rng.choices(SYSTEMS, weights)[0]})
    return rows


SCENARIOS = {
    "unshifted": {},
    "logs 25% longer": {"words": (15, 75)},
    "logs twice as long": {"words": (24, 120)},
    "system mix shifted": {"weights": (1, 1, 2, 3, 3)},
    "one new dominant system share (billing 3 -> 9)": {"weights": (9, 3, 2, 1, 1)},
    "Cyrillic logs 5% -> 25%": {"cyrillic": 0.25},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--baseline", type=int, default=300, help="rows in the baseline (evaluation data)")
    parser.add_argument("--window", type=int, default=500, help="requests in each live window")
    args = parser.parse_args()
    rng = random.Random(12)
    started = time.perf_counter()
    print(f"{args.trials} windows of {args.window} requests per scenario against baselines of {args.baseline} rows "
          f"(a new baseline every window); thresholds PSI 0.1 warn / 0.25 alert")
    print(f"{'scenario':<48} {'warn+':>7} {'alert':>7}   per check (warn+)")
    for name, shift in SCENARIOS.items():
        warned = alerted = 0
        per_check: dict[str, int] = {}
        for _ in range(args.trials):
            checks = compare_inputs(traffic(rng, args.baseline), traffic(rng, args.window, **shift))
            levels = [c.level for c in checks]
            warned += any(level in ("warn", "alert") for level in levels)
            alerted += "alert" in levels
            for check in checks:
                per_check[check.feature] = per_check.get(check.feature, 0) + (check.level in ("warn", "alert"))
        detail = ", ".join(f"{feature.removeprefix('input ')} {count / args.trials:.1%}"
                           for feature, count in per_check.items())
        print(f"{name:<48} {warned / args.trials:>7.1%} {alerted / args.trials:>7.1%}   {detail}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
