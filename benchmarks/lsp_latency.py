"""Time from `didChange` to `publishDiagnostics` in `promptwise lsp`, on a generated 200-node
flow, plus a typing burst and the latency of hover/completion/definition on that flow.

Prints figures; asserts nothing. Run: .venv/bin/python benchmarks/lsp_latency.py [--edits N]

The server runs as a subprocess on stdio, exactly as an editor starts it; this script is a
minimal JSON-RPC client so that the timing includes the protocol but no test framework.
Aim (issue 2): under 30 ms per edit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from generated_flow import NODE_COUNT, chain_nodes, write_prompt  # beside this script

LOG_LEVEL = "WARNING"  # DEBUG shows the analysis time of every edit on stderr


def generate_flow(folder: Path, count: int = NODE_COUNT) -> Path:
    """Python and llm nodes in a chain: each reads a flow input and the node before it."""
    (folder / "tool.py").write_text(
        "from promptflow.core import tool\n\n\n@tool\n"
        "def step(text: str, previous: str = '') -> str:\n    return text + previous\n"
    )
    write_prompt(folder)
    lines = [
        "inputs:",
        "  question:",
        "    type: string",
        "    default: What does my policy cover?",
        "  customer:",
        "    type: string",
        "    default: Ada",
        "outputs:",
        "  answer:",
        "    type: string",
        f"    reference: ${{n{count - 1}.output}}",
        "nodes:",
    ]
    lines += chain_nodes(count, flow_style_llm_source=False)
    path = folder / "flow.dag.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


class RawClient:
    """Just enough JSON-RPC over a subprocess's pipes."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.next_id = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.published: asyncio.Queue = asyncio.Queue()
        self.publish_count = 0
        self.reader = asyncio.ensure_future(self._read())

    def _send(self, message: dict) -> None:
        body = json.dumps(message).encode("utf-8")
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(self, method: str, params):
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        self._send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return await future

    async def _read(self) -> None:
        stdout = self.process.stdout
        while True:
            header = await stdout.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in header.split(b"\r\n") if line.lower().startswith(b"content-length"))
            message = json.loads(await stdout.readexactly(length))
            received = time.perf_counter()
            if "method" in message and "id" in message:
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            elif message.get("method") == "textDocument/publishDiagnostics":
                self.publish_count += 1
                await self.published.put((received, message["params"]))
            elif "id" in message and message["id"] in self.pending:
                self.pending.pop(message["id"]).set_result(message.get("result"))

    async def publish_for(self, uri: str, version: int) -> tuple[float, dict]:
        while True:
            received, params = await self.published.get()
            if params["uri"] == uri and params.get("version") == version:
                return received, params


def describe(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return (
        f"median {statistics.median(ordered) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms   "
        f"max {ordered[-1] * 1000:6.1f} ms   (n={len(ordered)})"
    )


async def main(edits: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = generate_flow(Path(folder))
        text = path.read_text()
        uri = path.as_uri()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "promptwise", "lsp", "--log-level", LOG_LEVEL,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        client = RawClient(process)
        try:
            started = time.perf_counter()
            await client.request("initialize", {"processId": None, "rootUri": Path(folder).as_uri(), "capabilities": {}})
            client.notify("initialized", {})
            print(f"flow: {NODE_COUNT} nodes, {len(text.splitlines())} lines, {len(text) / 1024:.0f} KiB")
            print(f"server start to initialized: {(time.perf_counter() - started) * 1000:.0f} ms")

            sent = time.perf_counter()
            client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}})
            received, params = await client.publish_for(uri, 1)
            print(f"didOpen -> publishDiagnostics (cold): {(received - sent) * 1000:.1f} ms, {len(params['diagnostics'])} problems")

            version = 1
            samples: list[float] = []
            broken: list[float] = []
            line = text.splitlines().index("    default: What does my policy cover?")
            for edit in range(edits):
                version += 1
                # alternate: a harmless value edit, and an edit that breaks a reference
                if edit % 2:
                    change = {"range": {"start": {"line": line, "character": 13}, "end": {"line": line, "character": 17}}, "text": f"Wh{edit % 10}t"}
                else:
                    target = text.splitlines().index("    previous: ${n100.output}")
                    change = {"range": {"start": {"line": target, "character": 16}, "end": {"line": target, "character": 20}}, "text": "x100" if edit % 4 == 0 else "n100"}
                await asyncio.sleep(0.25)  # a pause between edits, longer than the debounce
                sent = time.perf_counter()
                client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})
                received, params = await client.publish_for(uri, version)
                (broken if params["diagnostics"] else samples).append(received - sent)
            print(f"didChange -> publishDiagnostics, clean result:  {describe(samples)}")
            if broken:
                print(f"didChange -> publishDiagnostics, with problems: {describe(broken)}")

            # a typing burst: 20 edits 20 ms apart; how soon after the last one is it shown?
            publishes_before = client.publish_count
            for _ in range(20):
                version += 1
                change = {"range": {"start": {"line": line, "character": 13}, "end": {"line": line, "character": 13}}, "text": "x"}
                client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})
                last = time.perf_counter()
                await asyncio.sleep(0.02)
            received, _ = await client.publish_for(uri, version)
            print(
                f"typing burst (20 edits, 20 ms apart): last edit -> its diagnostics {(received - last) * 1000:.1f} ms, "
                f"diagnostics published for the burst: {client.publish_count - publishes_before}"
            )

            # Hover and completion sent right after an edit, while its analysis runs: they
            # answer from the last parsed version instead of waiting for the analysis.
            for method, position in (
                ("textDocument/hover", {"line": text.splitlines().index("- name: n150"), "character": 9}),
                ("textDocument/completion", {"line": text.splitlines().index("    previous: ${n100.output}"), "character": 16}),
            ):
                timings = []
                for edit in range(10):
                    version += 1
                    change = {"range": {"start": {"line": line, "character": 13}, "end": {"line": line, "character": 13}}, "text": "y"}
                    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})
                    await asyncio.sleep(0.01)  # the analysis of the edit has started
                    sent = time.perf_counter()
                    await client.request(method, {"textDocument": {"uri": uri}, "position": position})
                    timings.append(time.perf_counter() - sent)
                    await client.publish_for(uri, version)  # the analysis done before the next edit
                    await asyncio.sleep(0.2)
                print(f"{method + ' during analysis':40s} {describe(timings)}")

            for method, position in (
                ("textDocument/hover", {"line": text.splitlines().index("- name: n150"), "character": 9}),
                ("textDocument/definition", {"line": text.splitlines().index("    previous: ${n100.output}"), "character": 18}),
                ("textDocument/completion", {"line": text.splitlines().index("    previous: ${n100.output}"), "character": 16}),
                ("textDocument/documentSymbol", None),
            ):
                timings = []
                for _ in range(20):
                    params = {"textDocument": {"uri": uri}}
                    if position is not None:
                        params["position"] = position
                    sent = time.perf_counter()
                    await client.request(method, params)
                    timings.append(time.perf_counter() - sent)
                print(f"{method:40s} {describe(timings)}")
            await client.request("shutdown", None)
            client.notify("exit", None)
            await asyncio.wait_for(process.wait(), 10)
        finally:
            client.reader.cancel()
            if process.returncode is None:
                process.kill()
                await process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=40, help="edits to time (default 40)")
    asyncio.run(main(parser.parse_args().edits))
