"""Structural facts about the example flows in flows/ and the valid-format corpus in tests/corpus/.

These are the fixtures that demos, docs and other tests rely on: every file they reference must
exist, every reference must resolve, the datasets must parse and carry the labels the evaluations
need, and `promptwise check` must find nothing wrong with them.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from flowfiles import CORPUS, FLOWS, REPO
from flowfiles import (
    LLM_PARAMETERS,
    all_nodes,
    dag_files,
    flex_files,
    load_yaml,
    parameters,
    prompty_files,
    read_jsonl,
    references,
    split_prompty,
    template_variables,
    tool_function,
)

DAGS = dag_files(FLOWS, CORPUS)
FLEXES = flex_files(CORPUS)
PROMPTIES = prompty_files(FLOWS, CORPUS)
# Data files the projects ship; `.promptwise/` holds run outputs (the demo writes some there).
DATASETS = sorted(
    path for root in (FLOWS, CORPUS) for path in root.rglob("*.jsonl") if ".promptwise" not in path.parts
)


def _id(path: Path) -> str:
    return str(path.relative_to(REPO))


# ----- flow.dag.yaml ---------------------------------------------------------------------------


def test_the_examples_and_corpus_are_all_there():
    assert (FLOWS / "log-triage" / "flow.dag.yaml") in DAGS
    assert (FLOWS / "report-assistant" / "flow.dag.yaml") in DAGS
    assert (FLOWS / "claim-summary.prompty") in PROMPTIES
    assert len([d for d in DAGS if CORPUS in d.parents]) >= 10
    assert len(FLEXES) >= 3


@pytest.mark.parametrize("dag", DAGS, ids=_id)
def test_dag_referenced_files_exist(dag: Path):
    flow = load_yaml(dag)
    folder = dag.parent
    for node in all_nodes(flow):
        source = node["source"]
        if source["type"] in ("code", "package_with_prompt"):
            assert (folder / source["path"]).is_file(), f"{node['name']}: {source['path']} is missing"
        else:
            assert source["type"] == "package" and source["tool"], node
    environment = flow.get("environment") or {}
    if "python_requirements_txt" in environment:
        assert (folder / environment["python_requirements_txt"]).is_file()
    for include in flow.get("additional_includes") or []:
        assert (folder / include).exists(), f"additional include {include} is missing"


@pytest.mark.parametrize("dag", DAGS, ids=_id)
def test_dag_references_resolve(dag: Path):
    flow = load_yaml(dag)
    inputs = set(flow.get("inputs") or {})
    nodes = {node["name"] for node in flow.get("nodes") or []}
    aggregation = {node["name"] for node in flow.get("nodes") or [] if node.get("aggregation")}
    used_inputs, used_nodes = set(), set()

    def check(reference: str, where: str) -> None:
        head, _, rest = reference.partition(".")
        if head in ("inputs", "flow"):
            assert rest in inputs, f"{where}: ${{{reference}}} names no flow input"
            used_inputs.add(rest)
        else:
            assert head in nodes, f"{where}: ${{{reference}}} names no node"
            assert rest == "" or rest == "output" or rest.startswith("output."), f"{where}: ${{{reference}}}"
            used_nodes.add(head)

    for node in all_nodes(flow):
        for reference in references(node.get("inputs") or {}):
            check(reference, node["name"])
            assert reference.split(".")[0] != node["name"], f"{node['name']} refers to itself"
        activate = node.get("activate")
        if activate:
            assert set(activate) == {"when", "is"}
            for reference in references(activate["when"]):
                check(reference, f"{node['name']}.activate")
    for name, output in (flow.get("outputs") or {}).items():
        for reference in references(output["reference"]):
            check(reference, f"outputs.{name}")
            assert reference.split(".")[0] not in aggregation, "flow outputs cannot come from aggregation nodes"

    assert used_inputs == inputs, f"unused flow inputs: {inputs - used_inputs}"
    assert nodes - aggregation <= used_nodes, f"nodes whose output nobody uses: {nodes - aggregation - used_nodes}"


@pytest.mark.parametrize("dag", DAGS, ids=_id)
def test_dag_python_nodes_match_their_tool_function(dag: Path):
    for node in all_nodes(load_yaml(dag)):
        if node["type"] != "python" or node["source"]["type"] != "code":
            continue
        accepted, required, takes_kwargs = parameters(tool_function(dag.parent / node["source"]["path"]))
        given = set(node.get("inputs") or {})
        assert takes_kwargs or given <= accepted, f"{node['name']}: the tool does not take {given - accepted}"
        assert required <= given, f"{node['name']}: required parameters not supplied: {required - given}"


@pytest.mark.parametrize("dag", DAGS, ids=_id)
def test_dag_templates_use_exactly_what_their_node_provides(dag: Path):
    for node in all_nodes(load_yaml(dag)):
        if node["type"] not in ("llm", "prompt", "custom_llm") or "path" not in node["source"]:
            continue
        variables = template_variables(dag.parent / node["source"]["path"])
        given = set(node.get("inputs") or {})
        assert variables <= given, f"{node['name']}: template variables not provided: {variables - given}"
        if node["source"]["type"] == "code":  # a package tool may take other inputs itself
            unused = given - variables - LLM_PARAMETERS
            assert not unused, f"{node['name']}: inputs the template never uses: {unused}"


@pytest.mark.parametrize("dag", DAGS, ids=_id)
def test_llm_templates_start_with_a_role_line(dag: Path):
    role = re.compile(r"^\s*#?\s*(system|user|assistant):\s*$", re.M)
    for node in all_nodes(load_yaml(dag)):
        if node["type"] in ("llm", "custom_llm") and "path" in node["source"]:
            text = (dag.parent / node["source"]["path"]).read_text(encoding="utf-8")
            first = text.lstrip().splitlines()[0]
            assert role.match(first), f"{node['name']}: the template must open with a role line, got {first!r}"
            assert "user:" in text


@pytest.mark.parametrize("dag", DAGS, ids=_id)
def test_variants_are_complete(dag: Path):
    flow = load_yaml(dag)
    for node in flow.get("nodes") or []:
        if node.get("use_variants"):
            variants = flow["node_variants"][node["name"]]
            assert variants["default_variant_id"] in variants["variants"]
            assert len(variants["variants"]) >= 2


# ----- Python tool files -----------------------------------------------------------------------


TOOL_FILES = sorted(p for root in (FLOWS, CORPUS) for p in root.rglob("*.py"))


@pytest.mark.parametrize("path", TOOL_FILES, ids=_id)
def test_tool_files_import_promptflow_plainly(path: Path):
    """No try/except around promptflow imports: running without promptflow is the shim's job."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            for inner in ast.walk(node):
                if isinstance(inner, (ast.Import, ast.ImportFrom)):
                    module = inner.module if isinstance(inner, ast.ImportFrom) else inner.names[0].name
                    assert not (module or "").startswith("promptflow"), f"{path}: guarded promptflow import"


