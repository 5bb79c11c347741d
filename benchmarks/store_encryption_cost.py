"""What encryption at rest (`tracing.encrypt`, store/encryption.py) costs the span store.

    python benchmarks/store_encryption_cost.py [--spans 30000]

Spans shaped like a served request's: a request span, a flow span (inputs, outputs), a node
span (inputs, output) and a model-call span (input messages ~700 characters, output messages
~300), with the attributes the engine sets. Figures:

- seal: AES-256-GCM of one value by size (the sealed string included: nonce, tag, base64).
- row: turning one span into its row, plain vs sealed (the writer thread's extra work per span).
- write: SpanStore.write in batches of 1024 (the writer's real unit), plain vs sealed, µs per span.
- read: SpanStore.get_trace of a 4-span trace, plain vs sealed (what `traces show` and the editor's
  trace view pay to open it).
All of it happens in the store's writer thread or in a reader, never on the request path.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from promptwise import span_attributes as A
from promptwise.store.encryption import Keyring, StoreKey
from promptwise.tracing.store import SpanRecord, SpanStore, _span_row

QUESTION = "ERROR disk /dev/sda1 is 97% full on host web-3 at 12:00, service payments degraded; " * 3
MESSAGES = json.dumps([{"role": "system", "parts": [{"type": "text", "content": "You triage log lines. " * 10}]},
                       {"role": "user", "parts": [{"type": "text", "content": QUESTION}]}])
REPLY = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "category: disk-full. " * 12}],
                     "finish_reason": "stop"}])


def trace_records(number: int) -> list[SpanRecord]:
    trace_id = f"{number:032x}"
    start = 1_700_000_000_000_000_000 + number * 1_000_000
    common = {A.FLOW_NAME: "log-triage", A.VERSION_ID: "v7", A.CONSUMER: "team-a"}
    return [
        SpanRecord(trace_id, f"{1:016x}", None, "POST /score", start, start + 900_000, "ok", is_root=True,
                   attributes={**common, A.SPAN_KIND: "request", A.HTTP_ROUTE: "/score",
                               "promptwise.request.id": f"req-{number}"}),
        SpanRecord(trace_id, f"{2:016x}", f"{1:016x}", "invoke_workflow log-triage", start, start + 800_000, "ok",
                   attributes={**common, A.SPAN_KIND: "flow", A.FLOW_INPUTS: json.dumps({"log_text": QUESTION}),
                               A.FLOW_OUTPUTS: json.dumps({"category": "disk-full"})}),
        SpanRecord(trace_id, f"{3:016x}", f"{2:016x}", "node classify", start, start + 700_000, "ok",
                   attributes={A.SPAN_KIND: "node", A.NODE_NAME: "classify",
                               A.NODE_INPUTS: json.dumps({"log_text": QUESTION}), A.NODE_OUTPUT: '"disk-full"'}),
        SpanRecord(trace_id, f"{4:016x}", f"{3:016x}", "chat gpt-4o-mini", start, start + 600_000, "ok",
                   attributes={A.SPAN_KIND: "llm", A.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                               A.GEN_AI_USAGE_INPUT_TOKENS: 180, A.GEN_AI_USAGE_OUTPUT_TOKENS: 40,
                               A.COST_USD: 0.00005, A.GEN_AI_INPUT_MESSAGES: MESSAGES,
                               A.GEN_AI_OUTPUT_MESSAGES: REPLY}),
    ]


def per_call_us(call, n: int, repeats: int = 5) -> float:
    """The median of `repeats` timings of n calls, in µs per call."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(n):
            call()
        timings.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(timings)


def write_us_per_span(folder: Path, name: str, keyring, traces: int) -> float:
    store = SpanStore(folder / f"{name}.sqlite", keyring=keyring)
    batches, batch = [], []
    for number in range(traces):
        batch += trace_records(number)
        if len(batch) >= 1024:
            batches.append(batch)
            batch = []
    batches.append(batch)
    started = time.perf_counter()
    for records in batches:
        store.write(records)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed / (traces * 4) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spans", type=int, default=30_000, help="spans written per store (default 30000)")
    args = parser.parse_args()
    keyring = Keyring(StoreKey(os.urandom(24).hex()))

    print("seal one value (AES-256-GCM + base64), µs; open it, µs:")
    for size in (100, 1_000, 10_000):
        value = "x" * size
        sealed = keyring.seal(value, A.GEN_AI_INPUT_MESSAGES)
        seal = per_call_us(lambda: keyring.seal(value, A.GEN_AI_INPUT_MESSAGES), 20_000)
        opened = per_call_us(lambda: keyring.open(sealed, A.GEN_AI_INPUT_MESSAGES), 20_000)
        print(f"  {size:>6} characters: seal {seal:6.2f} µs, open {opened:6.2f} µs "
              f"(stored {len(sealed)} characters)")

    records = trace_records(0)
    plain = per_call_us(lambda: [_span_row(record) for record in records], 20_000) / 4
    sealed = per_call_us(lambda: [_span_row(record, keyring) for record in records], 20_000) / 4
    content = sum(1 for record in records for name in record.attributes if name in A.CONTENT_ATTRIBUTES)
    print(f"span -> row, mean over a request's 4 spans ({content} content values): plain {plain:.2f} µs, sealed "
          f"{sealed:.2f} µs: +{sealed - plain:.2f} µs per span encrypted")

    traces = max(1, args.spans // 4)
    with tempfile.TemporaryDirectory() as folder:
        plain_write = write_us_per_span(Path(folder), "plain", None, traces)
        sealed_write = write_us_per_span(Path(folder), "sealed", keyring, traces)
        print(f"SpanStore.write, {traces * 4} spans in batches of 1024: plain {plain_write:.1f} µs/span, sealed "
              f"{sealed_write:.1f} µs/span (+{sealed_write - plain_write:.1f} µs, "
              f"{(sealed_write / plain_write - 1) * 100:+.0f}%)")
        sizes = {}
        for name in ("plain", "sealed"):
            store = SpanStore(Path(folder) / f"{name}.sqlite", readonly=True)
            stored = store._connection.execute("SELECT SUM(LENGTH(attributes)) FROM spans").fetchone()[0]
            sizes[name] = (stored, (Path(folder) / f"{name}.sqlite").stat().st_size)
            store.close()
        print(f"attributes stored: plain {sizes['plain'][0] / 1e6:.1f} MB, sealed {sizes['sealed'][0] / 1e6:.1f} MB "
              f"({(sizes['sealed'][0] / sizes['plain'][0] - 1) * 100:+.0f}%: base64, 28 bytes of nonce and tag and "
              f"the key id per value); files {sizes['plain'][1] / 1e6:.1f} MB and {sizes['sealed'][1] / 1e6:.1f} MB")
        for name, ring in (("plain", Keyring(problem="unused")), ("sealed", keyring)):
            store = SpanStore(Path(folder) / f"{name}.sqlite", readonly=True, keyring=ring)
            trace_id = f"{traces // 2:032x}"
            print(f"get_trace of a 4-span trace, {name}: {per_call_us(lambda: store.get_trace(trace_id), 2000):.1f} µs")
            store.close()


if __name__ == "__main__":
    main()
