"""The work behind the editor features added for non-VS Code editors and richer editing
(folding ranges, document links, cycle-free `${` completion, Jinja variable completion,
renaming a flow input into its datasets), timed in-process on the generated 200-node flow, a
1 MB template, hostile lines, and a 10,000-row dataset.

Prints figures; asserts nothing. Run: .venv/bin/python benchmarks/lsp_features_speed.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

from lsp_latency import generate_flow  # beside this script

from promptwise.documents.load import load_document
from promptwise.lsp.completion import downstream_of, jinja_word
from promptwise.lsp.folding import folding_ranges_of, jinja_ranges
from promptwise.lsp.links import _flow_links
from promptwise.lsp.rename_feeds import feed_edits

REPEAT = 20


def _ms(function, *args, repeat: int = REPEAT) -> str:
    """Median milliseconds of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        times.append((time.perf_counter() - start) * 1000)
    return f"{statistics.median(times):8.2f} ms"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        flow_path = generate_flow(root)
        flow = load_document(flow_path)
        lines = flow_path.read_text().split("\n")
        print(f"200-node flow ({len(lines):,} lines)")
        print(f"  folding ranges            {_ms(folding_ranges_of, flow, 'flow_dag', lines)}")
        print(f"  document links            {_ms(_flow_links, flow)}")
        print(f"  downstream of n100        {_ms(downstream_of, flow, 'n100')}  (nodes left out of `${{` completion)")

        template = ("{% for item in items %}\n  {{ item.name }}: {{ value }}\n{% endfor %}\n" * 16000)[: 1 << 20]
        print(f"1 MB template ({template.count(chr(10)):,} lines)")
        print(f"  Jinja folding             {_ms(jinja_ranges, template, repeat=5)}")
        hostile = "{% a " * 20000
        print(f"  Jinja folding, 20,000 unclosed tags (was 70 s)  {_ms(jinja_ranges, hostile, repeat=5)}")
        braces = "{{" * 16000 + "."
        print(f"  completion word, 16,000 braces (was 40 s)       {_ms(jinja_word, braces, repeat=5)}")

        (root / "flow.dag.yaml").write_text("inputs:\n  question: {type: string}\nnodes: []\n")
        (root / "eval.yaml").write_text("data: data.jsonl\nevaluators:\n  - {name: m, type: exact_match, "
                                        "inputs: {prediction: ${run.inputs.question}, reference: ${data.expected}}}\n")
        read = lambda path: path.read_text() if path.is_file() else None  # noqa: E731
        for label, extra in (("flat rows", {}), ("the name also nested in each row", {"meta": {"question": 1}})):
            rows = "".join(json.dumps({"question": f"q{i}", "expected": "a", **extra}) + "\n" for i in range(10000))
            (root / "data.jsonl").write_text(rows)
            found = feed_edits(root / "flow.dag.yaml", "question", "query", read)
            size = len(rows.encode()) / 1_048_576
            print(f"rename a flow input: 10,000-row dataset, {label} ({size:.2f} MB), "
                  f"{sum(map(len, found.edits.values())):,} edits")
            print(f"  dataset and eval edits    {_ms(feed_edits, root / 'flow.dag.yaml', 'question', 'query', read, repeat=5)}")


if __name__ == "__main__":
    main()
