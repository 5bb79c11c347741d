"""Batch memory: peak memory of a batch's data reading, and of whole batch runs, by row count.

    .venv/bin/python benchmarks/batch_memory.py [--rows 100000,1000000] [--held 100000]
                                                [--batch-rows 10000,100000]

Each figure comes from its own Python process (peak resident memory, ru_maxrss, Python and
imports included), on a generated JSONL file of ~130-byte rows:

- `reading`: what `promptwise batch` does with the data before and while it runs: one pass to
  count rows and collect columns (`survey_data`), then the rows streamed beside the stored
  lines of the run (`_not_done`), every row parsed. Should stay flat as rows grow.
- `held`: the same rows read into one list (what batch did before it streamed); kept to small
  sizes, since it takes ~2 KB per row.
- `batch`: `promptwise batch` end to end on a flow with one Python node (no model calls, so
  the figures are about the engine, not an endpoint), rows stored in runs.sqlite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

READING = """
import resource, sys
from pathlib import Path
from promptwise.engine.batch import _not_done
from promptwise.engine.data import iter_data, survey_data
path = Path(sys.argv[1])
survey = survey_data(path)
count = sum(1 for _ in _not_done(iter_data(path), iter(())))
assert count == survey.rows, (count, survey.rows)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

HELD = """
import resource, sys
from pathlib import Path
import promptwise.engine.batch  # the same imports as `reading`
from promptwise.engine.data import read_data
rows = read_data(Path(sys.argv[1]))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

BATCH = """
import contextlib, io, resource, sys
from promptwise.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["batch", sys.argv[2], "--data", sys.argv[1], "--no-progress", "--no-cache"])
assert code == 0, code
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

FLOW = {
    "flow/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {type: string, reference: "${echo.output}"}
        nodes:
        - name: echo
          type: python
          source: {type: code, path: echo.py}
          inputs: {q: "${inputs.question}"}
    """,
    "flow/echo.py": """
        from promptflow.core import tool

        @tool
        def echo(q: str) -> str:
            return q[:16]
    """,
    "promptwise.yaml": "tracing: {enabled: false}\n",
}


def write_data(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            handle.write(json.dumps({"question": f"question {i}: what is the status of ticket {i * 7}?",
                                     "expected": "open", "id": i}) + "\n")
    return path


def measure(script: str, *args: str, cwd: Path | None = None) -> tuple[float, float]:
    """(peak MB, seconds) of one child process running `script`."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "server")})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-2000:]}")
    return int(done.stdout.strip().splitlines()[-1]) / 1024, seconds


def sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="100000,1000000", help="row counts for the reading figures")
    parser.add_argument("--held", default="100000", help="row counts for the held-in-a-list comparison")
    parser.add_argument("--batch-rows", default="10000,100000", help="row counts for whole batch runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        baseline, _ = measure("import resource; import promptwise.engine.batch; "
                              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        print(f"Python with the engine imported: {baseline:.1f} MB peak")
        print(f"{'what':<9} {'rows':>10} {'file MB':>9} {'peak MB':>9} {'seconds':>9}")
        for kind, counts, script in (("reading", args.rows, READING), ("held", args.held, HELD)):
            for rows in sizes(counts):
                data = write_data(root / f"data_{rows}.jsonl", rows)
                peak, seconds = measure(script, str(data))
                print(f"{kind:<9} {rows:>10,} {data.stat().st_size / 1e6:>9.1f} {peak:>9.1f} {seconds:>9.1f}")
        for rows in sizes(args.batch_rows):
            workspace = root / f"batch_{rows}"
            for name, text in FLOW.items():
                path = workspace / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
            data = write_data(workspace / "data.jsonl", rows)
            peak, seconds = measure(BATCH, str(data), str(workspace / "flow"), cwd=workspace)
            print(f"{'batch':<9} {rows:>10,} {data.stat().st_size / 1e6:>9.1f} {peak:>9.1f} {seconds:>9.1f}")


if __name__ == "__main__":
    main()