@pytest.mark.parametrize("path", TOOL_FILES, ids=_id)
def test_tool_files_load_through_the_shim(path: Path, tool_module):
    module = tool_module(path)
    assert any(callable(value) for name, value in vars(module).items() if not name.startswith("_"))


# ----- flex flows ------------------------------------------------------------------------------


@pytest.mark.parametrize("flex", FLEXES, ids=_id)
def test_flex_entry_and_sample_exist(flex: Path):
    flow = load_yaml(flex)
    module_name, _, attribute = flow["entry"].partition(":")
    source = flex.parent / (module_name.replace(".", "/") + ".py")
    assert source.is_file(), f"entry module {module_name} is missing"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    definitions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert attribute in definitions, f"{flow['entry']}: no {attribute} in {source.name}"
    entry = definitions[attribute]
    if isinstance(entry, ast.ClassDef):
        methods = {n.name: n for n in entry.body if isinstance(n, ast.FunctionDef)}
        assert "__call__" in methods
        call_params = parameters(methods["__call__"])
        init_params = parameters(methods["__init__"]) if "__init__" in methods else (set(), set(), False)
    else:
        call_params, init_params = parameters(entry), (set(), set(), False)
    sample = flow.get("sample")
    if isinstance(sample, str):
        match = re.fullmatch(r"\$\{file:(.+)\}", sample)
        assert match, sample
        sample = json.loads((flex.parent / match.group(1)).read_text(encoding="utf-8"))
    if sample:
        sample_inputs = sample.get("inputs", {}) if "inputs" in sample or "init" in sample else sample
        assert call_params[1] <= set(sample_inputs) <= call_params[0]
        if "init" in sample:
            assert init_params[1] <= set(sample["init"]) <= init_params[0]
    for name in flow.get("inputs") or {}:
        assert name in call_params[0], f"declared input {name} is not a parameter of the entry"
    for name in flow.get("init") or {}:
        assert name in init_params[0], f"declared init {name} is not a parameter of __init__"


