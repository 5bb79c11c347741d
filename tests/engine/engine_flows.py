"""Flow files the engine tests share (written into a temporary workspace by the `workspace` fixture)."""

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
