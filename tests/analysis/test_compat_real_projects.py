"""Projects written the way Prompt flow and Prompty accept them: no false errors (issue 9
part 2), and the mistakes Prompt flow refuses at run time are caught.

Each case is a small project of our own making (files -> text), the file to check, and the
problems expected as (code, severity) pairs; an empty list means the project checks clean
apart from information-level notes.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from promptwise.analysis import analyze
from promptwise.analysis.problem import Severity

E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFORMATION


def _write(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def _problems(root, files: dict[str, str], target: str, include_information: bool = False):
    _write(root, files)
    found = analyze(root / target)
    return sorted(
        (p.code, p.severity) for p in found
        if include_information or p.severity in (Severity.ERROR, Severity.WARNING)
    )


def _front(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


CHAT_BODY = """
system:
You answer questions about trains.
user:
{{question}}
"""

PROMPTY_CASES = [
    pytest.param(
        {"a.prompty": _front("""
            ---
            model:
              api: chat
              configuration: {type: openai, model: gpt-4o-mini}
            sample:
              question: When does the last train leave?
            ---""") + CHAT_BODY},
        [], id="inputs-from-sample-mapping",
    ),
    pytest.param(
        {"a.prompty": _front("""
            ---
            model:
              api: chat
              configuration: {type: openai, model: gpt-4o-mini}
            sample: ${file:sample.json}
            ---""") + CHAT_BODY,
         "sample.json": '{"question": "Is there a dining car?"}'},
        [], id="inputs-from-sample-file",
    ),
    pytest.param(
        {"a.prompty": _front("""
            ---
            model:
              api: chat
              configuration: {type: openai, model: gpt-4o-mini}
            sample:
              questoin: typo in the sample
            ---""") + CHAT_BODY},
        [("PW403", E)], id="sample-keys-are-the-inputs-so-a-typo-is-still-caught",
    ),
    pytest.param(
        {"a.prompty": _front("""
            ---
            model:
              api: chat
              configuration: {type: openai, model: gpt-4o-mini}
            ---""") + CHAT_BODY},
        [], id="neither-inputs-nor-sample-passes-inputs-through",
    ),
    pytest.param(
        {"a.prompty": _front("""
            ---
            model:
              api: chat
              configuration:
                type: azure_openai
                azure_deployment: gpt-4o
            inputs:
              question: {type: string}
            ---""") + CHAT_BODY},
        [], id="azure-endpoint-from-environment-is-not-a-warning",
    ),
]


@pytest.mark.parametrize(("files", "expected"), PROMPTY_CASES)
def test_prompty_projects(tmp_path, files, expected):
    assert _problems(tmp_path, files, "a.prompty") == sorted(expected)


def test_azure_endpoint_from_environment_is_information(tmp_path):
    files = PROMPTY_CASES[-1].values[0]
    assert _problems(tmp_path, files, "a.prompty", include_information=True) == [("PW505", I)]


PROMPT_INPUT_FLOW = """
inputs:
  question: {type: string, default: Which platform?}
outputs:
  answer:
    type: string
    reference: ${answer.output}
nodes:
- name: build
  type: prompt
  source: {type: code, path: build.jinja2}
  inputs:
    question: ${inputs.question}
- name: answer
  type: llm
  source: {type: code, path: unused.jinja2}
  inputs:
    deployment_name: gpt-4o
    prompt: ${build.output}
  connection: azure_open_ai_connection
  api: chat
"""

DAG_CASES = [
    pytest.param(
        {"flow.dag.yaml": PROMPT_INPUT_FLOW,
         "build.jinja2": "system:\nAnswer.\nuser:\n{{question}}\n",
         "unused.jinja2": "system:\n{{something_else}}\n"},
        [], id="llm-prompt-input-replaces-the-template-file",
    ),
]



def _python_flow(code_path: str, extra_nodes: str = "", includes: str = "") -> str:
    return f"""
