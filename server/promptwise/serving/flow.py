"""One flow held ready to answer requests: loaded once, run per request by the engine.

The session is the same `open_session` that `promptwise run` uses, and each request is one
`Executable.run_line`: a served flow runs exactly the code a run runs (one execution path).
Served requests are not stored as runs (a run per request would flood the store); the trace
and the metering record them.
"""

from __future__ import annotations

import asyncio
import functools
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptwise.documents.content_hash import flow_content_hash
from promptwise.engine import spans
from promptwise.engine.errors import FlowError
from promptwise.engine.executable import Executable, LineOutcome
from promptwise.engine.providers import RetryPolicy
from promptwise.engine.runner import Session, open_session
from promptwise.engine.values import coerce

# Declared input type -> (JSON types accepted, the name a message shows).
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "string": ((str,), "string"), "str": ((str,), "string"), "text": ((str,), "string"),
    "int": ((int,), "integer"), "integer": ((int,), "integer"),
    "double": ((int, float), "number"), "float": ((int, float), "number"), "number": ((int, float), "number"),
    "bool": ((bool,), "boolean"), "boolean": ((bool,), "boolean"),
    "list": ((list,), "array"), "array": ((list,), "array"),
    "object": ((dict,), "object"), "dict": ((dict,), "object"),
}


class InputProblem(Exception):
    """A request's inputs do not fit the flow (answered 422); the message names the input."""


def json_type(declared: str | None) -> str | None:
    """The JSON schema type of a declared input type (None: any value)."""
    entry = _TYPES.get((declared or "").lower())
    return entry[1] if entry else None


def check_value(name: str, value: Any, declared: str | None) -> None:
    entry = _TYPES.get((declared or "").lower())
    if entry is None:
        return
    accepted, label = entry
    ok = isinstance(value, accepted) and not (isinstance(value, bool) and bool not in accepted)
    if not ok and label == "integer" and isinstance(value, float) and value.is_integer():
        ok = True
    if not ok:
        got = "null" if value is None else {str: "a string", bool: "a boolean", int: "an integer", float: "a number",
                                            list: "an array", dict: "an object"}.get(type(value), type(value).__name__)
        raise InputProblem(f"input `{name}` must be {_article(label)} {label} (declared `{declared}`), got {got}")


def _as_declared(name: str, value: Any, declared: str | None) -> Any:
    """A value converted as Prompt flow's serving converts it to the input's declared type.

    The engine's rule (values.coerce), as `promptwise run` applies it: a number or boolean given
    for a string input is its Python text, as pf's ValueType.STRING.parse (str(v)): 3 is "3",
    3.0 "3.0", True "True". Objects, arrays and null stay as they are, for check_value to refuse
    (pf would pass on "{'a': 1}" or "None", a caller's mistake we name instead).
    A string given for an int, double, bool, list or object input: {"count": "3"} is 3, "true"
    is True, '[1, 2]' a list. Text that does not convert stays text, for check_value to refuse
    by name."""
    kind = json_type(declared)
    if kind is None or (kind == "string") == isinstance(value, str):
        return value  # text for a string input, a non-text value for another: nothing to convert
    try:
        return coerce(value, declared, name)
    except FlowError:
        return value


def _article(label: str) -> str:
    return "an" if label[0] in "aeiou" else "a"


@dataclass
class ChatShape:
    """Which inputs and output make a chat flow (for /v1/chat/completions)."""

    question: str  # the input that takes the last user message
    history: str | None  # the input that takes the earlier turns
    answer: str  # the output that holds the reply
    # The history's shape, as Prompt flow's chat test gives it: a prompty's or flex flow's is a
    # list of {role, content} messages ("consistent with openai"; their templates loop
    # `{{item.role}}: {{item.content}}`); a DAG's is its chat flow turns,
    # [{"inputs": {question: ...}, "outputs": {answer: ...}}].
    messages: bool = False


