"""Evaluation speed: computed evaluators per row, judges against a slow endpoint, editor look-ups.

    .venv/bin/python benchmarks/eval_speed.py [--rows 2000] [--judge-rows 400] [--latency-ms 50]

1. Computed evaluators over synthetic rows: microseconds per row for each type.
2. An LLM judge over `--judge-rows` rows through the engine (real openai client) against the
   fake server answering in `--latency-ms`: wall time and peak requests in flight per
   concurrency, against the bound the concurrency allows (rows / concurrency x latency).
3. The editor: `latest_results_for` and `dataset_diagnostics` on a store holding 20
   evaluations of `--rows` rows each (what a lens refresh costs after a run finishes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from promptwise.config import load_workspace
from promptwise.devtools.fake_openai import FakeOpenAI
from promptwise.engine.providers import RetryPolicy
from promptwise.evaluation.base import Score
from promptwise.evaluation.config import parse_eval_config
from promptwise.evaluation.judge_transport import EngineJudgeTransport
from promptwise.evaluation.registry import BuildContext
from promptwise.evaluation.runner import EvalRow, evaluate_rows

WORDS = ("claim policy premium ratio combined reserve solvency incident timeout database gateway "
         "payment customer broker renewal invoice ledger portal outage latency").split()


def sentence(rng: random.Random, n: int = 18) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


COMPUTED = """\
evaluators:
  - {name: exact, type: exact_match, inputs: {prediction: "${run.outputs.answer}", reference: "${data.expected}"}}
  - {name: f1, type: f1_score, inputs: {prediction: "${run.outputs.answer}", reference: "${data.expected}"}}
  - {name: bleu, type: bleu, inputs: {prediction: "${run.outputs.answer}", reference: "${data.expected}"}}
  - {name: rouge, type: rouge_l, inputs: {prediction: "${run.outputs.answer}", reference: "${data.expected}"}}
  - {name: schema, type: json_schema, schema: {type: object, required: [a]}, inputs: {prediction: "${run.outputs.json}"}}
  - {name: pii, type: pii, inputs: {text: "${run.outputs.answer}"}}
  - {name: secrets, type: secrets, inputs: {text: "${run.outputs.answer}"}}
  - {name: injection, type: prompt_injection, inputs: {text: "${data.expected}"}}
  - {name: classes, type: classification, inputs: {prediction: "${run.outputs.label}", label: "${data.label}"}}
