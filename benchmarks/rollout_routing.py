"""Cost of routing one request under a rollout (serving/routing.py Router.pick): weighted random,
sticky by a header (sha256 of the key) and with a shadow share, against the single-flow router.

    python benchmarks/rollout_routing.py [--calls N]
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

from promptwise.serving.routing import Router, Table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args()
    flows = [SimpleNamespace(name=f"v{i}", content_hash=f"sha256:{i:064x}") for i in range(3)]
    entries = (("triage:v1", flows[0], 90), ("triage:v2", flows[1], 10))
    routers = {
        "single flow": (Router([flows[0]]), {}),
        "weighted 90/10": (Router([], Table(entries)), {}),
        "sticky x-user-id": (Router([], Table(entries, sticky_key="x-user-id")), {"x-user-id": "user-12345"}),
        "weighted + 10% shadow": (Router([], Table(entries, shadow=("triage:v3", flows[2], 10.0))), {}),
    }
    for label, (router, headers) in routers.items():
        started = time.perf_counter()
        for _ in range(args.calls):
            router.pick(headers, "local")
        elapsed = time.perf_counter() - started
        print(f"{label:<24} {elapsed / args.calls * 1e6:6.2f} µs per request ({args.calls} calls)")


if __name__ == "__main__":
    main()