class ServedFlow:
    def __init__(self, path: Path, *, timeout_seconds: float = 120.0, init: dict | None = None) -> None:
        self.path = Path(path)
        self.timeout_seconds = timeout_seconds
        self.init = init  # a flex flow class entry's init values (serve --init), as pf flow serve --init
        self._stack: AsyncExitStack | None = None
        self.session: Session | None = None
        self.content_hash = ""

    async def open(self) -> None:
        """Load the flow and resolve its connections (FlowError when it cannot serve)."""
        stack = AsyncExitStack()
        # A served call fails fast rather than retry for minutes: the caller has its own deadline.
        retry = RetryPolicy(max_attempts=3, timeout=self.timeout_seconds, max_retry_after=10.0)
        try:
            self.session = await stack.enter_async_context(open_session(self.path, use_cache=False, concurrency=256,
                                                                        retry=retry, init=self.init))
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        # The same hash the engine's flow spans and the run store record.
        self.content_hash = await asyncio.to_thread(flow_content_hash, self.session.flow_path)

    async def close(self) -> None:
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    @property
    def folders(self) -> tuple[Path, ...]:
        """Server paths an error message must not show: the flow's folder and its workspace."""
        if self.session is None:
            return (self.path.parent,)
        return (self.session.flow_path.parent, self.session.workspace.root)

    @property
    def executable(self) -> Executable:
        return self.session.executable

    @property
    def name(self) -> str:
        flow = self.session.flow_path
        return flow.parent.name if flow.name.startswith("flow.") else flow.stem

    @property
    def input_specs(self) -> dict[str, Any]:
        return self.executable.input_specs

    @property
    def output_names(self) -> list[str]:
        document = getattr(self.executable, "document", None)
        outputs = getattr(document, "outputs", None) or {}
        return list(outputs)

    def output_types(self) -> dict[str, str | None]:
        """The declared type of each output a caller gets (not the `evaluation_only` ones)."""
        document = getattr(self.executable, "document", None)
        outputs = getattr(document, "outputs", None) or {}
        return {name: getattr(spec, "type", None) if not isinstance(spec, dict) else spec.get("type")
                for name, spec in outputs.items() if name not in self.evaluation_only}

    @functools.cached_property
    def evaluation_only(self) -> frozenset[str]:
        """Outputs declared `evaluation_only: true`: runs and traces keep them, a served answer
        leaves them out, as pf flow serve does."""
        outputs = getattr(getattr(self.executable, "document", None), "outputs", None) or {}
        return frozenset(name for name, spec in outputs.items() if getattr(spec, "evaluation_only", False))

    def answered(self, outputs: dict) -> dict:
        """The outputs a caller gets."""
        hidden = self.evaluation_only
        return {k: v for k, v in outputs.items() if k not in hidden} if hidden else outputs

    def bind(self, given: Any) -> dict:
        """The inputs a request runs with, or InputProblem naming what is missing or mistyped."""
        if not isinstance(given, dict):
            raise InputProblem("the request body must be a JSON object of the flow's inputs "
                               f"({', '.join(self.input_specs) or 'none'})")
        given = dict(given)
        for name, spec in self.input_specs.items():
            declared = getattr(spec, "type", None)
            if name in given:
                given[name] = _as_declared(name, given[name], declared)
                check_value(name, given[name], declared)
            elif not getattr(spec, "has_default", False):
                label = json_type(declared) or declared or "any value"
                raise InputProblem(f"input `{name}` ({label}) is missing; the flow needs it and has no default")
        return self.executable.bind(dict(given))

    async def run(self, inputs: dict) -> LineOutcome:
        """One row, as `promptwise run` runs it (in a flow span under the request's span)."""
        return await spans.traced_line(self.executable, inputs, self.session.context, keep_generators=True)

    def stream_field(self) -> str | None:
        """The output that can stream to a client asking for events: a prompty's text reply, a DAG
        output that is an llm node's whole output (the chat output first), a flex flow's output
        (its entry may be a generator)."""
        executable = self.executable
        if executable.kind == "prompty":
            wants_json = (executable.params.get("response_format") or {}).get("type") in ("json_object", "json_schema")
            return None if wants_json or executable.response == "all" else "output"
        if executable.kind == "flex_flow":
            return "output" if not self.output_names else self.output_names[0]
        candidates = [name for name, output in executable.document.outputs.items() if self._llm_node_of(output)]
        chat = [name for name in candidates if getattr(executable.document.outputs[name], "is_chat_output", False)]
        return (chat or candidates or [None])[0]

    def stream_nodes(self, field: str) -> frozenset[str] | None:
        """The node whose model call streams into `field` (None: any call, for a prompty)."""
        if self.executable.kind != "flow_dag":
            return None
        node = self._llm_node_of(self.executable.document.outputs.get(field))
        return frozenset({node}) if node else frozenset()

    def _llm_node_of(self, output) -> str | None:
        reference = getattr(output, "reference", None)
        if reference is None or reference.prefix or reference.path or reference.section != "output":
            return None
        prepared = getattr(self.executable, "nodes", {}).get(reference.name)
        return reference.name if prepared is not None and prepared.kind == "llm" else None

    def chat_shape(self) -> ChatShape | None:
        """The chat input/history/output: declared (`is_chat_input` ...), or, in a prompty or a flex
        flow (pf's chat-basic sample marks nothing), a `chat_history` input beside one other input
        (or one other without a default), answered by the prompty's reply or the entry's value."""
        specs = self.input_specs
        question = next((n for n, s in specs.items() if getattr(s, "is_chat_input", False)), None)
        history = next((n for n, s in specs.items() if getattr(s, "is_chat_history", False)), None)
        document = getattr(self.executable, "document", None)
        outputs = getattr(document, "outputs", None) or {}
        answer = next((n for n, s in outputs.items() if getattr(s, "is_chat_output", False)), None)
        if self.executable.kind != "flow_dag":
            history = history or ("chat_history" if "chat_history" in specs else None)
            others = [n for n in specs if n != history]
            required = [n for n in others if not getattr(specs[n], "has_default", False)]
            if question is None and history:  # the one other input, or the one other without a default
                question = others[0] if len(others) == 1 else required[0] if len(required) == 1 else None
            if self.executable.kind == "prompty" or not outputs:
                answer = answer or "output"
        if question is None:
            return None
        if answer is None:
            answer = self.output_names[0] if len(self.output_names) == 1 else None
        return ChatShape(question, history, answer, messages=self.executable.kind != "flow_dag") if answer else None
