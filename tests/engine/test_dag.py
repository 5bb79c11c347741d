"""flow.dag.yaml execution through the real openai client against the fake server."""

from __future__ import annotations

import importlib.util

import pytest

from promptwise.engine.errors import FlowError
from promptwise.engine.runner import run_flow
from promptwise.store import RunStore

CHAT_TEMPLATE = "system:\nYou are terse.\nuser:\n{{question}}\n"

LLM_AND_PYTHON = {
    "flow/flow.dag.yaml": """
        inputs:
          question: {type: string, default: capital of France?}
        outputs:
          answer: {reference: "${shout.output}"}
          raw: {reference: "${chat.output}"}
        nodes:
        - name: chat
          type: llm
          source: {type: code, path: chat.jinja2}
          inputs: {deployment_name: gpt-4o-mini, temperature: 0, max_tokens: 50, question: "${inputs.question}"}
          connection: open_ai_connection
          api: chat
        - name: shout
          type: python
          source: {type: code, path: shout.py}
          inputs: {text: "${chat.output}"}
    """,
    "flow/chat.jinja2": CHAT_TEMPLATE,
    "flow/shout.py": """
        from promptflow.core import tool

        @tool
        def shout(text: str) -> str:
            return text.upper()
    """,
}


async def test_llm_then_python_outputs_tokens_cost_and_store(workspace):
    root = workspace(LLM_AND_PYTHON)
    workspace.server.add_rule("France", "Paris")
    result = await run_flow(root / "flow", {})
    assert result.status == "completed", result.error
    assert result.outputs == {"answer": "PARIS", "raw": "Paris"}
    request = workspace.server.requests[0].body
    assert request["messages"] == [{"role": "system", "content": "You are terse."},
                                   {"role": "user", "content": "capital of France?"}]
    assert request["temperature"] == 0 and request["max_tokens"] == 50 and request["model"] == "gpt-4o-mini"
    assert result.tokens["completion"] == 1 and result.tokens["total"] > 1
    assert result.cost is not None and result.cost > 0  # gpt-4o-mini is priced in the catalog
    with RunStore(root / ".promptwise") as store:
        run = store.get_run(result.run)
        assert run.kind == "single" and run.status == "completed" and run.total_tokens == result.tokens["total"]
        assert [n.node for n in store.get_node_results(result.run)] == ["chat", "shout"]


async def test_given_inputs_override_defaults_and_cache_serves_repeat(workspace):
    root = workspace(LLM_AND_PYTHON)
    first = await run_flow(root / "flow", {"question": "hello"})
    second = await run_flow(root / "flow", {"question": "hello"})
    assert first.outputs["raw"] == second.outputs["raw"] == "echo: hello"
    assert workspace.server.stats.requests == 1  # the second came from the response cache
    assert second.cost == 0.0 and second.nodes[0].cache_hit
    await run_flow(root / "flow", {"question": "hello"}, use_cache=False)
    assert workspace.server.stats.requests == 2


ACTIVATE = {
    "flow/flow.dag.yaml": """
        inputs:
          kind: {type: string, default: a}
        outputs:
          a: {reference: "${branch_a.output}"}
          b: {reference: "${branch_b.output}"}
          joined: {reference: "${join.output}"}
          after_b: {reference: "${after_b.output}"}
        nodes:
        - name: classify
          type: python
          source: {type: code, path: tools.py}
          inputs: {kind: "${inputs.kind}"}
        - name: branch_a
          type: python
          source: {type: code, path: tools.py}
          inputs: {kind: "A"}
          activate: {when: "${classify.output}", is: a}
        - name: branch_b
          type: python
          source: {type: code, path: tools.py}
          inputs: {kind: "B"}
          activate: {when: "${classify.output}", is: b}
        - name: join
          type: python
          source: {type: code, path: join.py}
          inputs: {a: "${branch_a.output}", b: "${branch_b.output}"}
        - name: after_b
          type: python
          source: {type: code, path: tools.py}
          inputs: {kind: "${branch_b.output}"}
    """,
    "flow/tools.py": """
        from promptflow import tool

        @tool
        def echo(kind: str) -> str:
            return kind.lower()
    """,
    "flow/join.py": """
        from promptflow.core import tool

        @tool
        def join(a, b="default-b") -> str:
            return f"{a}|{b}"
    """,
}


@pytest.mark.parametrize("kind, expected", [
    # branch_b bypassed: join's `b` has a default, so the default applies; after_b (all deps bypassed) is bypassed
    ("a", {"a": "a", "b": None, "joined": "a|default-b", "after_b": None}),
    # branch_a bypassed: join's `a` has no default, so it receives None
    ("b", {"a": None, "b": "b", "joined": "None|b", "after_b": "b"}),
])
async def test_activate_bypass_semantics_follow_prompt_flow(workspace, kind, expected):
    root = workspace(ACTIVATE)
    result = await run_flow(root / "flow", {"kind": kind})
    assert result.status == "completed", result.error
    assert result.outputs == expected
    statuses = {n.node: n.status for n in result.nodes}
    assert statuses["branch_a" if kind == "b" else "branch_b"] == "skipped"


