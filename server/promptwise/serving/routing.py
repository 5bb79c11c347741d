"""The one place that picks which flow version answers a request.

A server hosts one flow, or a flow's rollout (deploy/rollout.py): several packaged versions with
weights, optionally sticky by a request header (the same key always lands on the same version:
the key's hash picks the bucket) and a shadow version that a share of requests also runs (its
answer is recorded, never returned). Routes only ever ask the router; a table is immutable, and
a rollout change swaps in a new one, so a request keeps the version it started on.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from promptwise.documents.version_label import version_label
from promptwise.serving.flow import ServedFlow


@dataclass
class Choice:
    flow: ServedFlow
    version: str  # what the response's x-promptwise-version header and the trace name
    shadow: tuple[tuple[str, ServedFlow], ...] = ()  # (version, flow) that also run the request; answers not returned


def label(version: str) -> str:
    """The version as a header / metric label: a content hash shortened, a registry id as is
    (documents/version_label.py: the spelling monitor and --version use too)."""
    return version_label(version) or version


@dataclass(frozen=True)
class Table:
    """One rollout state with its loaded flows."""

    entries: tuple[tuple[str, ServedFlow, int], ...]  # (version, flow, weight percent)
    sticky_key: str | None = None
    shadow: tuple[str, ServedFlow, float] | None = None  # (version, flow, share percent)
    cumulative: tuple[int, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        total, bounds = 0, []
        for _, _, weight in self.entries:
            total += weight
            bounds.append(total)
        object.__setattr__(self, "cumulative", tuple(bounds))


def bucket(key: str) -> float:
    """A stable point in [0, 100) for a key (sha256: the same in every worker and every restart)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2**64 * 100


class Router:
    def __init__(self, flows: list[ServedFlow], table: Table | None = None) -> None:
        if not flows and table is None:
            raise ValueError("a router needs at least one flow")
        self.flows = flows
        self.table = table

    @property
    def primary(self) -> ServedFlow:
        return self.table.entries[0][1] if self.table is not None else self.flows[0]

    @property
    def primary_version(self) -> str:
        return self.table.entries[0][0] if self.table is not None else self.flows[0].content_hash

    def swap(self, table: Table) -> None:
        self.table = table  # one assignment: a request sees the old table or the new one

    def pick(self, headers, consumer: str) -> Choice:  # noqa: ARG002 (consumer: per-consumer rules later)
        table = self.table
        if table is None:
            flow = self.primary
            return Choice(flow, flow.content_hash)
        key = headers.get(table.sticky_key) if table.sticky_key else None
        point = bucket(key) if key else random.random() * 100
        version, flow = table.entries[-1][0], table.entries[-1][1]
        for (name, candidate, weight), bound in zip(table.entries, table.cumulative):
            if weight and point < bound:
                version, flow = name, candidate
                break
        shadow: tuple = ()
        if table.shadow is not None and table.shadow[0] != version and random.random() * 100 < table.shadow[2]:
            shadow = ((table.shadow[0], table.shadow[1]),)
        return Choice(flow, version, shadow)
