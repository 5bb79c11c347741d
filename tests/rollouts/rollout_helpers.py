"""Shared pieces of the rollout tests: a flow whose prompt names the version that answered, the
CLI runner and the rollout state file. (A module of its own: test files cannot import a conftest.)"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from promptwise.cli import main

FLOW = {
    "triage/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {type: string, reference: "${chat.output}"}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}", max_tokens: 50}
          connection: local
          api: chat
    """,
}
WORDS = {"triage:v1": "ALPHA", "triage:v2": "BETA", "triage:v3": "GAMMA"}


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def package_versions(root: Path) -> None:
    """triage:v1..v3, each answering with its word; the working copy is left at v3."""
    for version, word in WORDS.items():
        (root / "triage" / "chat.jinja2").write_text(f"user:\n{word} {{{{question}}}}\n", encoding="utf-8")
        assert main(["package", str(root / "triage"), "--format", "json"]) == 0


def state(root: Path) -> dict | None:
    path = root / ".promptwise" / "rollouts" / "triage.json"
    return json.loads(path.read_text())["current"] if path.exists() else None


def declare(root: Path, text: str, file: str = "promptwise.yaml") -> None:
    """Write the `rollout:` section (the settings before it kept), in place as an editor saves."""
    path = root / file
    base = path.read_text().split("rollout:")[0] if file == "promptwise.yaml" and path.exists() else ""
    path.write_text(base + textwrap.dedent(text).lstrip("\n"))
