"""Templates render sandboxed and bounded (documents/jinja_sandbox.py): hostile templates give
a RenderError with the template line, never run code, never hang, never build huge values;
ordinary templates render exactly as before (Prompt flow's SandboxedEnvironment behaviour)."""

from __future__ import annotations

import pytest

from promptwise.documents.render import (
    ANALYSIS_LIMITS,
    RUN_LIMITS,
    RenderError,
    render_messages,
    render_template,
)

ESCAPES = [
    "{{ cycler.__init__.__globals__.os.popen('touch pwned').read() }}",
    "{{ joiner.__init__.__globals__.os.system('touch pwned') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ namespace.__init__.__globals__['os'].popen('touch pwned') }}",
    "{{ lipsum.__globals__['os'].popen('touch pwned').read() }}",
    "{{ self._TemplateReference__context.parent }}",
    "{% set f = ''.format %}{{ '{0.__class__.__mro__}'.format('') }}",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_escapes_from_the_sandbox_are_refused(template, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RenderError) as raised:
        render_template("system:\n" + template, {})
    assert raised.value.line == 1
    assert list(tmp_path.iterdir()) == []


BOUNDED = [
    ("range", "{% for i in range(10**9) %}x{% endfor %}"),
    ("nested loops", "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"),
    ("nested lists", "{% set l = range(500)|list %}{% for a in l %}{% for b in l %}{% endfor %}{% endfor %}"),
    ("repeat string", "{{ 'a' * 10**9 }}"),
    ("repeat list", "{{ ([1] * 10**9)|length }}"),
    ("power", "{{ 10 ** (10 ** 10) }}"),
    ("squaring", "{% set ns = namespace(x=3) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}{% endfor %}"),
    ("tilde doubling", "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
    ("plus doubling", "{% set ns = namespace(s='a') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"),
    ("printf width", "{{ '%0999999999d' % 1 }}"),
    ("printf star", "{{ '%*d' % (999999999, 1) }}"),
    ("format width", "{{ '{:>999999999}'.format(1) }}"),
    ("nested format width", "{{ '{:{}}'.format(1, 999999999) }}"),
    ("format filter", "{{ '%999999999s'|format('x') }}"),
    ("center filter", "{{ 'a'|center(999999999) }}"),
    ("indent filter", "{{ 'a\nb'|indent(999999999) }}"),
    ("batch filter", "{{ [1]|batch(999999999, 'x')|list|length }}"),
    ("slice filter", "{{ [1]|slice(999999999)|list|length }}"),
    ("tojson indent", "{{ [1]|tojson(indent=999999999) }}"),
    ("ljust method", "{{ 'a'.ljust(999999999) }}"),
    ("replace method", "{% set s = 'a' * 100000 %}{{ s.replace('a', 'b' * 1000) }}"),
    ("replace filter", "{% set s = 'a' * 100000 %}{{ s|replace('a', 'b' * 1000) }}"),
    ("join method", "{{ ('x' * 100000).join(range(100000)|list) }}"),
    ("exponential macro", "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}"),
    ("wide macro", "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"),
    ("output", "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"),
    ("25 nested loops", "".join("{%% for i%d in [1] %%}" % i for i in range(25)) + "x" + "{% endfor %}" * 25),
    ("100 parentheses", "{{ " + "(" * 100 + "1" + ")" * 100 + " }}"),
    ("1000 nested ifs", "{% if 1 %}" * 1000 + "{% endif %}" * 1000),
]


@pytest.mark.parametrize("template", [t for _, t in BOUNDED], ids=[name for name, _ in BOUNDED])
def test_work_and_size_are_bounded(template):
    with pytest.raises(RenderError) as raised:
        render_template(template, {})
    assert raised.value.message  # says what went wrong (our text, not only Jinja's)


def test_the_line_of_a_bound_is_reported():
    template = "system:\nhello\n{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}\n"
    with pytest.raises(RenderError) as raised:
        render_messages(template, {})
    assert raised.value.line == 2
    assert "200,000" in raised.value.message


def test_a_run_is_bounded_more_generously_than_the_analysis():
    template = "{% for i in range(1000) %}{% for j in range(300) %}{% endfor %}{% endfor %}done"
    with pytest.raises(RenderError):
        render_template(template, {}, limits=ANALYSIS_LIMITS)
    assert render_template(template, {}, limits=RUN_LIMITS) == "done"
    assert RUN_LIMITS.steps > ANALYSIS_LIMITS.steps and RUN_LIMITS.size > ANALYSIS_LIMITS.size


ORDINARY = [
    ("{% for x in items %}{{ loop.index }}:{{ x }}{{ ',' if not loop.last }}{% endfor %}", {"items": ["a", "b"]}, "1:a,2:b"),
    ("{{ '%.2f' % price }} {{ '{:.1f}'.format(price) }} {{ '%5s|' % 'ab' }}", {"price": 3.14159}, "3.14 3.1    ab|"),
    ("{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}", {}, "3"),
    # the mutable sandbox, as Prompt flow's: list.append works in templates
    ("{% set acc = [] %}{% for x in 'abc' %}{{ acc.append(x) or '' }}{% endfor %}{{ acc|join('-') }}", {}, "a-b-c"),
    ("{{ doc|tojson(indent=2) }}", {"doc": {"a": 1}}, '{\n  "a": 1\n}'),
    ("{{ name ~ '!' ~ 3 }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ 2 ** 10 }}", {"name": "x"}, "x!3 abab [1, 2] 1024"),
    ("{{ 'a b'|replace(' ', '_') }} {{ 'x'|center(5) }}| {{ 'l1\nl2'|indent(2) }}", {}, "a_b   x  | l1\n  l2"),
    ("{% for a, b in pairs.items() %}{{ a }}={{ b }};{% endfor %}", {"pairs": {"k": "v", "m": 1}}, "k=v;m=1;"),
    ("{% macro greet(who) %}hi {{ who }}{% endmacro %}{{ greet('you') }}", {}, "hi you"),
    ("{% for c in tree recursive %}{{ c.name }}{% if c.kids %}({{ loop(c.kids) }}){% endif %}{% endfor %}",
     {"tree": [{"name": "a", "kids": [{"name": "b", "kids": []}]}]}, "a(b)"),
    ("{{ items|batch(2)|list|length }} {{ items|slice(2)|list|length }}", {"items": [1, 2, 3]}, "2 2"),
]


@pytest.mark.parametrize("template,variables,expected", ORDINARY)
def test_ordinary_templates_render_as_before(template, variables, expected):
    assert render_template(template, variables) == expected
