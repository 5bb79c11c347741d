"""Flow files the engine tests share (written into a temporary workspace by the `workspace` fixture)."""

import textwrap


def write_files(root, files: dict[str, str]):
    """Write {relative path: dedented text} under `root` (for tests that build their own workspace)."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root

# One llm node reading one flow input: the smallest flow a batch can run.
ONE_LLM_NODE_FLOW = {
    "flow/flow.dag.yaml": """
        inputs:
          question: {type: string}
        outputs:
          answer: {reference: "${chat.output}"}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {model: gpt-4o-mini, question: "${inputs.question}"}
          api: chat
    """,
    "flow/chat.jinja2": "user:\n{{question}}\n",
}