# ----- prompty ---------------------------------------------------------------------------------


def _prompty_input_names(front: dict) -> tuple[set[str], set[str]]:
    """(all input names, those without a default) for both prompty shapes."""
    inputs = front.get("inputs") or {}
    if isinstance(inputs, list):  # Prompty spec: a list of {name, kind, default, sample}
        return {i["name"] for i in inputs}, {i["name"] for i in inputs if "default" not in i}
    return set(inputs), {name for name, spec in inputs.items() if not (spec or {}).get("default") is not None}


@pytest.mark.parametrize("prompty", PROMPTIES, ids=_id)
def test_prompty_is_complete(prompty: Path):
    front, body = split_prompty(prompty)
    model = front["model"]
    assert "api" in model or "id" in model, "a model needs `api` (Prompt flow) or `id` (Prompty spec)"
    assert re.search(r"^\s*#?\s*system:\s*$", body, re.M) and re.search(r"^\s*#?\s*user:\s*$", body, re.M)
    names, _ = _prompty_input_names(front)
    environment = __import__("jinja2").Environment()
    variables = __import__("jinja2").meta.find_undeclared_variables(environment.parse(body))
    assert variables <= names, f"template variables without an input: {variables - names}"
    assert names <= variables, f"inputs the template never uses: {names - variables}"
    for text in re.findall(r"\$\{file:([^}]+)\}", prompty.read_text(encoding="utf-8")):
        assert (prompty.parent / text).is_file(), f"${{file:{text}}} is missing"
    sample = front.get("sample")
    if isinstance(sample, str) and not sample.startswith("${"):
        assert (prompty.parent / sample).is_file()
    for key in ("api_key", "apiKey"):
        for value in re.findall(rf"{key}:\s*(\S+)", prompty.read_text(encoding="utf-8")):
            assert value.startswith("${env:"), f"{key} must come from the environment, not be written in"


# ----- datasets --------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", DATASETS, ids=_id)
def test_datasets_parse_with_consistent_columns(dataset: Path):
    rows = read_jsonl(dataset)
    assert len(rows) >= 5
    columns = set(rows[0])
    for number, row in enumerate(rows, start=1):
        assert set(row) == columns, f"{dataset.name} row {number} has columns {sorted(row)}"


def _flow_inputs_without_default(dag: Path) -> set[str]:
    return {name for name, spec in (load_yaml(dag).get("inputs") or {}).items() if "default" not in spec}


@pytest.mark.parametrize(
    "dataset, dag",
    [
        (FLOWS / "log-triage" / "data.jsonl", FLOWS / "log-triage" / "flow.dag.yaml"),
        (FLOWS / "report-assistant" / "data.jsonl", FLOWS / "report-assistant" / "flow.dag.yaml"),
        (CORPUS / "dag_aggregation" / "data.jsonl", CORPUS / "dag_aggregation" / "flow.dag.yaml"),
    ],
    ids=lambda p: p.parent.name + "/" + p.name,
)
def test_dataset_rows_feed_the_flow(dataset: Path, dag: Path):
    inputs = set(load_yaml(dag)["inputs"])
    for row in read_jsonl(dataset):
        assert _flow_inputs_without_default(dag) <= set(row)
        assert len(inputs & set(row)) >= 2, "the dataset should vary the flow's main inputs"


