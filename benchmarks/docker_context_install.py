"""The docker target's build context installed as the image would install it, without an engine:
`promptwise deploy FLOW --target docker --out DIR`, then a fresh virtual environment, then
`pip install -r DIR/requirements.txt` (from the package index, as `docker build` would) and the
context's wheel, then the context's ENTRYPOINT until /health answers.

Prints the time of each step and the installed size. The test suite (tests/deploy/
test_docker_context.py) skips the download of the requirements (it takes the pinned versions
from this environment after checking them); this script does the whole thing.

    python benchmarks/docker_context_install.py [FLOW]   (default: flows/log-triage, or a tiny flow)
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

TINY_FLOW = {
    "flow.dag.yaml": """
        inputs:
          text: {type: string, default: hello}
        outputs:
          shout: {type: string, reference: "${upper.output}"}
        nodes:
        - name: upper
          type: python
          source: {type: code, path: upper.py}
          inputs: {text: "${inputs.text}"}
    """,
    "upper.py": """
        from promptflow.core import tool

        @tool
        def upper(text: str) -> str:
            return text.upper()
    """,
}


def step(label: str, started: float) -> float:
    now = time.perf_counter()
    print(f"{label:<44} {now - started:7.1f} s", flush=True)
    return now


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="promptwise-docker-bench-"))
    if len(sys.argv) > 1:
        flow = Path(sys.argv[1]).resolve()
    else:
        flow = work / "workspace" / "tiny"
        for name, text in TINY_FLOW.items():
            (flow / name).parent.mkdir(parents=True, exist_ok=True)
            (flow / name).write_text(textwrap.dedent(text).lstrip("\n"))
        (flow.parent / ".git").mkdir()
    context = work / "context"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "promptwise", "deploy", str(flow), "--target", "docker", "--out",
                    str(context)], check=True, cwd=flow.parent)
    mark = step("deploy --out (package, wheel, context)", started)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    mark = step("python -m venv (with pip)", mark)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run(pip + ["--requirement", str(context / "requirements.txt")], check=True)
    mark = step("pip install -r requirements.txt", mark)
    wheel = next((context / "wheels").glob("promptwise-*.whl"))
    subprocess.run(pip + ["--no-deps", str(wheel)], check=True)
    mark = step("pip install --no-deps the promptwise wheel", mark)
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.*)$", (context / "Dockerfile").read_text(), re.M).group(1))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [str(venv / "bin" / entrypoint[0]), *entrypoint[1:]]
    command[command.index("--port") + 1] = str(port)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")},
           "PROMPTWISE_API_KEY": "benchmark-key-0123456789"}
    process = subprocess.Popen(command, cwd=context, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None:
                    print("the entrypoint exited with", process.returncode)
                    return 1
                time.sleep(0.1)
        step("entrypoint until /health answers", mark)
    finally:
        process.terminate()
        process.wait(timeout=30)
    pins = [l for l in (context / "requirements.txt").read_text().splitlines() if l and not l.startswith("#")]
    print(f"{'pinned requirements':<44} {len(pins):7d}")
    print(f"{'context size':<44} {size_mb(context):7.1f} MB")
    print(f"{'virtual environment size':<44} {size_mb(venv):7.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
