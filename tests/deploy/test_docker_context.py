"""The docker target's build context: what the Dockerfile promises, and its entrypoint command run
in a fresh virtual environment from the context alone (its wheel, its app/ snapshot, its
settings), serving /health and answering /score only with the API key from the environment.

There is no container engine here, so the image itself is not built. The fresh environment gets
the context's promptwise wheel installed with pip (--no-index --no-deps); its third-party
requirements are not downloaded again (70-90 s from PyPI here: benchmarks/docker_context_install.py
does that and times it) but taken from this environment through a path entry, after checking that
each pin in the context's requirements.txt is exactly the version found there."""

from __future__ import annotations

import json
import os
import re
import site
import subprocess
import sys
import time

import httpx

from promptwise.cli import main


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_context_bakes_the_version_in_and_its_entrypoint_serves_from_a_fresh_venv(workspace, capsys, tmp_path_factory):
    out = workspace / "context"
    assert main(["deploy", "triage", "--target", "docker", "--out", str(out), "--format", "json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["version"] == "triage:v1" and written["applied"] is False
    dockerfile = (out / "Dockerfile").read_text()
    version = json.loads((out / "app" / "VERSION.json").read_text())
    assert version["version"] == "triage:v1" and version["content_hash"].startswith("sha256:")
    assert re.search(r"^FROM python:\d+\.\d+-slim$", dockerfile, re.M)
    assert re.search(r"^USER 10001$", dockerfile, re.M) and "useradd" in dockerfile
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD .*127\.0\.0\.1:8080/health", dockerfile, re.M)
    assert f'io.promptwise.content-hash="{version["content_hash"]}"' in dockerfile
    assert 'PROMPTWISE_VERSION="triage:v1"' in dockerfile
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.*)$", dockerfile, re.M).group(1))
    assert entrypoint[:3] == ["promptwise", "serve", "app/triage"] and entrypoint[3:5] == ["--host", "0.0.0.0"]
    pins = [line for line in (out / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert pins and all(re.fullmatch(r"[a-z0-9._-]+==\S+", pin) for pin in pins)
    names = {pin.split("==")[0] for pin in pins}
    assert {"uvicorn", "starlette", "prometheus-client", "openai"} <= names and "sacrebleu" not in names
    settings = (out / "app" / "promptwise.yaml").read_text()
    assert "${env:PROMPTWISE_API_KEY}" in settings
    wheels = list((out / "wheels").glob("promptwise-*.whl"))
    assert len(wheels) == 1

    venv = tmp_path_factory.mktemp("fresh") / "venv"
    # Without its own pip (ensurepip takes 15 s on this machine): this pip installs into it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-index",
                    "--no-deps", str(wheels[0])], check=True, timeout=120, capture_output=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # The third-party requirements, from this environment (after the venv's own site-packages).
    (venv / purelib / "zz_requirements.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    check = subprocess.run([str(python), "-c", (
        "import importlib.metadata as m, json, sys, promptwise\n"
        "pins = [l.split('==') for l in open(sys.argv[1]).read().splitlines() if l and not l.startswith('#')]\n"
        "print(json.dumps({'promptwise': promptwise.__file__, "
        "'mismatch': [(n, v, m.version(n)) for n, v in pins if m.version(n) != v]}))"),
        str(out / "requirements.txt")], check=True, capture_output=True, text=True)
    found = json.loads(check.stdout)
    assert found["promptwise"].startswith(str(venv)), "the context's wheel, not this checkout, must be imported"
    assert found["mismatch"] == []

    port = _free_port()
    command = [str(venv / "bin" / entrypoint[0]), *entrypoint[1:]]
    command[command.index("--port") + 1] = str(port)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PROMPTWISE_API_KEY"] = "deploy-test-key-1234567890"
    log = open(out.parent / "serve.log", "wb")
    process = subprocess.Popen(command, cwd=out, env=env, stdout=subprocess.DEVNULL, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (out.parent / "serve.log").read_text()
            try:
                health = httpx.get(url + "/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, (out.parent / "serve.log").read_text()
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["status"] == "Healthy"
        # The image serves exactly the packaged content (the settings gained only serve.keys).
        assert httpx.get(url + "/version", timeout=5).json()["build_info"] == version["content_hash"]
        assert httpx.post(url + "/score", json={"question": "What is the capital of France?"},
                          timeout=30).status_code == 401
        answer = httpx.post(url + "/score", json={"question": "What is the capital of France?"}, timeout=30,
                            headers={"Authorization": "Bearer deploy-test-key-1234567890"})
        assert answer.status_code == 200 and answer.json() == {"answer": "Paris.", "length": 6}
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