def test_claim_summary_dataset_feeds_the_prompty():
    front, _ = split_prompty(FLOWS / "claim-summary.prompty")
    inputs = front["inputs"]
    required = {name for name, spec in inputs.items() if "default" not in spec}
    rows = read_jsonl(FLOWS / "claim-summary.data.jsonl")
    assert len(rows) >= 5
    for row in rows:
        assert required <= set(row) <= set(inputs) | {"must_mention"}
        assert isinstance(row["adjuster_notes"], list)


# ----- log-triage ------------------------------------------------------------------------------


def test_log_triage_dataset_is_labelled_over_every_category(tool_module):
    taxonomy = tool_module(FLOWS / "log-triage" / "taxonomy.py").load_taxonomy(include_signals=False)
    predefined = {category["name"] for category in taxonomy}
    assert len(predefined) == 3
    rows = read_jsonl(FLOWS / "log-triage" / "data.jsonl")
    counts = Counter(row["expected_category"] for row in rows)
    assert len(rows) >= 50
    assert set(counts) == predefined | {"new"}
    assert min(counts.values()) >= 5, counts
    assert len({row["log_id"] for row in rows}) == len(rows)
    for row in rows:
        assert re.match(r"^\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}", row["log_text"]), row["log_id"]
        hint = row["proposed_category_hint"]
        if row["expected_category"] == "new":
            assert re.fullmatch(r"[a-z][a-z0-9_]+", hint) and hint not in predefined, row["log_id"]
        else:
            assert hint == "", row["log_id"]


@pytest.mark.parametrize(
    "answer, expected",
    [
        ('```json\n{"category": "Data Quality", "confidence": 92, "evidence": "vin"}\n```',
         {"category": "data_quality", "is_new": False, "confidence": 0.92, "valid": True}),
        ('{"category": "integration_failure", "confidence": 0.8}',
         {"category": "integration_failure", "proposed_category": None, "valid": True}),
        ('{"category": "new", "proposed_category": "capacity_performance", "confidence": 0.7}',
         {"category": "new", "is_new": True, "proposed_category": "capacity_performance"}),
        ('{"category": "batch_scheduling"}',  # invented name instead of "new": kept as the proposal
         {"category": "new", "is_new": True, "proposed_category": "batch_scheduling"}),
        ('{"category": "new", "proposed_category": "Access-Control"}',  # "new" but already known
         {"category": "access_control", "is_new": False, "proposed_category": None}),
        ("I think this is an integration problem.",
         {"category": "unclassified", "is_new": False, "valid": False}),
        ('{"category": "???", "evidence": "x"}', {"category": "unclassified", "valid": False}),
        ('{"category": "new"}', {"category": "new", "is_new": True, "valid": False}),
    ],
)
def test_parse_classification(tool_module, answer, expected):
    folder = FLOWS / "log-triage"
    taxonomy = tool_module(folder / "taxonomy.py").load_taxonomy()
    result = tool_module(folder / "parse_classification.py").parse_classification(answer, taxonomy)
    assert {key: result[key] for key in expected} == expected
    assert 0.0 <= result["confidence"] <= 1.0


# ----- report-assistant ------------------------------------------------------------------------

INDICATORS = ("gross_written_premium", "combined_ratio", "solvency_ratio", "net_income", "return_on_equity")


def test_every_expected_figure_is_retrieved_and_survives_validation(tool_module):
    """With a perfect extractor, the flow's python nodes return exactly the labelled figures."""
    folder = FLOWS / "report-assistant"
    retrieve = tool_module(folder / "retrieve.py").retrieve
    validate = tool_module(folder / "validate_indicators.py").validate_indicators
    top_k = load_yaml(folder / "flow.dag.yaml")["inputs"]["top_k"]["default"]
    for row in read_jsonl(folder / "data.jsonl"):
        passages = retrieve(row["question"], row["company"], row["period"], top_k)["passages"]
        extraction = {"indicators": {name: {"value": row[f"expected_{name}"]} for name in INDICATORS}}
        result = validate(json.dumps(extraction), passages)
        assert {name: result[name] for name in INDICATORS} == {n: row[f"expected_{n}"] for n in INDICATORS}, row
        assert result["complete"] and result["warnings"] == []


