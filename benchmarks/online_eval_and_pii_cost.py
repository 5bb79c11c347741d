"""What online evaluation costs a served request, and what PII governance costs the span writer.

    python benchmarks/online_eval_and_pii_cost.py

- offer(): the request path's share of online evaluation (a random draw and, when sampled, one
  put_nowait on the bounded queue), at sample rates 0.1 and 1.0; the worker is not started, so
  nothing competes for the CPU (the queue is big enough not to fill).
- PiiPolicy.text over a typical prompt/reply attribute (JSON messages, ~600 characters) with and
  without personal data: what the span store's writer thread (and the OTLP exporter's) pay per
  content attribute, off the request path.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from promptwise.evaluation.safety import PiiEvaluator
from promptwise.monitoring.online_eval import Finished, OnlineEvaluation
from promptwise.tracing.pii import PiiPolicy

N = 200_000


def per_call_us(call, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    item = Finished({"question": "what is the capital of France"}, {"answer": "Paris"}, "ab" * 16, "v1", "local", 0)
    with tempfile.TemporaryDirectory() as folder:
        for rate in (0.1, 1.0):
            online = OnlineEvaluation(Path(folder) / "t.sqlite", [PiiEvaluator("pii")], sample_rate=rate,
                                      queue_size=N + 1)
            print(f"offer() at sample_rate {rate}: {per_call_us(lambda: online.offer(item), N):.2f} µs per request")
    clean = json.dumps([{"role": "system", "content": "You triage log lines into categories. " * 4},
                        {"role": "user", "content": "ERROR disk /dev/sda1 is 97% full on host web-3 at 12:00 " * 4}])
    personal = json.dumps([{"role": "user", "content": "Name: Jane Doe, mail jane.doe@example.com, card "
                                                       "4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32 " * 3}])
    for mode in ("redact", "hash", "drop"):
        policy = PiiPolicy(mode, b"k" * 32 if mode == "hash" else None)
        print(f"tracing.pii {mode}: {per_call_us(lambda: policy.text(clean), 5000):.1f} µs per clean attribute "
              f"({len(clean)} chars), {per_call_us(lambda: policy.text(personal), 5000):.1f} µs with personal data "
              f"({len(personal)} chars)")


if __name__ == "__main__":
    main()
