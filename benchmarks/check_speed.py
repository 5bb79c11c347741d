"""Times `promptwise check` and the analysis the language server runs on every edit.

Prints figures; asserts nothing. Run: .venv/bin/python benchmarks/check_speed.py

- a generated 200-node flow (python and llm nodes, their tool files and templates):
  parse only, analyze cold (caches cleared), analyze after an edit (the text changes every
  time, neighbours cached — what the editor does), analyze unchanged (cache hit);
- `promptwise check` in-process and as a subprocess, on that flow and on flows/.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from promptwise.analysis import analyze, check_paths  # noqa: E402
from promptwise.analysis import analyzer  # noqa: E402
from promptwise.analysis.gc_tuning import tune_for_interactive_use  # noqa: E402
from promptwise.documents import load  # noqa: E402
from promptwise.documents.flow_dag import parse_flow_dag  # noqa: E402

from generated_flow import NODE_COUNT, chain_nodes, write_prompt  # noqa: E402  (beside this script)


def generate_flow(folder: Path, count: int = NODE_COUNT) -> Path:
    """A chain-and-fan flow: every node reads a flow input and one or two earlier nodes."""
    lines = [
        "inputs:",
        "  question: {type: string, default: What does my policy cover?}",
        "  customer: {type: string, default: Ada}",
        "outputs:",
        f"  answer: {{type: string, reference: '${{n{count - 1}.output}}'}}",
        "nodes:",
    ]
    (folder / "tool.py").write_text(
        "from promptflow.core import tool\n\n\n@tool\ndef step(text: str, previous: str = '', customer: str = '') -> str:\n"
        "    return text + previous + customer\n"
    )
    write_prompt(folder)
    lines += chain_nodes(count, flow_style_llm_source=True)
    path = folder / "flow.dag.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


class Samples(list):
    """Wall-clock milliseconds, plus this process's CPU milliseconds: on a shared machine
    the CPU figure shows our own cost when other work slows the wall clock down."""

    cpu: list[float]


def timed(function, repeat: int) -> Samples:
    samples = Samples()
    samples.cpu = []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        samples.append((time.perf_counter() - start) * 1000)
        samples.cpu.append((time.process_time() - start_cpu) * 1000)
    return samples


def report(label: str, samples: Samples, in_process: bool = True) -> None:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    line = f"  {label:<46} median {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms"
    if in_process:
        line += f"   cpu median {statistics.median(samples.cpu):6.1f} ms"
    print(line + f"   (n={len(ordered)})")


def clear_caches() -> None:
    load.clear_cache()
    analyzer._RESULTS.clear()
    analyzer._DEPENDENCIES.clear()


def cli(args: list[str], repeat: int = 5) -> list[float]:
    command = [sys.executable, "-m", "promptwise", "check", *args]
    return timed(lambda: subprocess.run(command, capture_output=True, check=False), repeat)


# The check command alone, without `promptwise.cli` building the parsers of every other
# command (some import heavy packages such as openai at module level).
CHECK_ONLY = (
    "import argparse, sys; from promptwise.commands.check import run; "
    "sys.exit(run(argparse.Namespace(paths=sys.argv[1:], format='text')))"
)


def check_only(args: list[str], repeat: int = 5, without_costing: bool = False) -> list[float]:
    code = CHECK_ONLY
    if without_costing:
        # the PW7xx cost checker loads a tokenizer (~0.5 s); show our own share without it
        code = (
            "from promptwise.analysis import analyzer; analyzer.COMPANION_MODULES = tuple("
            "m for m in analyzer.COMPANION_MODULES if 'costing' not in m); " + code
        )
    command = [sys.executable, "-c", code, *args]
    return timed(lambda: subprocess.run(command, capture_output=True, check=False), repeat)


def per_check_breakdown(flow: Path, text: str, edits: int = 30) -> None:
    """CPU milliseconds per edit of each part of the analysis (the reader and every checker),
    so the largest share of the edit-to-diagnostics time is plain to see."""
    spent: dict[str, float] = {}
    original_run, original_load = analyzer._run, analyzer.load_document

    def timed_run(name, path, call):
        start = time.process_time()
        try:
            return original_run(name, path, call)
        finally:
            spent[name] = spent.get(name, 0.0) + time.process_time() - start

    def timed_load(*args, **kwargs):
        start = time.process_time()
        try:
            return original_load(*args, **kwargs)
        finally:
            spent["read and parse"] = spent.get("read and parse", 0.0) + time.process_time() - start

    analyzer._run, analyzer.load_document = timed_run, timed_load
    try:
        start = time.process_time()
        for index in range(edits):
            analyze(flow, text.replace("default: Ada", f"default: Ad{index}"))
        total = (time.process_time() - start) / edits * 1000
    finally:
        analyzer._run, analyzer.load_document = original_run, original_load
    print(f"  per edit, by part (cpu ms; total {total:.1f} ms):")
    for name, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"    {name:<20} {seconds / edits * 1000:6.1f}")


def main() -> None:
    with tempfile.TemporaryDirectory() as temp:
        flow = generate_flow(Path(temp))
        text = flow.read_text()
        problems = analyze(flow)
        print(f"generated flow: {NODE_COUNT} nodes, {text.count(chr(10))} lines, {len(problems)} problems")
        for problem in problems[:5]:
            print(f"    {problem.code} {problem.message}")
        print("in-process (the language server's path):")
        report("parse flow.dag.yaml only", timed(lambda: parse_flow_dag(text, flow), 30))

        def cold():
            clear_caches()
            analyze(flow)

        report("analyze, cold caches", timed(cold, 20))
        analyze(flow)
        edits = iter(range(10_000))

        def edit():
            # a new text every time (as on each keystroke); the neighbours stay cached
            analyze(flow, text + f"# edit {next(edits)}\n")

        report("analyze after an edit (didChange)", timed(edit, 100))
        report("analyze unchanged (cache hit)", timed(lambda: analyze(flow, text), 50))
        # what the language server does at start-up (promptwise.analysis.gc_tuning)
        tune_for_interactive_use()
        report("analyze after an edit, server GC settings", timed(edit, 100))
        per_check_breakdown(flow, text)

        def check_all():
            clear_caches()
            check_paths([ROOT / "flows"])

        report("check_paths(flows/), cold", timed(check_all, 10))
        print("CLI `promptwise check` (subprocess, includes interpreter start-up and imports):")
        report("200-node flow", cli([str(flow)]), in_process=False)
        report("flows/", cli([str(ROOT / "flows")]), in_process=False)
        print("the check command's own cost (subprocess, without the other commands' imports):")
        report("200-node flow", check_only([str(flow)]), in_process=False)
        report("flows/", check_only([str(ROOT / "flows")]), in_process=False)
        print("... and without the PW7xx cost checker (which loads a tokenizer):")
        report("200-node flow", check_only([str(flow)], without_costing=True), in_process=False)
        report("flows/", check_only([str(ROOT / "flows")], without_costing=True), in_process=False)
        start_up = timed(lambda: subprocess.run([sys.executable, "-c", "pass"]), 5)
        report("python -c pass (interpreter start-up alone)", start_up, in_process=False)


if __name__ == "__main__":
    main()
