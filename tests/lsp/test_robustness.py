"""The server's stdout carries the protocol and nothing else, and garbage documents (binary,
huge, invalid YAML, deep nesting, broken templates and code) never take it down.

This test speaks raw JSON-RPC over the server's pipes, so that every byte written to stdout
is checked against LSP's framing (a stray print would break the framing), and reads the
server's log afterwards: no feature may have failed on the way.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from lsp_support import TIMEOUT, copy_workspace

METHODS_AT_POSITION = (
    "textDocument/hover",
    "textDocument/definition",
    "textDocument/completion",
    "textDocument/prepareRename",
)


def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _parse_frames(data: bytes) -> list[dict]:
    """Split stdout into LSP messages; fails on any byte outside a well-formed frame."""
    messages = []
    while data:
        header, separator, rest = data.partition(b"\r\n\r\n")
        assert separator, f"stdout has bytes outside a frame: {data[:80]!r}"
        length = None
        for line in header.split(b"\r\n"):
            name, _, value = line.partition(b":")
            assert name.strip().lower() in (b"content-length", b"content-type"), f"not an LSP header: {line!r}"
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        assert length is not None, f"frame without Content-Length: {header!r}"
        body, data = rest[:length], rest[length:]
        assert len(body) == length, "truncated frame"
        messages.append(json.loads(body))
    return messages


def _garbage_documents(root: Path) -> dict[Path, str]:
    deep = "a:\n" + "".join(" " * (level + 1) + "b:\n" for level in range(400))
    huge = "inputs:\n" + "".join(f"  input_{i}:\n    type: string\n    default: {'x' * 40}\n" for i in range(60000))
    return {
        root / "binary" / "flow.dag.yaml": "\x00\x01\x02\ufffd\x7fELF\x00" * 200,
        root / "huge" / "flow.dag.yaml": huge,
        root / "invalid" / "flow.dag.yaml": "nodes: [\n  - {name: x\n  : : :\n\t\ttabs: [}\n${inputs.\n",
        root / "deep" / "flow.dag.yaml": deep,
        root / "brackets" / "flow.dag.yaml": "[" * 5000 + "\n",
        root / "empty" / "flow.dag.yaml": "",
        root / "unicode" / "flow.dag.yaml": "inputs:\n  😀:\n    type: string\nnodes:\n- name: 𝔘\n  inputs: {x: ${inputs.😀}}\n",
        root / "broken.jinja2": "system:\n{% for x in %}\n{{ unclosed\n",
        root / "broken.prompty": "---\nmodel: [\n---\nsystem:\n{{ x }\n",
        root / "broken.py": "from promptflow.core import tool\n@tool\ndef f(:\n  return\n",
    }


async def _read_message(stdout: asyncio.StreamReader, captured: bytearray) -> dict:
    header = await stdout.readuntil(b"\r\n\r\n")
    captured += header
    length = next(
        int(line.split(b":", 1)[1]) for line in header.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    body = await stdout.readexactly(length)
    captured += body
    return json.loads(body)


async def test_stdout_is_protocol_only_and_garbage_does_not_crash(tmp_path: Path):
    root = copy_workspace("triage", tmp_path)
    documents = _garbage_documents(root)
    log = tmp_path / "server.log"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "promptwise", "lsp",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=log.open("wb"),
    )  # fmt: skip
    captured = bytearray()
    responses: dict[int, dict] = {}

    async def request(message_id: int, method: str, params: dict) -> dict:
        process.stdin.write(_frame({"jsonrpc": "2.0", "id": message_id, "method": method, "params": params}))
        await process.stdin.drain()
        while message_id not in responses:
            message = await _read_message(process.stdout, captured)
            if "id" in message and "method" not in message:
                responses[message["id"]] = message
            elif "id" in message:  # a request from the server (e.g. registerCapability): answer it
                process.stdin.write(_frame({"jsonrpc": "2.0", "id": message["id"], "result": None}))
        return responses[message_id]

    def notify(method: str, params: dict) -> None:
        process.stdin.write(_frame({"jsonrpc": "2.0", "method": method, "params": params}))

    try:
        await asyncio.wait_for(
            request(1, "initialize", {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}), TIMEOUT
        )
        notify("initialized", {})
        for number, (path, text) in enumerate(documents.items()):
            path.parent.mkdir(parents=True, exist_ok=True)
            notify(
                "textDocument/didOpen",
                {"textDocument": {"uri": path.as_uri(), "languageId": "yaml", "version": 1, "text": text}},
            )
            notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": path.as_uri(), "version": 2},
                    "contentChanges": [{"text": text[: len(text) // 2]}],
                },
            )
        message_id = 10
        for path in documents:
            document = {"uri": path.as_uri()}
            for line, character in ((0, 0), (1, 3), (3, 7), (10**6, 10**6)):
                for method in METHODS_AT_POSITION:
                    message_id += 1
                    params = {"textDocument": document, "position": {"line": line, "character": character}}
                    response = await asyncio.wait_for(request(message_id, method, params), TIMEOUT)
                    assert "error" not in response, (path.name, method, response)
            for method, params in (
                ("textDocument/documentSymbol", {"textDocument": document}),
                ("textDocument/diagnostic", {"textDocument": document}),
                (
                    "textDocument/codeAction",
                    {
                        "textDocument": document,
                        "range": {"start": {"line": 0, "character": 0}, "end": {"line": 99, "character": 0}},
                        "context": {"diagnostics": []},
                    },
                ),
                (
                    "textDocument/references",
                    {"textDocument": document, "position": {"line": 0, "character": 1}, "context": {"includeDeclaration": True}},
                ),
            ):
                message_id += 1
                response = await asyncio.wait_for(request(message_id, method, params), TIMEOUT)
                assert "error" not in response, (path.name, method, response)
        # still answering real questions after all that
        flow = root / "flow.dag.yaml"
        notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": flow.as_uri(), "languageId": "yaml", "version": 1, "text": flow.read_text()}},
        )
        hover = await asyncio.wait_for(
            request(9000, "textDocument/hover", {"textDocument": {"uri": flow.as_uri()}, "position": {"line": 24, "character": 10}}),
            TIMEOUT,
        )
        assert hover["result"]["contents"]["value"].startswith("**classify** — llm node")
        await asyncio.wait_for(request(9001, "shutdown", None), TIMEOUT)
        notify("exit", None)
        await process.stdin.drain()
        captured += await asyncio.wait_for(process.stdout.read(), TIMEOUT)
        assert await asyncio.wait_for(process.wait(), TIMEOUT) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    messages = _parse_frames(bytes(captured))
    assert all(message.get("jsonrpc") == "2.0" for message in messages)
    published = [m for m in messages if m.get("method") == "textDocument/publishDiagnostics"]
    huge = next(p for p in published if p["params"]["uri"].endswith("huge/flow.dag.yaml"))
    assert huge["params"]["diagnostics"][0]["code"] == "PW100"  # too large, said clearly
    errors = [line for line in log.read_text(errors="replace").splitlines() if " ERROR " in line]
    assert errors == []  # no feature failed on the way (a failure would be logged, not raised)