async def test_independent_llm_nodes_of_a_row_run_concurrently(workspace):
    root = workspace({
        "flow/flow.dag.yaml": """
            inputs: {question: {type: string}}
            outputs:
              one: {reference: "${first.output}"}
              two: {reference: "${second.output}"}
            nodes:
            - {name: first, type: llm, source: {type: code, path: chat.jinja2},
               inputs: {question: "one ${inputs.question}", model: gpt-4o-mini}, api: chat}
            - {name: second, type: llm, source: {type: code, path: chat.jinja2},
               inputs: {question: "${inputs.question}", model: gpt-4o-mini}, api: chat}
        """,
        "flow/chat.jinja2": CHAT_TEMPLATE,
    })
    workspace.server.latency = 0.3
    result = await run_flow(root / "flow", {"question": "q"})
    assert result.status == "completed", result.error
    # the first node's input is a literal (Prompt flow does not substitute inside longer strings)
    assert result.outputs == {"one": "echo: one ${inputs.question}", "two": "echo: q"}
    assert workspace.server.stats.peak_in_flight == 2


VARIANTS = {
    "flow/flow.dag.yaml": """
        inputs: {question: {type: string, default: x}}
        outputs:
          answer: {reference: "${summarize.output}"}
        nodes:
        - name: summarize
          use_variants: true
        node_variants:
          summarize:
            default_variant_id: variant_0
            variants:
              variant_0:
                node:
                  type: llm
                  source: {type: code, path: short.jinja2}
                  inputs: {question: "${inputs.question}", model: gpt-4o-mini}
                  api: chat
              variant_1:
                node:
                  type: llm
                  source: {type: code, path: long.jinja2}
                  inputs: {question: "${inputs.question}", model: gpt-4o}
                  api: chat
    """,
    "flow/short.jinja2": "user:\nshort {{question}}\n",
    "flow/long.jinja2": "user:\nlong {{question}}\n",
}


async def test_variants_default_and_chosen(workspace):
    root = workspace(VARIANTS)
    default = await run_flow(root / "flow", {})
    chosen = await run_flow(root / "flow", {}, {"summarize": "variant_1"})
    assert default.outputs == {"answer": "echo: short x"}
    assert chosen.outputs == {"answer": "echo: long x"}
    assert workspace.server.requests[-1].body["model"] == "gpt-4o"
    with RunStore(root / ".promptwise") as store:
        assert store.get_run(chosen.run).variants == {"summarize": "variant_1"}


async def test_unknown_variant_is_explained(workspace):
    root = workspace(VARIANTS)
    with pytest.raises(FlowError, match="unknown variant; choose one of variant_0, variant_1"):
        await run_flow(root / "flow", {}, {"summarize": "variant_9"})


async def test_aggregation_node_runs_once_with_lists_and_logs_metrics(workspace):
    root = workspace({
        "flow/flow.dag.yaml": """
            inputs: {n: {type: int, default: 2}}
            outputs:
              double: {reference: "${double.output}"}
            nodes:
            - {name: double, type: python, source: {type: code, path: double.py}, inputs: {n: "${inputs.n}"}}
            - {name: total, type: python, source: {type: code, path: total.py}, aggregation: true,
               inputs: {values: "${double.output}", inputs_seen: "${inputs.n}"}}
        """,
        "flow/double.py": "from promptflow.core import tool\n\n@tool\ndef double(n: int) -> int:\n    return n * 2\n",
        "flow/total.py": (
            "from promptflow.core import tool, log_metric\n\n@tool\n"
            "def total(values: list, inputs_seen: list):\n"
            "    log_metric('sum', sum(values))\n    log_metric('inputs', inputs_seen)\n    return sum(values)\n"),
    })
    result = await run_flow(root / "flow", {"n": "5"})  # text coerced to the declared int
    assert result.outputs == {"double": 10}
    assert result.metrics == {"sum": 10, "inputs": [5]}


async def test_python_error_fails_row_with_file_and_line(workspace):
    root = workspace({
        "flow/flow.dag.yaml": """
            inputs: {x: {type: string, default: a}}
            outputs: {y: {reference: "${boom.output}"}}
            nodes:
            - {name: boom, type: python, source: {type: code, path: boom.py}, inputs: {x: "${inputs.x}"}}
        """,
        "flow/boom.py": "from promptflow.core import tool\n\n@tool\ndef boom(x):\n    return 1 / 0\n",
    })
    result = await run_flow(root / "flow", {})
    assert result.status == "failed" and result.outputs is None
    assert "ZeroDivisionError" in result.error and "boom.py:5" in result.error and "`boom`" in result.error


