"""Hypothesis strategies for hostile Promptwise projects: flow.dag.yaml, .prompty, Jinja
templates, promptwise.yaml and eval.yaml built from the pieces that broke the analysis before
(alias bombs, special and escaping paths, template code, deep nesting, huge numbers, odd key
types), mixed with ordinary content and with random bytes.

Every piece that could run code names MARKER; the tests replace it by a file in a watched
folder and assert that the file never appears."""

from __future__ import annotations

import json

from hypothesis import strategies as st

MARKER = "@MARKER@"

# ----- pieces -----------------------------------------------------------------------------

HOSTILE_PATHS = [
    "t.jinja2", "t.jinja2", "/dev/zero", "/dev/urandom", "/dev/null", "pipe.fifo", "zero-link.jinja2",
    "../../../../../../../../etc/passwd", "../outside.jinja2", "a\\0b.jinja2",
    "x" * 300 + ".jinja2", "/".join(["y" * 200] * 25) + ".py", "", ".", "..", "/",
    "ask.jinja2", "tool.py", "missing.jinja2", "sub/../ask.jinja2", "${inputs.q}", "~/x",
]

JINJA_ESCAPES = [
    "{{ cycler.__init__.__globals__.os.popen('touch " + MARKER + "').read() }}",
    "{{ joiner.__init__.__globals__['os'].system('touch " + MARKER + "') }}",
    "{{ namespace.__init__.__globals__.os.popen('touch " + MARKER + "') }}",
    "{{ lipsum.__globals__['os'].popen('touch " + MARKER + "').read() }}",
    "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if c.__name__ == 'Popen' %}"
    "{{ c(['touch', '" + MARKER + "']) }}{% endif %}{% endfor %}",
    "{{ self.__init__.__globals__.__builtins__.open('" + MARKER + "', 'w') }}",
    "{{ config.__class__.__init__.__globals__['os'].popen('touch " + MARKER + "') }}",
]

JINJA_WORK = [
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
    "{{ 'a' * 10**9 }}", "{{ 10 ** (10 ** 10) }}", "{{ '%0999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}", "{{ 'a'|center(999999999) }}", "{{ [1]|batch(999999999, 0)|list }}",
    "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "{{ lipsum(10**7) }}", "{{ 'x'.ljust(10**9) }}", "{{ range(10**5)|list|join(' ' * 10**4) }}",
]

JINJA_ORDINARY = [
    "{{ q }}", "{{ q | upper }}", "{% if q %}yes{% else %}no{% endif %}", "{% for x in items %}- {{ x }}\n{% endfor %}",
    "{{ q ~ '!' }}", "{# note #}", "{{ '%.2f' % price }}", "{{ doc | tojson }}", "{% set a = 1 %}{{ a + 1 }}",
    "{{ undefined_var.attr[0] }}", "{% raw %}{{ raw }}{% endraw %}", "{{ q[:10] }}", "plain text",
]

JINJA_BROKEN = ["{{", "{% for %}", "{% endfor %}", "{{ q | nosuchfilter }}", "{% if %}", "}}", "{% set %}", "{{ (((( }}"]

ROLE_LINES = ["system:", "user:", "assistant:", "# user:", "function:", "tool:", "human:", "System: hi"]

HUGE_NUMBERS = ["9" * 5000, "1e999", "-1", "0", "3.5", "0x10", ".inf", "-.nan", "1_000", "99999999999999999999999"]

YAML_SCALARS = [
    "hi", "''", "null", "~", "true", "3.5", "[]", "{}", '"a\\0b"', '"\\x01"', "!!binary aGk=", "!custom x",
    "2024-13-45", "${env:OPENAI_API_KEY}", "${file:/dev/zero}", "${file:../../etc/passwd}", "${file:pipe.fifo}",
    "${inputs.q}", "${ask.output}", "${nosuch.output.x}", "sk-" + "a" * 48, '"' + "é" * 50 + '"',
] + HUGE_NUMBERS

