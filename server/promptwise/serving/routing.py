"""The one place that picks which flow version answers a request.

Today a server hosts one version, so the choice is trivial; rollouts (weighted canary, sticky
A/B by a request key, shadow copies) replace `pick` without touching the routes, which only
ever ask the router.
"""

from __future__ import annotations

from dataclasses import dataclass

from promptwise.serving.flow import ServedFlow


@dataclass
class Choice:
    flow: ServedFlow
    version: str  # what the response's x-promptwise-version header and the trace name
    shadow: tuple[ServedFlow, ...] = ()  # versions that also run the request; their answers are not returned


class Router:
    def __init__(self, flows: list[ServedFlow]) -> None:
        if not flows:
            raise ValueError("a router needs at least one flow")
        self.flows = flows

    @property
    def primary(self) -> ServedFlow:
        return self.flows[0]

    def pick(self, headers, consumer: str) -> Choice:  # noqa: ARG002 (rollouts will read both)
        flow = self.primary
        return Choice(flow, flow.content_hash)
