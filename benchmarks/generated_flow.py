"""The generated flow the analysis and language-server benchmarks time: a chain of python and
llm nodes that each read a flow input and the node before, so every edit has neighbours."""

from __future__ import annotations

from pathlib import Path

NODE_COUNT = 200
PROMPT = "system:\nYou help {{customer}}.\nuser:\n{{text}} {{previous}}\n"


def chain_nodes(count: int, flow_style_llm_source: bool) -> list[str]:
    """The `nodes:` items: every fourth an llm node rendering prompt.jinja2 (its `source:` in
    one line, or in block style), the others python nodes calling tool.py's `step`; node n<i>
    reads `${inputs.question}` and n<i-1>."""
    if flow_style_llm_source:
        llm_source = ["  source: {type: code, path: prompt.jinja2}"]
    else:
        llm_source = ["  source:", "    type: code", "    path: prompt.jinja2"]
    lines: list[str] = []
    for index in range(count):
        previous = f"${{n{index - 1}.output}}" if index else "${inputs.question}"
        if index % 4 == 3:
            lines += [
                f"- name: n{index}",
                "  type: llm",
                *llm_source,
                "  connection: open_ai",
                "  api: chat",
                "  inputs:",
                "    deployment_name: gpt-4o-mini",
                "    text: ${inputs.question}",
                f"    previous: {previous}",
                "    customer: ${inputs.customer}",
            ]
        else:
            lines += [
                f"- name: n{index}",
                "  type: python",
                "  source:",
                "    type: code",
                "    path: tool.py",
                "  inputs:",
                "    text: ${inputs.question}",
                f"    previous: {previous}",
            ]
    return lines


def write_prompt(folder: Path) -> None:
    (folder / "prompt.jinja2").write_text(PROMPT)