ALIAS_BOMBS = [
    "x: &s {a: *s, b: *s, c: *s}",
    "x: &s [*s]",
    "\n".join(["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
              + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]),
    "\n".join(f"a{i}: &a{i} [{f'*a{i - 1}' if i else 'x'}]" for i in range(120)),
    "a: &a {k: v}\nb: *a\nc: *a",
]

DEEP = ["[" * 200 + "]" * 200, "{a: " * 150 + "1" + "}" * 150, "- " * 3000 + "x"]


def _nested_for(depth: int) -> str:
    return "".join(f"{{% for i{d} in [1] %}}" for d in range(depth)) + "x" + "{% endfor %}" * depth


def _parens(depth: int) -> str:
    return "{{ " + "(" * depth + "q" + ")" * depth + " }}"


# ----- strategies -------------------------------------------------------------------------

scalars = st.sampled_from(YAML_SCALARS)
paths = st.sampled_from(HOSTILE_PATHS)


@st.composite
def jinja_templates(draw) -> str:
    """A chat template: role lines and fragments, some hostile, some broken."""
    pieces = st.one_of(
        st.sampled_from(JINJA_ORDINARY),
        st.sampled_from(JINJA_ESCAPES),
        st.sampled_from(JINJA_WORK),
        st.sampled_from(JINJA_BROKEN),
        st.sampled_from(ROLE_LINES),
        st.integers(1, 30).map(_nested_for),
        st.integers(1, 120).map(_parens),
        st.text(max_size=40),
    )
    lines = draw(st.lists(pieces, min_size=1, max_size=8))
    if draw(st.booleans()):
        lines.insert(0, "system:")
    return "\n".join(lines) + "\n"


@st.composite
def payload_templates(draw) -> str:
    """A well-formed chat template carrying one hostile fragment among ordinary ones, so the
    fragment is reached when the template is rendered (a syntax error elsewhere would stop
    rendering before it)."""
    before = draw(st.lists(st.sampled_from(JINJA_ORDINARY[:9]), max_size=3))
    hostile = draw(st.sampled_from(JINJA_ESCAPES + JINJA_WORK))
    return "system:\n" + "\n".join(before + [hostile]) + "\nuser:\n{{ q }}\n"


def templates() -> st.SearchStrategy[str]:
    return st.one_of(payload_templates(), jinja_templates())


@st.composite
def yaml_blocks(draw, indent: int = 0) -> str:
    """An extra YAML block that may be an alias bomb or absurdly nested."""
    pad = " " * indent
    choice = draw(st.sampled_from(["bomb", "deep", "scalar", "none"]))
    if choice == "bomb":
        return "".join(pad + line + "\n" for line in draw(st.sampled_from(ALIAS_BOMBS)).split("\n"))
    if choice == "deep":
        return f"{pad}deep: {draw(st.sampled_from(DEEP))}\n"
    if choice == "scalar":
        return f"{pad}{draw(st.sampled_from(['extra', '1', 'true', '~', '[a]']))}: {draw(scalars)}\n"
    return ""


@st.composite
def wellformed_flows(draw) -> str:
    """A flow Prompt flow would accept whose llm node renders `t.jinja2` (a hostile template)."""
    return (
        "inputs:\n  q: {type: string, default: hi}\n"
        "outputs:\n  a: {type: string, reference: \"${ask.output}\"}\n"
        "nodes:\n- name: ask\n  type: llm\n  source: {type: code, path: t.jinja2}\n"
        "  inputs: {q: \"${inputs.q}\", deployment_name: gpt-4o-mini, max_tokens: "
        + draw(st.sampled_from(["256", "9" * 5000, "-1"])) + "}\n  connection: c\n  api: chat\n"
    )


@st.composite
def wellformed_prompties(draw) -> str:
    """A prompty Prompt flow would accept, whose body is a hostile template."""
    return (
        "---\nname: p\nmodel:\n  api: chat\n  configuration: {type: openai, model: gpt-4o-mini}\n"
        "  parameters: {max_tokens: 100}\ninputs:\n  q: {type: string, default: hi}\nsample: {q: hi}\n---\n"
        + draw(templates())
    )


