"""How long a running `promptwise serve FLOW` takes to serve a changed rollout, with requests
arriving back to back (one at a time, as fast as they answer):

- declaration: the `rollout:` section of promptwise.yaml edited (the server stats the file,
  applies the declaration in a thread, reloads) -> the first answer naming the new version;
- team database: `promptwise rollout set` run from another workspace sharing the PostgreSQL
  registry (the server polls the database) -> the first answer naming the new version.

The server checks at most once a second, on the request path. Each change here comes over a
second after the last check (as after any pause of a second), so the figure is the apply and the
reload; a change made just after a check waits up to one second more for the next one. Needs PostgreSQL's server binaries
(Debian's `postgresql`) for the team database part; it starts a throwaway cluster.

    python benchmarks/rollout_sync.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
for folder in ("serving", "deploy", "rollouts"):
    sys.path.insert(0, str(ROOT / "tests" / folder))

from postgres_cluster import Cluster  # noqa: E402
from rollout_helpers import FLOW  # noqa: E402
from serving_process import ServeProcess, write_workspace  # noqa: E402

from promptwise.cli import main as promptwise  # noqa: E402
from promptwise.devtools.fake_openai import FakeOpenAI  # noqa: E402

ENV = "PROMPTWISE_REGISTRY_URL"


def cli(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return promptwise(argv)


def two_versions(root: Path, base_url: str, extra: str = "") -> Path:
    root.mkdir(parents=True)
    write_workspace(root, base_url, FLOW)
    (root / ".git").mkdir()
    settings = root / "promptwise.yaml"
    settings.write_text(settings.read_text() + extra)
    for word in ("ALPHA", "BETA"):
        (root / "triage" / "chat.jinja2").write_text(f"user:\n{word} {{{{question}}}}\n", encoding="utf-8")
        assert cli(["package", str(root / "triage"), "--format", "json"]) == 0
    return root


def seconds_until(server: ServeProcess, version: str) -> float:
    started = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        while client.post(server.url + "/score", json={"question": "hi"}).headers["x-promptwise-version"] != version:
            if time.perf_counter() - started > 60:
                raise RuntimeError(f"{version} never served:\n{server.stderr()}")
    return time.perf_counter() - started


def declared(root: Path, rounds: int) -> list[float]:
    settings = root / "promptwise.yaml"
    base = settings.read_text()
    settings.write_text(base + "rollout:\n  triage: {weights: {v1: 100}}\n")
    server = ServeProcess(root / "triage")
    times = []
    try:
        for index in range(rounds):
            version = "v2" if index % 2 == 0 else "v1"
            time.sleep(1.1)  # the last check is over a second old, as for an edit made at any time
            settings.write_text(base + f"rollout:\n  triage: {{weights: {{{version}: 100}}}}\n")
            times.append(seconds_until(server, f"triage:{version}"))
    finally:
        server.stop()
    return times


def team(alice: Path, bob: Path, rounds: int) -> list[float]:
    assert cli(["rollout", "set", str(alice / "triage"), "triage:v1=100"]) == 0
    server = ServeProcess(bob / "triage")
    times = []
    try:
        for index in range(rounds):
            version = "triage:v2" if index % 2 == 0 else "triage:v1"
            time.sleep(1.1)
            assert cli(["rollout", "set", str(alice / "triage"), f"{version}=100"]) == 0
            times.append(seconds_until(server, version))
    finally:
        server.stop()
    return times


def show(label: str, times: list[float]) -> None:
    print(f"{label}: median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s "
          f"({len(times)} changes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="promptwise-rollout-sync-"))
    cluster = None
    try:
        with FakeOpenAI() as fake:
            show("declaration edit -> served", declared(two_versions(folder / "solo", fake.base_url), args.rounds))
            cluster = Cluster().start()
            os.environ[ENV] = cluster.create_database()
            alice = two_versions(folder / "alice", fake.base_url, f"registry: {{url: '${{env:{ENV}}}'}}\n")
            bob = folder / "bob"
            shutil.copytree(alice, bob, ignore=shutil.ignore_patterns(".promptwise"))
            show("team database rollout set (other workspace) -> served", team(alice, bob, args.rounds))
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
