"""Serving a flow's rollout: each version loaded from its registry snapshot, the state file
watched, and a changed state swapped into the router without a restart.

The request path only compares the state file's mtime, at most once a second; a change loads
the new versions in a background task (flows already open are reused: versions are immutable)
and then swaps the router's table in one assignment. A state that cannot be served (a version
missing, weights wrong) is logged and the previous table keeps serving.

With a team database (`registry.url`) the state lives there (deploy/rollout.py state_for):
the once-a-second check is then one query, `max(seq)` of the flow's rows, run in a thread off the
event loop, so a `rollout set` on any machine of the team reaches this server.

The same check also stats the files that declare rollouts (promptwise.yaml, deploy.yaml:
deploy/rollout_file.py). When their bytes changed, the declaration is applied in a thread with
`rollout apply`'s checks and rule (an unchanged declaration never undoes a later rollback); a bad
edit is one logged error naming the file and line, and the current weights keep serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from pathlib import Path

from promptwise.serving.flow import ServedFlow
from promptwise.serving.routing import Router, Table

log = logging.getLogger("promptwise.serve")
CHECK_SECONDS = 1.0
# Shadow runs are the operator's experiment, not the consumer's request: their tokens and cost are
# metered (metering.sqlite, /metrics, the shadow's trace) under this pseudo-consumer, which no
# `serve.keys` consumer can be named (names are letters, digits and `_.@-`), and never count
# against the consumer's rate limit. The shadowed consumer stays on the trace (SHADOW_OF_CONSUMER).
SHADOW_CONSUMER = "(shadow)"


def meter_shadow(serving, version: str, outcome, span, failed: bool) -> None:
    """Record a finished shadow run's usage: in the meter and the token / cost metrics under
    SHADOW_CONSUMER, and on its root span (the trace store sums the model calls itself)."""
    from promptwise.serving.routing import label
    from promptwise.tracing import attributes as a

    prompt = completion = 0
    cost: float | None = None
    for node in (outcome.nodes if outcome is not None else ()):
        prompt += node.prompt_tokens or 0
        completion += node.completion_tokens or 0
        if node.cost is not None:
            cost = (cost or 0.0) + node.cost
    if serving.meter is not None:
        serving.meter.record(SHADOW_CONSUMER, version, prompt_tokens=prompt, completion_tokens=completion,
                             cost=cost, error=failed)
    shown = label(version)
    if prompt:
        serving.metrics.tokens.labels(shown, SHADOW_CONSUMER, "input").inc(prompt)
    if completion:
        serving.metrics.tokens.labels(shown, SHADOW_CONSUMER, "output").inc(completion)
    if cost:
        serving.metrics.cost.labels(shown, SHADOW_CONSUMER).inc(cost)
    if span is not None:
        if prompt or completion:
            span.set_attribute(a.GEN_AI_USAGE_INPUT_TOKENS, prompt)
            span.set_attribute(a.GEN_AI_USAGE_OUTPUT_TOKENS, completion)
        if cost is not None:
            span.set_attribute(a.COST_USD, cost)


class DeclarationFiles:
    """The files that declare rollouts, watched by their stat; `changed()` is true when their
    bytes differ from the last time (a save without a change, or a touch, is no change)."""

    def __init__(self, files: tuple[Path, ...]) -> None:
        self.files = files
        self.stats = self._stats()
        self.digest = self._digest()

    def _stats(self) -> tuple:
        stats = []
        for file in self.files:
            try:
                stat = file.stat()
            except OSError:
                stats.append(None)
            else:
                stats.append((stat.st_ino, stat.st_mtime_ns, stat.st_size))
        return tuple(stats)

    def _digest(self) -> str:
        digest = hashlib.sha256()
        for file in self.files:
            try:
                digest.update(file.read_bytes())
            except OSError:
                digest.update(b"\0missing")
            digest.update(b"\0")
        return digest.hexdigest()

    def changed(self) -> bool:
        stats = self._stats()
        if stats == self.stats:
            return False
        self.stats = stats
        digest = self._digest()
        if digest == self.digest:
            return False
        self.digest = digest
        return True


class RolloutWatcher:
    def __init__(self, state_file: Path, registry_root: Path, timeout_seconds: float,
                 flow: Path | None = None) -> None:
        self.state_file = state_file
        self.registry_root = registry_root
        self.flow = flow  # the served flow: its workspace's settings name the registry (a team database's URL)
        self.timeout_seconds = timeout_seconds
        self.flows: dict[str, ServedFlow] = {}  # version id -> open flow (kept until shutdown)
        self.mtime: tuple[int, int] | None = None
        self.checked = 0.0
        self.loading: asyncio.Task | None = None
        self.router: Router | None = None
        self.declaration: DeclarationFiles | None = None
        self.where = state_file  # the state file, or the team database's rows (RolloutStates)
        self.failing = False  # the team database's last check failed (logged once until it answers)
        if flow is not None:  # what the files say now was applied by `promptwise serve` before it started
            from promptwise.config import load_workspace
            from promptwise.deploy.rollout import flow_name, state_for
            from promptwise.deploy.rollout_file import watched_files

            workspace = load_workspace(flow)
            self.declaration = DeclarationFiles(watched_files(workspace.root))
            self.where = state_for(workspace, flow_name(flow))
        self.team = not isinstance(self.where, Path)

    def _mtime(self) -> tuple[int, int] | int | None:
        """The state file's identity: each atomic write is a new inode, even within one mtime tick.
        In a team database: the number of the flow's newest row (a query: call it off the loop)."""
        if self.team:
            return self.where.token()
        try:
            stat = self.state_file.stat()
        except OSError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    async def load(self) -> Table:
        """The current state as a table (DeployError / FlowError when it cannot serve)."""
        from promptwise.deploy import rollout
        from promptwise.deploy.errors import DeployError
        from promptwise.deploy.registry import Registry

        def read() -> tuple:
            return self._mtime(), rollout.read(self.where)["current"]

        mtime, state = await asyncio.to_thread(read) if self.team else read()
        if state is None:
            raise DeployError(f"{self.where}: no current rollout")
        rollout.check_state(state, str(self.where))
        wanted = list(state["weights"])
        shadow = state.get("shadow")
        if shadow:
            wanted.append(shadow["version"])
        if self.flow is not None:  # settings read again: a team database's URL is never passed to workers
            from promptwise.config import load_workspace

            registry = Registry.for_workspace(load_workspace(self.flow), readonly=True)
        else:
            registry = Registry(self.registry_root, readonly=True)
        with registry:
            paths = {v: registry.materialize(v) for v in wanted if v not in self.flows}
        for version, path in paths.items():
            flow = ServedFlow(path, timeout_seconds=self.timeout_seconds)
            await flow.open()
            self.flows[version] = flow
        entries = tuple((v, self.flows[v], w) for v, w in state["weights"].items())
        # The heaviest version first: it is the "primary" (openapi, /ready) of the rollout.
        entries = tuple(sorted(entries, key=lambda e: -e[2]))
        table = Table(entries, state.get("sticky_key"),
                      (shadow["version"], self.flows[shadow["version"]], float(shadow.get("share", 100)))
                      if shadow else None)
        self.mtime = mtime
        return table

    def poll(self) -> None:
        """On the request path: at most one stat a second; a change reloads in the background."""
        now = time.monotonic()
        if now - self.checked < CHECK_SECONDS or (self.loading is not None and not self.loading.done()):
            return
        self.checked = now
        if self.declaration is not None and self.declaration.changed():
            self.loading = asyncio.get_running_loop().create_task(self._apply_declaration())
        elif self.team:
            self.loading = asyncio.get_running_loop().create_task(self._check_team())
        elif self._mtime() != self.mtime:
            self.loading = asyncio.get_running_loop().create_task(self._reload())

    async def _changed(self) -> bool:
        return (await asyncio.to_thread(self._mtime) if self.team else self._mtime()) != self.mtime

    async def _check_team(self) -> None:
        """The team database asked in a thread; a database that does not answer is logged once
        (until it answers again) and the current weights keep serving."""
        try:
            changed = await self._changed()
        except Exception as error:  # noqa: BLE001 - the server keeps serving what it has
            if not self.failing:
                log.error("promptwise serve: cannot check the rollout of %s (still serving %s): %s", self.where.name,
                          self._serving(), error)  # the error names the setting and the database
            self.failing = True
            return
        self.failing = False
        if changed:
            await self._reload()

    async def _apply_declaration(self) -> None:
        """An edited declaration applied off the event loop (it reads the settings and the
        registry); then the state it wrote (or another worker wrote) is loaded."""
        from promptwise.config import ConfigError
        from promptwise.deploy.errors import DeployError
        from promptwise.deploy.rollout_file import apply_edited

        try:
            applied = await asyncio.to_thread(apply_edited, self.flow)
        except Exception as error:  # noqa: BLE001 - a bad edit never stops the server
            said = str(error) if isinstance(error, (DeployError, ConfigError)) else f"{type(error).__name__}: {error}"
            log.error("promptwise serve: the edited rollout declaration was not applied (still serving %s): %s",
                      self._serving(), said)
            return
        if applied is not None:
            log.info("promptwise serve: the rollout declared in %s was applied", applied[0].source)
        else:
            log.info("promptwise serve: the rollout declaration is as last applied (or gone); still serving %s",
                     self._serving())
        if self.team:
            await self._check_team()
        elif self._mtime() != self.mtime:
            await self._reload()

    def _serving(self) -> str:
        table = self.router.table if self.router is not None else None
        if table is None:
            return "the flow's files"
        return ", ".join(f"{v}={w}" for v, _, w in table.entries)

    async def _reload(self) -> None:
        try:
            table = await self.load()
        except Exception as error:  # noqa: BLE001 - the previous table keeps serving
            try:  # do not retry the same broken state every second
                self.mtime = await asyncio.to_thread(self._mtime) if self.team else self._mtime()
            except Exception:  # noqa: BLE001 - the team database went away: the next check says so
                pass
            log.error("promptwise serve: the rollout %s was not applied: %s", self.where, error)
            return
        if self.router is not None:
            self.router.swap(table)
        log.info("promptwise serve: rollout now %s", ", ".join(f"{v}={w}" for v, _, w in table.entries))

    async def close(self) -> None:
        if self.loading is not None and not self.loading.done():
            self.loading.cancel()
        for flow in self.flows.values():
            await flow.close()
        from promptwise.deploy.rollout import close

        close(self.where)
