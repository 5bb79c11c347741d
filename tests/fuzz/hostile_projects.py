"""Hostile projects seen in the field (issue 9, part 5), one folder each: alias bombs, special
files, paths leaving the project, and the inputs that raised internal errors. Each entry says
which file to open and, where the analysis must say something specific, the problem code and
(1-based) line it must report."""

from __future__ import annotations

from dataclasses import dataclass, field

FLOW = """\
inputs:
  q: {{type: string, default: hi}}
outputs:
  a: {{type: string, reference: "${{t.output}}"}}
nodes:
- name: t
  type: llm
  source: {{type: code, path: {path}}}
  inputs: {{q: "${{inputs.q}}", deployment_name: gpt-4o-mini, max_tokens: {max_tokens}}}
  connection: c
  api: chat
"""

PROMPTY = """\
---
name: p
model:
  api: chat
  configuration: {{type: openai, model: {model}}}
  parameters: {{max_tokens: {max_tokens}}}
sample: {sample}
{extra}---
{body}
"""

LAUGHS = "\n".join(
    ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
) + "\n"
NESTED_FOR = "".join(f"{{% for i{d} in [1] %}}" for d in range(25)) + "x" + "{% endfor %}" * 25
PARENS = "{{ " + "(" * 100 + "q" + ")" * 100 + " }}"


def flow(path: str = "t.jinja2", max_tokens: str = "10") -> str:
    return FLOW.format(path=path, max_tokens=max_tokens)


def prompty(model: str = "gpt-4o-mini", max_tokens: str = "10", sample: str = "{q: hi}", extra: str = "",
            body: str = "system:\nhi\nuser:\n{{ q }}") -> str:
    return PROMPTY.format(model=model, max_tokens=max_tokens, sample=sample, extra=extra, body=body)


@dataclass
class Hostile:
    files: dict[str, str]
    open: str  # the file an editor would open
    expect: tuple[str, int] | None = None  # (code, 1-based line) the analysis must report
    links: dict[str, str] = field(default_factory=dict)  # name -> symlink target


TEMPLATE = {"t.jinja2": "system:\nhi {{ q }}\n"}

PROJECTS: dict[str, Hostile] = {
    "prompty-recursive-alias": Hostile({"p.prompty": prompty(extra="x: &s {a: *s, b: *s, c: *s}\n")}, "p.prompty", ("PW101", 8)),
    "prompty-billion-laughs": Hostile({"p.prompty": prompty(extra=LAUGHS)}, "p.prompty", ("PW101", 13)),
    "flow-billion-laughs": Hostile({"flow.dag.yaml": flow() + LAUGHS, **TEMPLATE}, "flow.dag.yaml", ("PW101", 17)),
    "settings-recursive-alias": Hostile(
        {"flow.dag.yaml": flow(), **TEMPLATE, "promptwise.yaml": "connections:\n  c: &c {type: openai, x: *c}\n"},
        "flow.dag.yaml",
    ),
    "settings-billion-laughs": Hostile({"flow.dag.yaml": flow(), **TEMPLATE, "promptwise.yaml": LAUGHS}, "flow.dag.yaml"),
    "eval-billion-laughs": Hostile({"eval.yaml": "data: data.jsonl\n" + LAUGHS}, "eval.yaml"),
    "source-dev-zero": Hostile({"flow.dag.yaml": flow("/dev/zero")}, "flow.dag.yaml", ("PW301", 8)),
    "source-dev-urandom": Hostile({"flow.dag.yaml": flow("/dev/urandom")}, "flow.dag.yaml", ("PW301", 8)),
    "source-fifo": Hostile({"flow.dag.yaml": flow("pipe.fifo")}, "flow.dag.yaml", ("PW301", 8)),
    "source-link-to-dev-zero": Hostile({"flow.dag.yaml": flow("zero.jinja2")}, "flow.dag.yaml", ("PW301", 8),
                                       links={"zero.jinja2": "/dev/zero"}),
    "file-dev-zero": Hostile({"p.prompty": prompty(sample="${file:/dev/zero}")}, "p.prompty", ("PW301", 7)),
    "file-fifo": Hostile({"p.prompty": prompty(sample="${file:pipe.fifo}")}, "p.prompty", ("PW301", 7)),
    "source-etc-passwd": Hostile({"flow.dag.yaml": flow("../../../../../../../../etc/passwd")}, "flow.dag.yaml", ("PW110", 8)),
    "file-leaving-project": Hostile({"p.prompty": prompty(sample="${file:../../../../../../etc/hostname}")}, "p.prompty",
                                    ("PW110", 7)),
    "source-nul": Hostile({"flow.dag.yaml": flow('"a\\0b.jinja2"')}, "flow.dag.yaml", ("PW301", 8)),
    "source-long-path": Hostile({"flow.dag.yaml": flow("x" * 5000 + ".jinja2")}, "flow.dag.yaml", ("PW301", 8)),
    "template-25-nested-for": Hostile({"flow.dag.yaml": flow(), "t.jinja2": f"system:\n{NESTED_FOR}\n"}, "flow.dag.yaml"),
    "template-100-parentheses": Hostile({"p.prompty": prompty(body=f"system:\n{PARENS}\n")}, "p.prompty"),
    "template-range-1e9": Hostile({"p.prompty": prompty(body="system:\n{% for i in range(10**9) %}x{% endfor %}\n")},
                                  "p.prompty"),
    "max-tokens-5000-digits": Hostile({"flow.dag.yaml": flow(max_tokens="9" * 5000), **TEMPLATE}, "flow.dag.yaml"),
    "prompty-max-tokens-digits": Hostile({"p.prompty": prompty(max_tokens="9" * 5000)}, "p.prompty"),
    "prompty-model-number": Hostile({"p.prompty": prompty(model="3.5")}, "p.prompty"),
    "connection-numeric-key": Hostile(
        {"flow.dag.yaml": flow(), **TEMPLATE, "promptwise.yaml": "connections:\n  c: {type: openai, 5: x}\n  1: {type: openai}\n"},
        "flow.dag.yaml",
    ),
}
