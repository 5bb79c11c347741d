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
from promptwise.documents import load  # noqa: E402
from promptwise.documents.flow_dag import parse_flow_dag  # noqa: E402

NODE_COUNT = 200


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
    (folder / "prompt.jinja2").write_text("system:\nYou help {{customer}}.\nuser:\n{{text}} {{previous}}\n")
    used = set()
    for i in range(count):
        previous = f"${{n{i - 1}.output}}" if i else "${inputs.question}"
        used.add(i - 1)
        if i % 4 == 3:
            lines += [
                f"- name: n{i}",
                "  type: llm",
                "  source: {type: code, path: prompt.jinja2}",
                "  connection: open_ai",
                "  api: chat",
                "  inputs:",
                "    deployment_name: gpt-4o-mini",
                "    text: ${inputs.question}",
                f"    previous: {previous}",
                "    customer: ${inputs.customer}",
            ]
        else:
            lines += [
                f"- name: n{i}",
                "  type: python",
                "  source:",
                "    type: code",
                "    path: tool.py",
                "  inputs:",
                "    text: ${inputs.question}",
                f"    previous: {previous}",
            ]
    path = folder / "flow.dag.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(function, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def report(label: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(f"  {label:<46} median {statistics.median(samples):7.1f} ms   p95 {p95:7.1f} ms   (n={len(samples)})")


def clear_caches() -> None:
    load.clear_cache()
    analyzer._RESULTS.clear()
    analyzer._DEPENDENCIES.clear()


def cli(args: list[str], repeat: int = 5) -> list[float]:
    command = [sys.executable, "-m", "promptwise", "check", *args]
    return timed(lambda: subprocess.run(command, capture_output=True, check=False), repeat)


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

        report("analyze after an edit (didChange)", timed(edit, 50))
        report("analyze unchanged (cache hit)", timed(lambda: analyze(flow, text), 50))

        def check_all():
            clear_caches()
            check_paths([ROOT / "flows"])

        report("check_paths(flows/), cold", timed(check_all, 10))
        print("CLI `promptwise check` (subprocess, includes interpreter start-up and imports):")
        report("200-node flow", cli([str(flow)]))
        report("flows/", cli([str(ROOT / "flows")]))
        report("python -c pass (interpreter start-up alone)", timed(lambda: subprocess.run([sys.executable, "-c", "pass"]), 5))


if __name__ == "__main__":
    main()