@pytest.mark.parametrize("files, message", [
    ({"flow/flow.dag.yaml": """
        inputs: {}
        outputs: {}
        nodes:
        - {name: chat, type: llm, source: {type: code, path: missing.jinja2}, inputs: {model: m}, api: chat}
     """}, r"flow.dag.yaml:4: .*missing.jinja2 cannot be read"),
    ({"flow/flow.dag.yaml": """
        inputs: {}
        outputs: {}
        nodes:
        - {name: a, type: python, source: {type: code, path: t.py}, inputs: {x: "${b.output}"}}
        - {name: b, type: python, source: {type: code, path: t.py}, inputs: {x: "${a.output}"}}
     """, "flow/t.py": "from promptflow import tool\n@tool\ndef t(x):\n    return x\n"}, r"cycle \(a -> b -> a\)"),
    ({"flow/flow.dag.yaml": """
        inputs: {}
        outputs: {}
        nodes:
        - {name: a, type: python, source: {type: code, path: t.py}, inputs: {x: "${nope.output}"}}
     """, "flow/t.py": "from promptflow import tool\n@tool\ndef t(x):\n    return x\n"}, r"flow.dag.yaml:4: .*names no node"),
    ({"flow/flow.dag.yaml": """
        inputs: {}
        outputs: {}
        nodes:
        - {name: a, type: python, source: {type: code, path: t.py}, inputs: {}}
     """, "flow/t.py": "import not_a_real_module_xyz\nfrom promptflow import tool\n@tool\ndef t():\n    return 1\n"}, r"t.py: importing failed \(.*t.py:1\).*install 'not_a_real"),
])
async def test_flow_errors_before_any_row(workspace, files, message):
    root = workspace(files)
    with pytest.raises(FlowError, match=message):
        await run_flow(root / "flow", {})
    assert workspace.server.stats.requests == 0


async def test_missing_input_without_default(workspace):
    root = workspace({**LLM_AND_PYTHON, "flow/flow.dag.yaml": LLM_AND_PYTHON["flow/flow.dag.yaml"].replace(
        "{type: string, default: capital of France?}", "{type: string}")})
    with pytest.raises(FlowError, match="input `question` has no value and no default"):
        await run_flow(root / "flow", {})


def test_shim_only_when_promptflow_absent():
    # This environment has no promptflow; the shim provides the imports tools use.
    from promptwise.engine import shim

    shim.install()
    import promptflow
    from promptflow.core import log_metric, tool

    assert promptflow.__version__.endswith("promptwise-shim")
    assert tool(lambda x: x)(3) == 3 and callable(log_metric)
    assert importlib.util.find_spec("promptflow") is not None  # now resolvable through the shim


def test_real_promptflow_wins_over_the_shim(tmp_path):
    # A stand-in "installed" promptflow on the path: the shim must step aside.
    (tmp_path / "promptflow").mkdir()
    (tmp_path / "promptflow" / "__init__.py").write_text("REAL = True\n")
    code = ("from promptwise.engine import shim; active = shim.install(); import promptflow; "
            "print(active, getattr(promptflow, 'REAL', False))")
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert output.stdout.split() == ["False", "True"]


async def test_python_tool_receives_custom_connection_by_name(workspace, monkeypatch):
    monkeypatch.setenv("PW_SEARCH_KEY", "search-key-12345")
    root = workspace({
        "flow/flow.dag.yaml": """
            inputs: {}
            outputs: {found: {reference: "${search.output}"}}
            nodes:
            - {name: search, type: python, source: {type: code, path: search.py},
               inputs: {conn: my_search, query: hello}}
        """,
        "flow/search.py": """
            from promptflow.core import tool
            from promptflow.connections import CustomConnection

            @tool
            def search(conn: CustomConnection, query: str) -> str:
                return f"{conn.configs['endpoint']}?q={query}&key_len={len(conn.secrets['api_key'])}"
        """,
    })
    settings = (root / "promptwise.yaml").read_text()
    (root / "promptwise.yaml").write_text(settings + "  my_search: {type: custom, secrets: {api_key: '${env:PW_SEARCH_KEY}'},"
                                                     " configs: {endpoint: 'https://search.example'}}\n")
    result = await run_flow(root / "flow", {})
    assert result.outputs == {"found": "https://search.example?q=hello&key_len=16"}
    (root / "promptwise.yaml").write_text(settings)
    with pytest.raises(FlowError, match="connection `my_search`, which is not defined under `connections`"):
        await run_flow(root / "flow", {})
