"""Costing speed: prints figures, asserts nothing.

1. Tokens per second of Promptwise's counting path (`count_text`, and `count_chat` on one
   message) against raw tiktoken (`Encoding.encode`) on the same text, per encoding.
   Aim: our path at >= 90% of raw.
2. Lens latency: time to recompute a document estimate after an edit to a ~20k-token prompt
   (a .prompty edited in the editor, and a flow whose template is edited), cache missed on
   purpose, as the language server would after each keystroke.

Run: .venv/bin/python benchmarks/costing_speed.py
"""

from __future__ import annotations

import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import tiktoken

from promptwise.config import load_workspace
from promptwise.costing.counting import count_chat, count_text
from promptwise.costing.estimate import estimate_document
from promptwise.costing.tokenizers import get_encoding, read_verified_bpe
from promptwise.documents.load import load_document

BPE_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}

PARAGRAPH = (
    "The claims team reviews every large loss before the weekly meeting. Notes from the adjuster, "
    "the first notice of loss and the reserve history are summarised, with amounts such as EUR 12,450.00 "
    "and dates like 2026-03-04. Les résumés sont relus; 摘要由团队审核。 Emoji stay rare 📄✅.\n"
)


def raw_tiktoken_encodings() -> dict[str, tiktoken.Encoding]:
    """tiktoken's own get_encoding, fed our published files through its documented cache."""
    cache = Path(tempfile.mkdtemp(prefix="tiktoken-cache-"))
    for name, url in BPE_URLS.items():
        (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(read_verified_bpe(name))
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    return {name: tiktoken.get_encoding(name) for name in BPE_URLS}


def best_rate(function, text: str, tokens: int, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function(text)
        times.append(time.perf_counter() - started)
    return tokens / min(times)


def throughput() -> None:
    raw = raw_tiktoken_encodings()
    text = PARAGRAPH * 4000  # ~0.8 MB of mixed text
    print("1. counting throughput (best of 7, one ~0.8 MB text)")
    for name, encoding in raw.items():
        get_encoding(name)  # build once, outside the timing
        tokens = len(encoding.encode(text, disallowed_special=()))
        assert count_text(text, name) == tokens  # same count, or the comparison means nothing
        raw_rate = best_rate(lambda t: encoding.encode(t, disallowed_special=()), text, tokens)
        ours_rate = best_rate(lambda t: count_text(t, name), text, tokens)
        chat_rate = best_rate(lambda t: count_chat([{"role": "user", "content": t}], name), text, tokens)
        print(f"   {name}: {tokens:,} tokens; raw tiktoken {raw_rate / 1e6:.2f} M tok/s; "
              f"count_text {ours_rate / 1e6:.2f} M tok/s ({ours_rate / raw_rate:.0%} of raw); "
              f"count_chat {chat_rate / 1e6:.2f} M tok/s ({chat_rate / raw_rate:.0%} of raw)")


PROMPTY_HEAD = """---
name: Long context
model:
  api: chat
  configuration: {type: openai, model: gpt-4o-mini}
  parameters: {max_tokens: 500}
inputs:
  question: {type: string}
sample:
  question: What changed in the reserve?
---
system:
"""


def lens_latency() -> None:
    print("2. lens latency after an edit to a ~20k-token prompt (median and p95 of 30 edits)")
    folder = Path(tempfile.mkdtemp(prefix="costing-bench-"))
    (folder / ".git").mkdir()
    body = PARAGRAPH * 267  # ~20k tokens
    tokens = count_text(body, "o200k_base")

    prompty = folder / "long.prompty"
    text = PROMPTY_HEAD + body + "\nuser:\n{{ question }}\n"
    prompty.write_text(text, encoding="utf-8")
    workspace = load_workspace(prompty)
    estimate_document(load_document(prompty, text), workspace)  # warm: encodings, catalog
    times = []
    for edit in range(30):
        edited = text.replace("user:\n", f"Edit number {edit}.\nuser:\n")
        started = time.perf_counter()
        result = estimate_document(load_document(prompty, edited), workspace)
        times.append(time.perf_counter() - started)
    assert result.items[0].estimate.input_tokens > tokens
    print(f"   .prompty ({tokens:,} tokens), parse + render + count: median {statistics.median(times) * 1000:.1f} ms, "
          f"p95 {sorted(times)[int(len(times) * 0.95) - 1] * 1000:.1f} ms")

    (folder / "long.jinja2").write_text("system:\n" + body + "user:\n{{ question }}\n", encoding="utf-8")
    flow = folder / "flow.dag.yaml"
    flow.write_text(
        "inputs:\n  question: {type: string, default: What changed?}\noutputs:\n  answer: {type: string, "
        "reference: '${answer.output}'}\nnodes:\n- name: answer\n  type: llm\n  source: {type: code, path: long.jinja2}\n"
        "  inputs: {model: gpt-4o-mini, max_tokens: 500, question: '${inputs.question}'}\n  api: chat\n",
        encoding="utf-8")
    document = load_document(flow)
    estimate_document(document, workspace)
    template = (folder / "long.jinja2").resolve()
    times = []
    for edit in range(30):
        overlay = {template: "system:\n" + body + f"Edit {edit}.\nuser:\n{{{{ question }}}}\n"}
        started = time.perf_counter()
        estimate_document(document, workspace, overlay=overlay)
        times.append(time.perf_counter() - started)
    print(f"   flow template ({tokens:,} tokens), render + count: median {statistics.median(times) * 1000:.1f} ms, "
          f"p95 {sorted(times)[int(len(times) * 0.95) - 1] * 1000:.1f} ms")
    started = time.perf_counter()
    estimate_document(document, workspace, overlay=overlay)
    print(f"   unchanged document (cache hit): {(time.perf_counter() - started) * 1e6:.0f} µs")


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}, tiktoken {tiktoken.__version__}")
    throughput()
    lens_latency()