inputs:
  text: {{type: string, default: hello}}
outputs:
  out:
    type: string
    reference: ${{shape.output.label}}
nodes:
- name: shape
  type: python
  source: {{type: code, path: {code_path}}}
  inputs:
    text: ${{inputs.text}}
{extra_nodes}{includes}"""


SHAPE_TOOL = """
from promptflow import tool


@tool
def shape(text: str) -> str:
    result = {"label": text.upper()}
    return result
"""

AGGREGATE = """
- name: grade
  type: python
  source: {type: code, path: grade.py}
  inputs:
    labels: ${shape.output.label}
  aggregation: true
"""

GRADE_TOOL = """
from promptflow import log_metric, tool


@tool
def grade(labels: list):
    for name in ("gpt_groundedness_score", "gpt_relevance_score"):
        log_metric(key=name, value=1.0)
    log_metric(key="gpt_coherence_pass_rate_value", value=0.5)
"""

DAG_CASES += [
    pytest.param({"flow/flow.dag.yaml": _python_flow("shape.py", includes="additional_includes:\n- ../shared/shape.py\n"),
                  "shared/shape.py": SHAPE_TOOL, ".git/HEAD": "ref: refs/heads/main\n"},
                 [], id="source-file-from-an-additional-include-file"),
    pytest.param({"flow/flow.dag.yaml": _python_flow("tools/shape.py", includes="additional_includes:\n- ../lib/tools\n"),
                  "lib/tools/shape.py": SHAPE_TOOL, ".git/HEAD": "ref: refs/heads/main\n"},
                 [], id="source-file-from-an-additional-include-folder"),
    pytest.param({"flow/flow.dag.yaml": _python_flow("shape.py", includes="additional_includes:\n- ../env/requirements\n"
                                                     "environment:\n  python_requirements_txt: requirements\n"),
                  "flow/shape.py": SHAPE_TOOL, "env/requirements": "requests\n", ".git/HEAD": "ref: refs/heads/main\n"},
                 [], id="requirements-file-from-an-additional-include"),
    pytest.param({"flow/flow.dag.yaml": _python_flow("shape.py"), "flow/shape.py": SHAPE_TOOL},
                 [], id="str-annotation-but-the-code-returns-a-dict"),
    pytest.param({"flow/flow.dag.yaml": _python_flow("shape.py"),
                  "flow/shape.py": SHAPE_TOOL.replace("    result = {\"label\": text.upper()}\n    return result",
                                                       "    return text.upper()")},
                 [("PW203", E)], id="str-annotation-and-a-str-return-is-still-an-error"),
    pytest.param({"flow/flow.dag.yaml": _python_flow("shape.py", AGGREGATE), "flow/shape.py": SHAPE_TOOL,
                  "flow/grade.py": GRADE_TOOL},
                 [], id="log-metric-key-is-not-a-secret"),
]


@pytest.mark.parametrize(("files", "expected"), DAG_CASES)
def test_flow_projects(tmp_path, files, expected):
    target = "flow/flow.dag.yaml" if "flow/flow.dag.yaml" in files else "flow.dag.yaml"
    assert _problems(tmp_path, files, target) == sorted(expected)


FORMAT_CASES = [
    pytest.param({"a.prompty": _front("""
        ---
        model:
          id: gpt-4o
          provider: openai
          apiType: responses
          connection: {kind: key, endpoint: '${env:OPENAI_BASE_URL}', apiKey: '${env:OPENAI_API_KEY}'}
        inputs:
          - name: question
            kind: string
        template: {format: jinja2, parser: prompty}
        ---""") + CHAT_BODY}, "a.prompty", [], id="prompty2-responses-api"),
    pytest.param({"a.prompty": "You write haiku about {{topic}}.\n"}, "a.prompty", [],
                 id="prompty2-body-only"),
    pytest.param({"flow.dag.yaml": _front("""
        language: csharp
        inputs:
          question: {type: string}
        outputs:
          answer:
            type: string
            reference: ${answer.output}
        nodes:
        - name: answer
          type: csharp
          source: {type: package, tool: (Basic)Basic.Flow.HelloWorld}
          inputs:
            question: ${inputs.question}
        """)}, "flow.dag.yaml", [], id="csharp-flow"),
    pytest.param({"flow.dag.yaml": "entry: echo:echo\n", "echo.py": "def echo(text: str):\n    return text\n"},
                 "flow.dag.yaml", [], id="entry-in-flow-dag-yaml-is-a-flex-flow"),
    pytest.param({"flow.dag.yaml": "entry: echo:echo\n", "echo.py": "def eco(text: str):\n    return text\n"},
                 "flow.dag.yaml", [("PW305", E)], id="entry-in-flow-dag-yaml-is-checked-as-flex"),
    pytest.param({"a.prompty": _front("""
        ---
        description: ${file:description.md}
        model:
          api: chat
          configuration: {type: openai, model: gpt-4o-mini}
          parameters:
            response_format: ${file:format.json}
        inputs:
          question: {type: string}
        sample: ${file:sample.json}
        ---""") + CHAT_BODY,
        "description.md": "Answers.", "format.json": '{"type": "json_object"}', "sample.json": '{"question": "q"}'},
        "a.prompty", [], id="file-references-anywhere-in-front-matter"),
]


FORMAT_CASES += [
    pytest.param({"a.prompty": _front("""
        ---
        model:
          api: chat
          configuration: ${file:configuration.json}
          parameters:
            max_tokens: 128
            tools: ${file:tools.json}
        sample: ${file:sample.json}
        ---""") + CHAT_BODY,
        "configuration.json": '{"type": "azure_openai", "azure_deployment": "gpt-4o", "connection": "c"}',
        "tools.json": "[]", "sample.json": '{"question": "q"}'},
        "a.prompty", [], id="whole-sections-as-file-references"),
    pytest.param({"a.prompty": _front("""
        ---
        model:
          api: chat
          configuration:
            type: azure_open_ai
            azure_deployment: gpt-4o
            connection: azure_open_ai_connection
        inputs:
          question: {type: string}
        ---""") + CHAT_BODY},
        "a.prompty", [("PW505", W)], id="configuration-type-beside-a-connection-is-ignored-so-a-warning"),
    pytest.param({"a.prompty": _front("""
        ---
        model:
          api: chat
          configuration:
            type: azure_openai
            azure_deployment: ${env:MY_DEPLOYMENT}
            azure_endpoint: ${env:MY_ENDPOINT}
        inputs:
          question: {type: string}
        ---""") + CHAT_BODY},
        "a.prompty", [], id="deployment-from-the-environment-is-not-a-catalog-miss"),
]


@pytest.mark.parametrize(("files", "target", "expected"), FORMAT_CASES)
def test_formats_read_as_written(tmp_path, files, target, expected):
    assert _problems(tmp_path, files, target) == sorted(expected)


@pytest.mark.parametrize(("index", "code"), [(1, "PW105"), (2, "PW108")])
def test_formats_we_do_not_run_are_information(tmp_path, index, code):
    files, target, _ = FORMAT_CASES[index].values
    assert _problems(tmp_path, files, target, include_information=True) == [(code, I)]


def _llm_flow(node_extra: str = "  connection: azure_open_ai_connection\n  api: chat\n", source: str = "") -> str:
    return _front("""
        inputs:
          question: {type: string, default: hi}
        outputs:
          answer:
            type: string
            reference: ${answer.output}
        nodes:
        - name: answer
          type: llm
          source: {type: code, path: answer.jinja2}
          inputs:
            deployment_name: gpt-4o
            question: ${inputs.question}
        """) + node_extra + source


ANSWER = "system:\nAnswer.\nuser:\n{{question}}\n"
PACKAGE_NODE = _front("""
    - name: search
      type: python
      source: {type: package, tool: TOOL}
      inputs:
        query: ${inputs.question}
    """)

CATCH_CASES = [
    pytest.param({"flow.dag.yaml": _llm_flow(), "answer.jinja2": ANSWER}, [], id="valid-llm-node"),
    pytest.param({"flow.dag.yaml": _llm_flow("  connection: azure_open_ai_connection\n  api: chta\n"),
                  "answer.jinja2": ANSWER}, [("PW106", E)], id="invalid-api-value"),
    pytest.param({"flow.dag.yaml": _llm_flow("  api: chat\n"), "answer.jinja2": ANSWER}, [("PW217", E)],
                 id="llm-node-without-connection"),
    pytest.param({"flow.dag.yaml": _llm_flow("  api: chat\n"), "answer.jinja2": ANSWER,
                  "promptwise.yaml": "defaults: {connection: local}\nconnections:\n  local: {type: openai, api_key: '${env:K}'}\n"},
                 [("PW217", W)], id="llm-node-without-connection-uses-the-workspace-default"),
    pytest.param({"flow.dag.yaml": _llm_flow(source=PACKAGE_NODE.replace("TOOL", "promptflow.tools.serpapy.SerpAPI.search")),
                  "answer.jinja2": ANSWER}, [("PW207", W), ("PW309", E)], id="unknown-promptflow-package-tool"),
    pytest.param({"flow.dag.yaml": _llm_flow(source=PACKAGE_NODE.replace("TOOL", "promptflow.tools.serpapi.SerpAPI.search")),
                  "answer.jinja2": ANSWER}, [("PW207", W)], id="known-promptflow-package-tool"),
    pytest.param({"flow.dag.yaml": _llm_flow(source=PACKAGE_NODE.replace("TOOL", "my_company_tools.search.search")),
                  "answer.jinja2": ANSWER}, [("PW207", W)], id="another-package-may-be-installed-where-it-runs"),
    pytest.param({"flow.dag.yaml": _llm_flow(), "answer.jinja2": ANSWER, "flow.flex.yaml": "entry: echo:echo\n",
                  "echo.py": "def echo(text: str):\n    return text\n"},
                 [("PW109", E)], id="two-flow-files-in-one-folder"),
]


@pytest.mark.parametrize(("files", "expected"), CATCH_CASES)
def test_check_catches_what_prompt_flow_refuses(tmp_path, files, expected):
    assert _problems(tmp_path, files, "flow.dag.yaml") == sorted(expected)


VARIANT_TOOL = """
from promptflow import tool