def test_validation_drops_figures_the_passages_do_not_support(tool_module):
    folder = FLOWS / "report-assistant"
    passages = tool_module(folder / "retrieve.py").retrieve("key figures", "Northbridge Mutual Group", "FY2025")["passages"]
    extraction = {
        "indicators": {
            "gross_written_premium": {"value": "EUR 6,842m"},
            "combined_ratio": {"value": 0.941, "unit": ""},  # a fraction becomes a percentage
            "solvency_ratio": {"value": 950, "unit": "%"},  # implausible
            "net_income": {"value": 515, "unit": "EUR m"},  # not in the documents
            "return_on_equity": {"value": None},
        }
    }
    result = tool_module(folder / "validate_indicators.py").validate_indicators(
        "```json\n" + json.dumps(extraction) + "\n```", passages
    )
    assert (result["gross_written_premium"], result["combined_ratio"]) == (6842.0, 94.1)
    assert result["solvency_ratio"] is result["net_income"] is result["return_on_equity"] is None
    assert [w.split(":")[0] for w in result["warnings"]] == ["solvency_ratio", "net_income", "return_on_equity"]
    assert not result["complete"]


@pytest.mark.parametrize(
    "company, question, heading",
    [
        ("Meridian Assurance", "How is the turnaround going?", "Meridian Assurance"),
        ("Kestrel General", "Why is it so profitable?", "Kestrel General"),
        ("Aldercrest Insurance SE", "What happened to its solvency after the buy-back?", "Aldercrest Insurance SE"),
        ("Northbridge Mutual Group", "How did the year go?", "Key figures FY2025"),
    ],
)
def test_bm25_puts_the_company_passage_first(tool_module, company, question, heading):
    result = tool_module(FLOWS / "report-assistant" / "retrieve.py").retrieve(question, company, "FY2025", 3)
    assert result["passages"][0]["heading"] == heading
    scores = [p["score"] for p in result["passages"]]
    assert scores == sorted(scores, reverse=True)
    chosen = {(p["source"], p["heading"]) for p in result["passages"]}
    assert not chosen & {(p["source"], p["heading"]) for p in result["peer_passages"]}


# ----- eval.yaml and workspace settings --------------------------------------------------------

EVAL_FILES = sorted(FLOWS.rglob("eval.yaml"))


@pytest.mark.parametrize("eval_file", EVAL_FILES, ids=_id)
def test_eval_config_maps_real_columns_and_outputs(eval_file: Path):
    from promptwise.evaluation.config import parse_eval_config

    config, problems = parse_eval_config(eval_file)
    assert problems == []
    rows = read_jsonl(config.data)
    outputs = set(load_yaml(eval_file.parent / "flow.dag.yaml")["outputs"])
    for spec in config.evaluators:
        for reference in references(spec.inputs):
            head, _, rest = reference.partition(".")
            if head == "data":
                assert all(rest in row for row in rows), f"{spec.name}: column {rest} missing"
            elif reference.startswith("run.outputs."):
                assert reference.split(".")[2] in outputs, f"{spec.name}: the flow has no output {reference}"
            else:  # the run's own measurements (latency_ms, cost, tokens) exist for every flow
                assert head == "run", reference


def test_log_triage_eval_has_per_row_and_per_run_category_metrics():
    from promptwise.evaluation.config import parse_eval_config

    config, _ = parse_eval_config(FLOWS / "log-triage" / "eval.yaml")
    by_type = {spec.type: spec for spec in config.evaluators}
    assert by_type["exact_match"].inputs["reference"] == "${data.expected_category}"
    assert by_type["classification"].inputs == {
        "prediction": "${run.outputs.category}", "label": "${data.expected_category}"
    }


def test_report_assistant_eval_scores_each_indicator():
    from promptwise.evaluation.config import parse_eval_config

    config, _ = parse_eval_config(FLOWS / "report-assistant" / "eval.yaml")
    predicted = {spec.inputs["prediction"] for spec in config.evaluators if spec.type == "exact_match"}
    assert predicted == {f"${{run.outputs.{name}}}" for name in INDICATORS}