"""


def computed_rows(count: int) -> list[EvalRow]:
    rng = random.Random(7)
    rows = []
    for i in range(count):
        answer = sentence(rng)
        rows.append(EvalRow(i, {"expected": sentence(rng), "label": rng.choice("abc")},
                            {"outputs": {"answer": answer, "json": json.dumps({"a": i}), "label": rng.choice("abc")},
                             "latency_ms": rng.uniform(50, 500), "cost": 0.0002, "tokens": 120, "status": "completed"}))
    return rows


def bench_computed(count: int, folder: Path) -> None:
    config, problems = parse_eval_config(folder / "eval.yaml", COMPUTED)
    assert not problems, problems
    rows = computed_rows(count)
    print(f"1. computed evaluators, {count} rows (one evaluator at a time)")
    for spec in config.evaluators:
        single = type(config)(config.path, None, [spec])
        started = time.perf_counter()
        result = asyncio.run(evaluate_rows(single, rows, BuildContext(folder)))
        elapsed = time.perf_counter() - started
        assert result.metrics[spec.name]["errors"] == 0
        print(f"   {spec.type:<18} {elapsed / count * 1e6:8.1f} µs/row  ({count / elapsed:,.0f} rows/s)")


def bench_judges(count: int, latency_ms: float, folder: Path) -> None:
    print(f"2. fluency judge, {count} rows, endpoint latency {latency_ms:.0f} ms")
    rng = random.Random(3)
    rows = [EvalRow(i, {}, {"outputs": {"answer": sentence(rng)}, "status": "completed"}) for i in range(count)]
    config, problems = parse_eval_config(folder / "eval.yaml", "evaluators:\n  - {name: fluent, type: fluency, "
                                         "inputs: {response: \"${run.outputs.answer}\"}}\n")
    assert not problems
    with FakeOpenAI([(None, '{"score": 4, "reason": "Fluent."}')], latency=latency_ms / 1000) as server:
        (folder / "promptwise.yaml").write_text(
            f"connections:\n  fake: {{type: openai_compatible, base_url: '{server.base_url}'}}\n"
            "defaults: {connection: fake}\n", encoding="utf-8")
        workspace = load_workspace(folder)
        for concurrency in (8, 16, 32):
            server.reset()

            async def go() -> float:
                transport = EngineJudgeTransport(workspace, use_cache=False, retry=RetryPolicy(timeout=30),
                                                concurrency=concurrency)
                try:
                    started = time.perf_counter()
                    result = await evaluate_rows(config, rows, BuildContext(folder, judge_transport=transport),
                                                 concurrency=concurrency)
                    assert result.metrics["fluent"]["errors"] == 0
                    return time.perf_counter() - started
                finally:
                    await transport.aclose()

            elapsed = asyncio.run(go())
            bound = count / concurrency * latency_ms / 1000
            print(f"   concurrency {concurrency:>2}: {elapsed:6.2f} s wall, {count / elapsed:6.1f} rows/s, "
                  f"peak in flight {server.stats.peak_in_flight}, bound {bound:.2f} s "
                  f"({elapsed / bound:.2f}x the bound)")


def bench_editor(count: int, folder: Path) -> None:
    from promptwise.evaluation.editor import dataset_diagnostics, latest_results_for
    from promptwise.evaluation.results_store import EvalStore
    from promptwise.evaluation.runner import EvalResult, RowScores
    from promptwise.store.run_store import RunStore

    print(f"3. editor look-ups, store with 20 evaluations of {count} rows")
    workspace = load_workspace(folder)
    flow = folder / "flow.dag.yaml"
    flow.write_text("inputs: {q: {type: string}}\noutputs: {a: {reference: '${n.output}'}}\n"
                    "nodes:\n- {name: n, type: python, source: {type: code, path: n.py}, inputs: {q: '${inputs.q}'}}\n",
                    encoding="utf-8")
    data = folder / "data.jsonl"
    data.write_text("".join(json.dumps({"q": i}) + "\n" for i in range(count)), encoding="utf-8")
    rng = random.Random(5)
    evaluators = [{"name": n, "type": t, "threshold": th, "higher_is_better": True, "inputs": {}, "outputs": ["a"]}
                  for n, t, th in (("grounded", "groundedness", 3.0), ("correct", "exact_match", 1.0))]
    with RunStore.for_workspace(workspace) as runs, EvalStore.for_workspace(workspace) as store:
        for k in range(20):
            runs.create_run(f"run{k}", str(flow.resolve()), data=data.resolve(), total_rows=count)
            rows = [RowScores(i, {"grounded": Score(float(rng.randint(1, 5)), None, "reason " * 5),
                                  "correct": Score(float(rng.random() < 0.9), None, "r")}, i + 1) for i in range(count)]
            for row in rows:
                for name, score in row.scores.items():
                    score.passed = score.value >= (3.0 if name == "grounded" else 1.0)
            metrics = {"grounded": {"mean": 3.0, "pass_rate": 0.6}, "correct": {"mean": 0.9, "pass_rate": 0.9}}
            store.save(f"run{k}", EvalResult(evaluators, rows, metrics, {"rows": count, "latency_p95_ms": 1800.0,
                                                                         "cost_per_row": 0.004}),
                       flow=str(flow.resolve()), config=None, data=str(data.resolve()))
    for label, call in (("latest_results_for", lambda: latest_results_for(flow, workspace)),
                        ("dataset_diagnostics", lambda: dataset_diagnostics(data, workspace))):
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            out = call()
            timings.append(time.perf_counter() - started)
        print(f"   {label:<20} median {sorted(timings)[2] * 1000:7.1f} ms  ({len(out)} items)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--judge-rows", type=int, default=400)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        (folder / ".promptwise").mkdir()
        bench_computed(args.rows, folder)
        bench_judges(args.judge_rows, args.latency_ms, folder)
        bench_editor(args.rows, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
