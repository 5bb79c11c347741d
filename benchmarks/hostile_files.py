"""How long the analysis takes to refuse hostile files, and how much memory it needs.

Builds the hostile projects of issue 9 part 5 (tests/fuzz/hostile_projects.py: alias bombs,
/dev/zero, FIFOs, paths leaving the project, deep templates, huge numbers) and a few bounded
templates, analyses each in a fresh subprocess and prints wall time and peak memory.
Before the fixes these cases hung or reached 1.2-4.6 GB.

    .venv/bin/python benchmarks/hostile_files.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fuzz"))

from hostile_projects import PROJECTS, prompty  # noqa: E402

TEMPLATES = {
    "render-range-1e9": "system:\n{% for i in range(10**9) %}x{% endfor %}\n",
    "render-nested-loops-1e10": "system:\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n",
    "render-exponential-macro": "system:\n{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}\n",
    "render-string-doubling": "system:\n{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}\n",
    "render-printf-width": "system:\n{{ '%0999999999d' % 1 }}\n",
}

CHILD = r"""
import json, resource, sys, time
from promptwise.analysis import analyze
started = time.perf_counter()
problems = analyze(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "codes": sorted({p.code for p in problems})}))
"""


def measure(path: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=300,
                            cwd=path.parent)
    if result.returncode:
        return {"seconds": float("nan"), "peak_mb": float("nan"), "codes": [f"exit {result.returncode}"]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        cases: dict[str, Path] = {}
        for name, hostile in PROJECTS.items():
            folder = root / name
            folder.mkdir()
            (folder / ".git").mkdir()
            for file_name, text in hostile.files.items():
                (folder / file_name).write_text(text, encoding="utf-8")
            for link, target in hostile.links.items():
                (folder / link).symlink_to(target)
            os.mkfifo(folder / "pipe.fifo")
            cases[name] = folder / hostile.open
        for name, body in TEMPLATES.items():
            folder = root / name
            folder.mkdir()
            (folder / "p.prompty").write_text(prompty(body=body), encoding="utf-8")
            cases[name] = folder / "p.prompty"
        print(f"{'case':34} {'seconds':>8} {'peak MB':>8}  codes")
        for name, path in cases.items():
            figures = measure(path)
            print(f"{name:34} {figures['seconds']:8.3f} {figures['peak_mb']:8.1f}  {' '.join(figures['codes'])}")


if __name__ == "__main__":
    main()