@st.composite
def flows(draw) -> str:
    nodes = []
    for index in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["llm", "python", "prompt", "custom_llm", "nonsense"]))
        path = draw(paths)
        max_tokens = draw(st.sampled_from(HUGE_NUMBERS + ["256"]))
        reference = draw(st.sampled_from(["${inputs.q}", "${n0.output}", f"${{n{index}.output}}", "${inputs.q.x.y}", "hi"]))
        node = (
            f"- name: n{index}\n  type: {kind}\n  source: {{type: code, path: \"{path}\"}}\n"
            f"  inputs: {{q: \"{reference}\", deployment_name: gpt-4o-mini, max_tokens: {max_tokens}}}\n"
            f"  connection: {draw(st.sampled_from(['c', '1', 'nosuch', '${env:X}']))}\n  api: chat\n"
        )
        if draw(st.booleans()):
            node += f"  activate: {{when: \"{reference}\", is: {draw(scalars)}}}\n"
        nodes.append(node)
    text = (
        f"inputs:\n  q: {{type: string, default: {draw(scalars)}}}\n"
        f"outputs:\n  a: {{type: string, reference: \"{draw(st.sampled_from(['${n0.output}', '${inputs.q}', 'x']))}\"}}\n"
        "nodes:\n" + "".join(nodes)
    )
    if draw(st.booleans()):
        text += f"additional_includes: [\"{draw(paths)}\"]\n"
    return text + draw(yaml_blocks())


@st.composite
def prompties(draw) -> str:
    model = draw(st.sampled_from(["gpt-4o-mini", "3.5", "[a, b]", "{}", "${env:M}", "nosuch-model", "~"]))
    front = (
        "name: p\nmodel:\n  api: " + draw(st.sampled_from(["chat", "completion", "chta", "3"])) + "\n"
        f"  configuration: {{type: openai, model: {model}}}\n"
        f"  parameters: {{max_tokens: {draw(st.sampled_from(HUGE_NUMBERS + ['100']))}}}\n"
        f"inputs:\n  q: {{type: string, default: {draw(scalars)}}}\n"
        f"sample: {draw(st.sampled_from(['{q: hi}', '${file:/dev/zero}', '${file:pipe.fifo}', '${file:../../../etc/passwd}', 'sample.json', '${file:a' + chr(92) + '0b.json}']))}\n"
    )
    front += draw(yaml_blocks())
    return "---\n" + front + "---\n" + draw(templates())


@st.composite
def settings_files(draw) -> str:
    connection = draw(st.sampled_from([
        "c: {type: openai, api_key: ${env:K}}", "1: {type: openai}", "c: {type: openai, 5: x}",
        "c: &c {type: openai, self: *c}", "c: {type: azure_openai, azure_endpoint: 'https://u:p@x/?subscription-key=k'}",
        "c: {type: openai_compatible, base_url: " + draw(scalars) + "}",
    ]))
    return f"connections:\n  {connection}\n" + draw(yaml_blocks())


@st.composite
def eval_files(draw) -> str:
    return (
        f"data: {draw(st.sampled_from(['data.jsonl', '/dev/zero', 'pipe.fifo', '../../etc/passwd']))}\n"
        "evaluators:\n  - name: e\n    type: " + draw(st.sampled_from(["exact_match", "llm_judge", "nosuch", "3"])) + "\n"
    ) + draw(yaml_blocks())


def mutated(text: str) -> st.SearchStrategy[str]:
    """`text` with a few characters inserted, deleted or replaced (raw robustness)."""

    @st.composite
    def build(draw) -> str:
        result = text
        for _ in range(draw(st.integers(1, 4))):
            position = draw(st.integers(0, len(result)))
            action = draw(st.sampled_from(["insert", "delete", "replace"]))
            piece = draw(st.sampled_from(["\x00", ":", "{", "}", "[", "&a", "*a", "\n  ", "'", '"', "{{", "%}", "\ufeff", "\udcff"]))
            if action == "insert":
                result = result[:position] + piece + result[position:]
            elif action == "delete":
                result = result[:position] + result[position + draw(st.integers(1, 10)):]
            else:
                result = result[:position] + piece + result[position + len(piece):]
        return result

    return build()


def sample_json() -> str:
    return json.dumps({"q": "hi"})
