"""Sample flows and prompts shared by the costing tests."""

from __future__ import annotations

from pathlib import Path

CLASSIFY = """\
system:
You sort support tickets into {{ categories | join(", ") }}.

user:
{{ ticket }}
"""

SUMMARY = """\
# system:
Summarise for {{ audience }}. Context: {{ details }}

# user:
{{ ticket }}
"""

FLOW = """\
inputs:
  ticket:
    type: string
    default: My invoice for March is wrong — 請幫忙 🙏
  audience:
    type: string
    default: finance
outputs:
  answer:
    type: string
    reference: ${summarise.output}
nodes:
- name: classify
  type: llm
  source:
    type: code
    path: classify.jinja2
  inputs:
    model: gpt-4o-mini
    max_tokens: 50
    categories: [billing, bug, other]
    ticket: ${inputs.ticket}
  connection: local
  api: chat
- name: summarise
  type: llm
  source:
    type: code
    path: summary.jinja2
  inputs:
    model: gpt-4.1
    max_tokens: 200
    audience: ${inputs.audience}
    details: ${classify.output}
    ticket: ${inputs.ticket}
  connection: local
  api: chat
"""


def make_flow(folder: Path, flow: str = FLOW, settings: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flow.dag.yaml").write_text(flow, encoding="utf-8")
    (folder / "classify.jinja2").write_text(CLASSIFY, encoding="utf-8")
    (folder / "summary.jinja2").write_text(SUMMARY, encoding="utf-8")
    (folder / "promptwise.yaml").write_text(settings or "defaults: {model: gpt-4o-mini}\n", encoding="utf-8")
    return folder / "flow.dag.yaml"


PROMPTY = """\
---
name: Ticket reply
model:
  api: chat
  configuration:
    type: azure_openai
    azure_deployment: gpt-4o
  parameters:
    max_tokens: 120
    tools:
      - type: function
        function:
          name: lookup_order
          description: Find an order.
          parameters:
            type: object
            properties:
              order_id: {type: string, description: The order number}
inputs:
  question:
    type: string
sample:
  question: Where is order 42?
---
system:
You answer customers of an online shop.

user:
{{ question }}
"""
