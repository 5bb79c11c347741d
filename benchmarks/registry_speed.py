"""What the registry's backends cost: the workspace's SQLite file (or a shared folder, the same
code) against a PostgreSQL team database (deploy/registry_postgres.py) on this machine.

For each backend: packaging N versions one after another (the registry's own work: snapshot,
hash check, numbering, the version row and, for the database, its files), reading (`list`,
`get`), `materialize` of a version (the database: unpacked into an empty cache, then again
from the cache), and P processes packaging distinct contents at once (numbers stay unique).
Governance (`check`, the secret scan) is the same for both and left out.

Needs PostgreSQL's server binaries (Debian's `postgresql`); it starts a throwaway cluster.

    python benchmarks/registry_speed.py [--versions 20] [--processes 4]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT / "tests" / "deploy"))

from postgres_cluster import Cluster  # noqa: E402

from promptwise.config import load_workspace  # noqa: E402
from promptwise.deploy.registry import Registry  # noqa: E402

ENV = "PROMPTWISE_REGISTRY_URL"


def make_workspace(folder: Path, setting: str) -> Path:
    shutil.copytree(ROOT / "flows" / "log-triage", folder / "log-triage",
                    ignore=shutil.ignore_patterns(".promptwise", "__pycache__"))
    (folder / "promptwise.yaml").write_text((ROOT / "flows" / "promptwise.yaml").read_text() + setting)
    (folder / ".git").mkdir()
    return folder


def edit(workspace: Path, marker: str) -> None:
    """A behaviour change: the classify prompt gets one more line."""
    template = next((workspace / "log-triage").glob("*.jinja2"))
    template.write_text(template.read_text() + f"\n{{# {marker} #}}\n")


def package_alone(workspace: Path, count: int) -> list[float]:
    times = []
    settings = load_workspace(workspace)
    with Registry.for_workspace(settings) as registry:
        for index in range(count):
            edit(workspace, f"solo {index}")
            started = time.perf_counter()
            registry.package(workspace / "log-triage", settings, who="benchmark")
            times.append((time.perf_counter() - started) * 1000)
    return times


_CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {server!r})
from promptwise.config import load_workspace
from promptwise.deploy.registry import Registry
workspace, count, tag = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
settings = load_workspace(workspace)
template = next((workspace / "log-triage").glob("*.jinja2"))
with Registry.for_workspace(settings) as registry:
    for index in range(count):
        template.write_text(template.read_text() + "\\n{{# " + tag + " " + str(index) + " #}}\\n")
        registry.package(workspace / "log-triage", settings, who=tag)
"""


def package_at_once(workspace: Path, processes: int, each: int, env: dict) -> tuple[float, int]:
    """P copies of the workspace (P machines) packaging `each` distinct contents at once."""
    copies = []
    for index in range(processes):
        copy = workspace.parent / f"{workspace.name}-machine{index}"
        shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns(".promptwise"))
        copies.append(copy)
    script = _CHILD.format(server=str(ROOT / "server"))
    started = time.perf_counter()
    children = [subprocess.Popen([sys.executable, "-c", script, str(copy), str(each), f"machine{index}"], env=env)
                for index, copy in enumerate(copies)]
    for child in children:
        if child.wait(timeout=600) != 0:
            raise SystemExit("a packaging process failed")
    return (time.perf_counter() - started) * 1000, processes * each


def measure(name: str, workspace: Path, args, env: dict) -> dict:
    os.environ.update(env)
    solo = package_alone(workspace, args.versions)
    settings = load_workspace(workspace)
    with Registry.for_workspace(settings, readonly=True) as registry:
        started = time.perf_counter()
        versions = registry.list()
        listed = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        for version in versions:
            registry.get(version.id)
        got = (time.perf_counter() - started) * 1000 / len(versions)
        middle = versions[len(versions) // 2].id
        cache = workspace / ".promptwise" / "registry-cache"
        if cache.exists():
            shutil.rmtree(cache)
        started = time.perf_counter()
        registry.materialize(middle)
        cold = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        registry.materialize(middle)
        warm = (time.perf_counter() - started) * 1000
    wall, made = package_at_once(workspace, args.processes, args.versions // args.processes or 1, env)
    with Registry.for_workspace(load_workspace(workspace), readonly=True) as registry:
        numbers = sorted(v.number for v in registry.list())
    assert numbers == list(range(1, len(numbers) + 1)), "version numbers are not unique and contiguous"
    return {"backend": name, "package_median_ms": statistics.median(solo), "package_max_ms": max(solo),
            "list_ms": listed, "get_ms": got, "materialize_cold_ms": cold, "materialize_warm_ms": warm,
            "concurrent": f"{made} versions by {args.processes} processes in {wall:.0f} ms wall (each process's "
                          f"start-up included), numbers 1..{numbers[-1]} unique and contiguous"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="promptwise-registry-bench-"))
    cluster = Cluster().start()
    try:
        env = {**os.environ, "PROMPTWISE_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-benchmark"}
        shared = f"registry: {{path: '{scratch / 'shared-folder'}'}}\n"  # the machines' copies share it
        rows = [measure("SQLite in a shared folder (the workspace's own file is the same code)",
                        make_workspace(scratch / "sqlite", shared), args, env)]
        url = cluster.create_database()
        setting = f"registry: {{url: '${{env:{ENV}}}'}}\n"
        rows.append(measure("PostgreSQL team database", make_workspace(scratch / "teamdb", setting), args,
                            {**env, ENV: url}))
    finally:
        cluster.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"registry backends, log-triage ({args.versions} versions packaged one by one; "
          f"{args.processes} processes at once)")
    for row in rows:
        print(f"\n{row['backend']}")
        print(f"  package: median {row['package_median_ms']:.1f} ms, max {row['package_max_ms']:.1f} ms")
        print(f"  list {row['list_ms']:.2f} ms, get {row['get_ms']:.2f} ms per version")
        print(f"  materialize: cold {row['materialize_cold_ms']:.1f} ms, warm {row['materialize_warm_ms']:.1f} ms")
        print(f"  at once: {row['concurrent']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
