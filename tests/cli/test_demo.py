"""The README's first command ends in flows/demo.sh: it must run the whole job on a copy of flows/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_demo_runs_every_step_offline(tmp_path):
    flows = tmp_path / "flows"
    shutil.copytree(REPO / "flows", flows, ignore=shutil.ignore_patterns(".promptwise"))
    env = {k: v for k, v in os.environ.items() if k not in ("PROMPTWISE_BASE_URL", "OPENAI_API_KEY")}
    # No ../.venv beside the copy: the script falls back to the promptwise on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(["bash", str(flows / "demo.sh")], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout + result.stderr
    assert "no problems in" in out
    assert "total" in out and "log-triage" in out  # the estimate table
    assert "ok: category_match.pass_rate" in out  # the CI gate passed
    assert "rows that changed verdict" in out  # the variant comparison
    # The two variants answer differently: the comparison shows verdicts and costs that move.
    changed = re.search(r"rows that changed verdict: (\d+)", out)
    assert changed and int(changed.group(1)) > 0, out[-3000:]
    assert re.search(r"view_relevance: fail → pass", out)
    assert re.search(r"^cost_per_row\s+\$[\d.]+\s+\$[\d.]+ \(\+\$[\d.]+, worse\)", out, re.M)
    assert "$0.0000 " not in out  # costs with significant digits
    report = flows / ".promptwise" / "analyst_view-variants.html"
    assert report.is_file() and "<table" in report.read_text()
    assert out.count("completed") >= 3  # three stored runs listed
