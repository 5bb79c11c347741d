"""The model endpoint that `peer_compare.py` points every tool at, in a process of its own.

It is the project's fake OpenAI-compatible server (`promptwise.devtools.fake_openai`, the one
`batch_speed.py` starts) with the rules `peer_compare.py` writes (regex on the last user message
-> reply), a fixed latency per call, and every request recorded. A second port, the control
port, answers one word per connection, so the harness can tell what each tool really sent:

- `reset`: forget the counters and the recorded requests;
- `summary`: JSON of the calls since the last reset: how many, how many answered, the peak in
  flight (the concurrency the tool really reached), the request shapes (model, max_tokens,
  temperature, stream and the other body keys each request set, with counts), one digest over
  all the requests' messages (equal digests: the tools sent byte-identical prompts), and the
  first request's messages.

    python benchmarks/peer_endpoint.py --rules RULES.json --latency-ms 50
    # prints "BASE_URL CONTROL_PORT" on its first line, then serves until killed
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import socket
import sys
from collections import Counter
from pathlib import Path

from promptwise.devtools.fake_openai import FakeOpenAI

SHAPE_KEYS = ("model", "max_tokens", "max_completion_tokens", "temperature", "stream")


def messages_of(body: dict) -> list:
    return [(m.get("role"), m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)]


def summary(server: FakeOpenAI) -> dict:
    bodies = [request.body if isinstance(request.body, dict) else {} for request in list(server.requests)]
    shapes: Counter = Counter()
    for body in bodies:
        shape = {key: body.get(key) for key in SHAPE_KEYS}
        shape["other_keys"] = sorted(set(body) - set(SHAPE_KEYS) - {"messages"})
        shapes[json.dumps(shape, sort_keys=True)] += 1
    # Order-free: the tools send the rows in different orders.
    each = sorted(hashlib.sha1(json.dumps(messages_of(body), ensure_ascii=False).encode()).hexdigest()
                  for body in bodies)
    stats = server.stats.as_dict()
    return {"requests": stats["requests"], "completed": stats["completed"], "faulted": stats["faulted"],
            "peak_in_flight": stats["peak_in_flight"],
            "shapes": [{**json.loads(key), "calls": count} for key, count in sorted(shapes.items())],
            "prompts_digest": hashlib.sha1("".join(each).encode()).hexdigest()[:12] if each else None,
            "first_messages": messages_of(bodies[0]) if bodies else None}


async def serve(rules: list[tuple], latency_ms: float) -> None:
    server = FakeOpenAI(rules, latency=latency_ms / 1000, record=True)
    await server.start_async()

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        word = (await reader.readline()).decode().strip()
        if word == "reset":
            server.reset()
            writer.write(b"{}")
        else:
            writer.write(json.dumps(summary(server)).encode())
        await writer.drain()
        writer.close()

    control_server = await asyncio.start_server(control, "127.0.0.1", 0)
    print(server.base_url, control_server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()


def ask(port: int, word: str) -> dict:
    """Send `reset` or `summary` to the control port of a running endpoint."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(word.encode() + b"\n")
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return json.loads(b"".join(chunks))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=Path, required=True, help="JSON list of [pattern, reply] pairs")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    rules = [tuple(pair) for pair in json.loads(args.rules.read_text(encoding="utf-8"))]
    try:
        asyncio.run(serve(rules, args.latency_ms))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
