"""The PW6xx secret scanner on pasted blobs: it must take time linear in the text.

Prints figures; asserts nothing. Run: .venv/bin/python benchmarks/secret_scan_speed.py

- `scan_text` on one line of 10k / 20k / 40k / 80k letters (the series of issue 9, where the
  quadratic scanner took 4 / 17 / 89 / 353 s): the time per character must stay flat;
- `scan_text` on 1 MB of base64 and of hex, as one line and wrapped at 76 characters;
- the whole analysis (`analyze`, every checker) of a .prompty whose body holds such a MB;
- the memory the analysis keeps after 60 versions of a 200 KB prompty are typed, and after the
  editor closes it (the compiled-template and secret-scan caches are bounded and freed).
"""

from __future__ import annotations

import base64
import gc
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from promptwise.analysis import analyze  # noqa: E402
from promptwise.analysis.analyzer import release  # noqa: E402
from promptwise.costing.estimate import forget_document  # noqa: E402
from promptwise.analysis.secrets import scan_text  # noqa: E402

MB = 1_000_000
PROMPTY_HEAD = (
    "---\nname: blob\nmodel:\n  api: chat\n  configuration:\n    type: openai\n"
    "    model: gpt-4o-mini\n---\nsystem:\nDescribe this attachment:\n"
)


def blobs(size: int) -> dict[str, str]:
    rng = random.Random(9)
    raw = rng.randbytes(size)
    b64 = base64.b64encode(raw).decode()[:size]
    hex_text = raw.hex()[:size]
    return {"base64": b64, "hex": hex_text}


def wrapped(text: str, width: int = 76) -> str:
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


def timed(function) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def main() -> None:
    path = Path("blob.jinja2")
    scan_text(path, "warm up " * 100)
    print("scan_text, one line of letters (issue 9's series; quadratic before: 4 / 17 / 89 / 353 s):")
    for size in (10_000, 20_000, 40_000, 80_000):
        seconds = timed(lambda: scan_text(path, "a" * size))
        print(f"  {size:>7,} chars  {seconds * 1000:8.2f} ms   {seconds / size * 1e9:7.1f} ns/char")
    print("scan_text, 1 MB:")
    for kind, blob in blobs(MB).items():
        for layout, text in (("one line", blob), ("76-char lines", wrapped(blob))):
            seconds = timed(lambda: scan_text(path, text))
            print(f"  {kind:<7} {layout:<14} {seconds * 1000:8.1f} ms   {seconds / len(text) * 1e9:7.1f} ns/char")
    print("analyze(): a .prompty whose body holds 1 MB of blob (every checker, cold):")
    with tempfile.TemporaryDirectory() as folder:
        # imports, and the tokenizer the context-window check loads for a prompt this long
        analyze(Path(folder) / "warm.prompty", PROMPTY_HEAD + "hello " * (MB // 6) + "\n")
        for kind, blob in blobs(MB).items():
            for layout, text in (("one line", blob), ("76-char lines", wrapped(blob))):
                prompty = Path(folder) / f"{kind}.prompty"
                document = PROMPTY_HEAD + text + "\nuser:\n{{question}}\n"
                problems: list = []
                seconds = timed(lambda: problems.extend(analyze(prompty, document)))
                codes = sorted({p.code for p in problems})
                print(f"  {kind:<7} {layout:<14} {seconds * 1000:8.1f} ms   problems: {', '.join(codes) or 'none'}")


def memory_kept_while_typing(folder: Path, versions: int = 60) -> None:
    path = folder / "large.prompty"
    body = "Answer from the policy text below.\n" * 5_500  # ~200 KB
    gc.collect()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    for version in range(versions):
        analyze(path, PROMPTY_HEAD + body + f"(edit {version})\nuser:\n{{{{question}}}}\n")
    gc.collect()
    typed = tracemalloc.get_traced_memory()[0] - baseline
    release(path)  # what the language server does when the editor closes it
    forget_document(path)
    gc.collect()
    closed = tracemalloc.get_traced_memory()[0] - baseline
    tracemalloc.stop()
    print(f"memory kept by the analysis, {versions} versions of a {len(body) // 1000} KB prompty typed: "
          f"{typed / 1e6:.1f} MB; after closing it: {closed / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
    with tempfile.TemporaryDirectory() as temp:
        memory_kept_while_typing(Path(temp))
