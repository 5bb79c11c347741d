"""Execution of `.prompty` files (both the Prompt flow shape and the newer Prompty spec).

The connection comes from the file when it names an endpoint or key (values as
`${env:NAME}`), from `connection:` / the workspace's connections by name, or else from the
workspace default and the usual environment variables.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from promptwise.documents.prompty import Prompty, PromptyInput
from promptwise.documents.source import Range
from promptwise.documents.render import RUN_LIMITS, RenderError, render_messages
from promptwise.engine.connections import Connection, ConnectionConfigError, resolve_spec
from promptwise.engine.errors import FlowError, NodeError
from promptwise.engine.images import ImageSlots, image_variables, place_images_on_own_lines
from promptwise.engine.executable import (
    Executable, LineOutcome, RunContext, elapsed_ms, failed_node_result, llm_node_result,
)
from promptwise.engine.llm import LlmService, chat_parameters
from promptwise.engine.values import bind_inputs, load_sample, resolve_file_references

_ENDPOINT_KEYS = ("azure_endpoint", "base_url", "api_key", "endpoint")
_CONFIG_TO_SPEC = {"type": "type", "azure_endpoint": "azure_endpoint", "endpoint": "azure_endpoint",
                   "api_key": "api_key", "key": "api_key", "apiKey": "api_key", "api_version": "api_version", "base_url": "base_url",
                   "organization": "organization"}
_AZURE_TYPES = ("azure_openai", "azure", "azureopenai")


class PromptyExecutable(Executable):
    kind = "prompty"

    def __init__(self, document: Prompty, llm: LlmService, model_override: dict | None = None,
                 model_name: str | None = None) -> None:
        """`model_override`: `Prompty.load(..., model={...})` from flex code: `configuration` and
        `parameters` replace the file's own. `model_name`: the model (or Azure deployment) to call
        instead of the file's (`eval --models`)."""
        self.document = document
        self.override = model_override or {}
        self.path = document.path
        self.input_specs = self._input_signature()
        # A prompty with neither inputs nor a sample passes whatever it is given to its template.
        self.accepts_any_input = not self.input_specs
        at = f"{self.path}:1"
        errors = [p for p in document.problems if p.severity.value == "error" and p.code in ("PW101", "PW104", "PW105")]
        if errors:
            problem = errors[0]
            raise FlowError(f"{self.path}:{problem.range.start.line + 1}: {problem.message}")
        if (document.template_format or "jinja2").lower() not in ("jinja2", "jinja"):
            raise FlowError(f"{at}: template format {document.template_format!r} is not supported; use jinja2")
        model = document.model
        if model.effective_api == "responses":
            raise FlowError(f"{at}: `apiType: responses` (Prompty 2's Responses API) is checked but not run by "
                            "Promptwise; write `apiType: chat` to run the prompt through chat completions")
        if model.effective_api != "chat":
            raise FlowError(f"{at}: `api: {model.effective_api}` is not supported; use `api: chat`")
        self.connection = self._connection(llm)
        config = self._configuration()
        deployment = config.get("azure_deployment") or config.get("deployment_name")
        name = config.get("model") if self.override.get("configuration") else (model.id or config.get("model"))
        if model_name:
            name, deployment = model_name, (model_name if deployment else None)
        self.model = llm.model_name(self.connection, name, deployment, at)
        from_files = {}
        for section in ("options", "parameters"):  # written as `${file:...}`: the file's mapping
            loaded = resolve_file_references(model.file_sections.get(section), self.path.parent, str(self.path))
            from_files.update(loaded if isinstance(loaded, dict) else {})
        parameters = resolve_file_references(
            {**from_files, **model.effective_parameters, **(self.override.get("parameters") or {})}, self.path.parent, str(self.path))
        self.params = chat_parameters(parameters)
        self.response = (model.response or "first").lower()
        self.description = {"connections": [self.connection.describe()]}

    def _input_signature(self) -> dict[str, PromptyInput]:
        """Prompt flow's: the `inputs:` section, else the keys of `sample` (a mapping, read
        with the document, or a JSON file read here)."""
        document = self.document
        values_file = document.inputs_file or document.sample  # Prompty 1: `inputs: ${file:values.json}`
        if document.declares_inputs or document.inputs or not isinstance(values_file, str):
            return document.inputs
        values = load_sample(self.path.parent, values_file, str(self.path))
        return {name: PromptyInput(name, Range.empty(0, 0), sample=value, from_sample=True)
                for name, value in values.items()}

    def _configuration(self) -> dict:
        override = self.override.get("configuration")
        if override is None:
            model = self.document.model
            configuration = model.file_sections.get("configuration") or model.configuration
            configuration = resolve_file_references(configuration, self.path.parent, str(self.path))
            return configuration if isinstance(configuration, dict) else {}
        if not isinstance(override, dict):  # a model configuration object from promptflow.core
            override = {k: v for k, v in vars(override).items() if v is not None}
        if "type" not in override:
            override = {"type": "azure_openai" if "azure_deployment" in override else "openai", **override}
        return override

    def _connection(self, llm: LlmService) -> Connection:
        model = self.document.model
        config = self._configuration()
        kind = str(config.get("type") or model.provider or "").lower()
        azure = kind in _AZURE_TYPES or "azure_deployment" in config or "azure_endpoint" in config
        where = f"{self.path}:1"
        name = config.get("connection") or (model.connection if isinstance(model.connection, str) else None)
        if name:
            return llm.connection(name, azure_hint=azure, where=where)
        explicit = {**config, **(model.connection if isinstance(model.connection, dict) else {})}
        if any(explicit.get(key) for key in _ENDPOINT_KEYS):
            spec = {_CONFIG_TO_SPEC[k]: v for k, v in explicit.items() if k in _CONFIG_TO_SPEC and v is not None}
            spec["type"] = "azure_openai" if azure else spec.get("type", "openai")
            if spec["type"] not in ("azure_openai", "openai", "openai_compatible"):
                spec["type"] = "openai"
            if spec["type"] != "azure_openai" and "azure_endpoint" in spec and "base_url" not in spec:
                spec["base_url"] = spec.pop("azure_endpoint")  # Prompty's `endpoint` of an OpenAI connection
            try:
                return resolve_spec(self.path.name, spec, str(self.path), llm.resolver.environ)
            except ConnectionConfigError as error:
                raise FlowError(str(error)) from None
        return llm.connection(None, azure_hint=azure, where=where)

    def bind(self, given: dict) -> dict:
        return bind_inputs(self.input_specs, given, str(self.path))

    def sample_inputs(self) -> dict:
        values = self.document.sample_inputs()  # per-input samples and defaults, and a `sample` mapping
        values.update({name: spec.sample for name, spec in self.input_specs.items()
                       if spec.from_sample and name not in values})  # read from a values file
        values.update(load_sample(self.path.parent, self.document.sample, str(self.path)))
        return values

    async def run_line(self, inputs: dict, context: RunContext) -> LineOutcome:
        started = time.perf_counter()
        name = self.path.stem
        try:
            try:
                images = ImageSlots()
                declared = image_variables(self.document.body) | {
                    name for name, spec in self.input_specs.items() if (spec.type or "").lower() == "image"}
                variables = images.swap(inputs, self.path.parent, declared)
                messages = images.attach(render_messages(place_images_on_own_lines(self.document.body), variables,
                                                         default_role="system", limits=RUN_LIMITS))
            except RenderError as error:
                line = self.document.body_line + (error.line or 0) + 1
                raise NodeError(f"{self.path}:{line}: {error.message}") from None
            call = await context.llm.chat(self.connection, self.model, messages, self.params)
        except NodeError as error:
            node = failed_node_result(name, str(error), error)
            return LineOutcome("failed", None, str(error), [node], elapsed_ms(started), error_kind=error.kind,
                               retry_after=error.retry_after)
        output = self._output(call)
        node = llm_node_result(name, call, output)
        outputs = output if isinstance(output, dict) else {"output": output}
        return LineOutcome("completed", outputs, None, [node], elapsed_ms(started), {name: output})

    def _output(self, call) -> Any:
        message = call.result.message
        if self.response == "all":
            return {"message": message, "model": call.result.model, "usage": call.result.usage.as_dict()}
        if message.get("tool_calls"):
            return message
        content = message.get("content")
        wants_json = (self.params.get("response_format") or {}).get("type") in ("json_object", "json_schema")
        if wants_json and isinstance(content, str):
            try:
                parsed = json.loads(content)
            except json.JSONDecodeError:
                return content
            if isinstance(parsed, dict) and self.document.outputs:
                return {key: parsed.get(key) for key in self.document.outputs}
            return parsed
        return content


def prompty_path(path: Path) -> bool:
    return path.suffix.lower() == ".prompty"