@pytest.mark.parametrize("root", [FLOWS, CORPUS], ids=lambda p: p.name)
def test_every_named_connection_is_defined_in_the_workspace(root: Path):
    settings = load_yaml(root / "promptwise.yaml")
    defined = set(settings["connections"])
    assert settings["defaults"]["connection"] in defined
    named = set()
    for dag in dag_files(root):
        named |= {node["connection"] for node in all_nodes(load_yaml(dag)) if "connection" in node}
        named |= {
            value for node in all_nodes(load_yaml(dag)) for key, value in (node.get("inputs") or {}).items()
            if key == "connection"
        }
    for prompty in prompty_files(root):
        configuration = split_prompty(prompty)[0]["model"].get("configuration") or {}
        if "connection" in configuration:
            named.add(configuration["connection"])
    assert named and named <= defined, f"connections not defined in promptwise.yaml: {named - defined}"
    for connection in settings["connections"].values():
        for key in ("api_key", "base_url", "azure_endpoint"):
            if key in connection:
                assert connection[key].startswith("${env:"), f"{key} must come from the environment"


# ----- corpus coverage -------------------------------------------------------------------------


def test_corpus_covers_the_formats_surface():
    dags = [load_yaml(path) for path in dag_files(CORPUS)]
    nodes = [node for flow in dags for node in all_nodes(flow)]
    dag_text = "\n".join(path.read_text(encoding="utf-8") for path in dag_files(CORPUS))
    assert {node["type"] for node in nodes} == {"llm", "python", "prompt", "custom_llm"}
    assert {node["source"]["type"] for node in nodes} == {"code", "package", "package_with_prompt"}
    assert "${flow." in dag_text
    assert any(node.get("activate") for node in nodes)
    assert any(node.get("aggregation") for flow in dags for node in flow["nodes"])
    assert any(flow.get("node_variants") for flow in dags)
    for key in ("environment", "environment_variables", "additional_includes"):
        assert any(key in flow for flow in dags), key
    input_flags = {flag for flow in dags for spec in flow["inputs"].values() for flag in spec if flag.startswith("is_chat")}
    assert input_flags == {"is_chat_input", "is_chat_history"}

    entries = [load_yaml(path) for path in flex_files(CORPUS)]
    sources = {
        path: ast.parse((path.parent / (load_yaml(path)["entry"].split(":")[0] + ".py")).read_text())
        for path in flex_files(CORPUS)
    }
    entry_kinds = {
        type(next(n for n in tree.body if getattr(n, "name", None) == load_yaml(path)["entry"].split(":")[1])).__name__
        for path, tree in sources.items()
    }
    assert entry_kinds == {"FunctionDef", "ClassDef"}
    assert any("init" in flex for flex in entries) and any("sample" in flex for flex in entries)

    fronts = [split_prompty(path)[0] for path in prompty_files(CORPUS)]
    assert any("api" in f["model"] and "configuration" in f["model"] for f in fronts), "Prompt flow shape"
    spec = [f for f in fronts if "id" in f["model"]]
    assert spec and {"provider", "apiType", "connection", "options"} <= set(spec[0]["model"])
    assert isinstance(spec[0]["inputs"], list) and spec[0]["template"]["format"] == "jinja2"

    templates = "\n".join(p.read_text(encoding="utf-8") for p in CORPUS.rglob("*.jinja2"))
    templates += "\n".join(split_prompty(p)[1] for p in prompty_files(CORPUS))
    for construct in ("{% for", "{% if", "{% elif", "{% else", "{% set", "{% macro", "loop.index", "|", "{#", "-%}"):
        assert construct in templates, construct


# ----- promptwise check ------------------------------------------------------------------------


def _check(*paths: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "promptwise", "check", "--format", "json", *paths],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def test_check_finds_no_problem_in_the_examples():
    result = _check("flows")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []


def test_check_reports_nothing_for_the_corpus():
    result = _check("tests/corpus")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []
