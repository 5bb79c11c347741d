"""What the PW7xx cost checker adds to `promptwise check`, and whether it loads a tokenizer.

Prints figures; asserts nothing. Run: .venv/bin/python benchmarks/costing_check_speed.py [PATH ...]
(default PATH: flows/).

- `promptwise check PATH` as a subprocess (interpreter start-up, imports, analysis), N runs;
- the same with every call counted exactly, as the checker did before the byte bound (the
  estimate's calls are counted as soon as they are made, which loads the o200k tokenizer);
- the same with the cost checker left out of the analysis, to show the checker's share;
- in one process: which tiktoken encodings the check loaded (the checker decides the
  context-window diagnostic from a UTF-8 byte bound and loads a tokenizer only when the bound
  comes close to the window).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 9

CHECK = ("import sys; from promptwise.cli import main; sys.argv = ['promptwise', 'check', *sys.argv[1:]]; "
         "{prelude}main()")
WITHOUT_COSTING = ("from promptwise.analysis import analyzer; analyzer.COMPANION_MODULES = tuple("
                   "m for m in analyzer.COMPANION_MODULES if 'costing' not in m); ")
EAGER_COUNTING = ("from promptwise.costing import calls, estimate; _plain = calls.estimate_call; "
                  "estimate.estimate_call = lambda *a, **k: (lambda r: (r.count, r)[1])(_plain(*a, **k)); ")
LOADED = ("import sys; from promptwise.analysis import check_paths; from pathlib import Path; "
          "from promptwise.costing import tokenizers; "
          "problems = check_paths([Path(p) for p in sys.argv[1:]]); "
          "print(len(problems), sorted(tokenizers._encodings))")


def timed(command: list[str], runs: int = RUNS) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False, cwd=ROOT)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def report(label: str, samples: list[float]) -> None:
    print(f"  {label:<44} median {statistics.median(samples):7.1f} ms   min {min(samples):7.1f} ms   (n={len(samples)})")


def main() -> None:
    paths = sys.argv[1:] or [str(ROOT / "flows")]
    python = sys.executable
    print(f"promptwise check {' '.join(paths)}  (subprocess wall time)")
    variants = [("with the cost checker (byte bound first)", ""),
                ("cost checker counting every call exactly", EAGER_COUNTING),
                ("without the cost checker", WITHOUT_COSTING)]
    samples: dict[str, list[float]] = {label: [] for label, _ in variants}
    for _ in range(RUNS):  # interleaved, so load from other processes hits every variant alike
        for label, prelude in variants:
            samples[label] += timed([python, "-c", CHECK.format(prelude=prelude), *paths], runs=1)
    for label, _ in variants:
        report(label, samples[label])
    report("python -c pass (start-up alone)", timed([python, "-c", "pass"]))
    loaded = subprocess.run([python, "-c", LOADED, *paths], capture_output=True, text=True, cwd=ROOT)
    print(f"problems and tokenizers loaded by one check: {loaded.stdout.strip() or loaded.stderr.strip()[-300:]}")


if __name__ == "__main__":
    main()