@tool
def get_val(key, conn: str = "x"):
    return {"value": str(key)}
"""

VARIANTS_FLOW = _front("""
    inputs:
      key: {type: object}
    outputs:
      output:
        type: string
        reference: ${print_val.output.value}
    nodes:
    - name: print_val
      use_variants: true
      type: python
      source: {type: code, path: print_val.py}
    node_variants:
      print_val:
        default_variant_id: variant1
        variants:
          variant1:
            node:
              type: python
              source: {type: code, path: print_val.py}
              inputs:
                key: ${inputs.key}
    """)

LENIENT_CASES = [
    pytest.param({"flow.dag.yaml": VARIANTS_FLOW, "print_val.py": VARIANT_TOOL}, [],
                 id="use-variants-node-is-checked-with-the-variant-inputs"),
    pytest.param({"flow.dag.yaml": re.sub(r"\n +inputs:\n +key: \$\{inputs.key\}", "", VARIANTS_FLOW),
                  "print_val.py": VARIANT_TOOL}, [("PW206", W), ("PW307", E)],
                 id="the-variant-itself-missing-an-input-is-still-an-error"),
    pytest.param({"flow.dag.yaml": VARIANTS_FLOW.replace("path: print_val.py}", "path: print_val.py, package: x.y}", 1),
                  "print_val.py": VARIANT_TOOL}, [("PW103", W)],
                 id="unknown-key-is-a-warning-as-prompt-flow-ignores-it"),
]


@pytest.mark.parametrize(("files", "expected"), LENIENT_CASES)
def test_warnings_in_prompt_flow_are_not_errors_here(tmp_path, files, expected):
    assert _problems(tmp_path, files, "flow.dag.yaml") == sorted(expected)


PROMPTY2_SCHEMA = _front("""
    ---
    name: basic-prompt
    model:
      id: gpt-4o-mini
      provider: openai
      apiType: chat
    inputSchema:
      properties:
        - name: firstName
          kind: string
          default: Jane
        - name: question
          kind: string
    template:
      format:
        kind: FORMAT
      parser:
        kind: prompty
    ---
    system:
    You help {{firstName}}.
    user:
    {{questoin}}
    """)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(PROMPTY2_SCHEMA.replace("FORMAT", "jinja2"), [("PW403", E)],
                     id="prompty2-input-schema-declares-the-inputs"),
        pytest.param(PROMPTY2_SCHEMA.replace("FORMAT", "mustache"), [],
                     id="prompty2-template-format-kind-is-read"),
        pytest.param(PROMPTY2_SCHEMA.replace("FORMAT", "jinja2").replace(
            "inputSchema:\n  properties:\n    - name: firstName\n      kind: string\n      default: Jane\n"
            "    - name: question\n      kind: string\n", "inputSchema: ${file:schema.json}\n"), [],
                     id="prompty2-input-schema-from-a-file-passes-inputs-through"),
    ],
)
def test_prompty2_schema(tmp_path, text, expected):
    found = _problems(tmp_path, {"a.prompty": text, "schema.json": "{}"}, "a.prompty")
    assert [p for p in found if p[0] != "PW404"] == expected


PROMPTY1_CASES = [
    pytest.param({"a.prompty": _front("""
        ---
        model:
          api: chat
          connection: {azure_deployment: gpt-4o}
        inputs: ${file:values.json}
        ---
        system:
        Help {{customer.firstName}}.
        user:
        {{question}}
        """), "values.json": '{"customer": {"firstName": "Ann"}, "question": "q"}'},
        [], id="prompty1-inputs-from-a-values-file"),
    pytest.param({"a.prompty": _front("""
        ---
        model:
          api: chat
          connection: {azure_deployment: gpt-4o}
        inputs: ${file:values.json}
        ---
        system:
        Help.
        user:
        {{questoin}}
        """), "values.json": '{"question": "q"}'},
        [("PW403", E)], id="prompty1-values-file-keys-still-catch-a-typo"),
    pytest.param({"a.prompty": _front("""
        ---
        model:
          api: embedding
          connection: {type: azure, azure_deployment: text-embedding-3-small}
        inputs:
          text: embedding text
        ---
        {{text}}""")}, [], id="prompty1-embedding-api-has-no-roles"),
    pytest.param({"a.prompty": _front("""
        ---
        model:
          api: chat
          configuration: {type: openai, model: gpt-4o-mini}
        inputs:
          question:
            type: string
            internal: true
        ---""") + CHAT_BODY}, [("PW103", W)], id="unknown-input-key-is-a-warning"),
    pytest.param({"a.prompty": _front("""
        ---
        model:
          api: chat
          configuration: {type: openai, model: gpt-4o-mini}
        inputs:
          name: {type: string, default: Ann}
        sample:
          name: Ann
          question: Only in the sample?
        ---
        system:
        Help {{name}}.
        user:
        {{question}}
        """)}, [("PW403", W), ("PW507", W)], id="variable-only-in-the-sample-is-a-warning"),
]


@pytest.mark.parametrize(("files", "expected"), PROMPTY1_CASES)
def test_prompty1_files(tmp_path, files, expected):
    assert _problems(tmp_path, files, "a.prompty") == sorted(expected)
