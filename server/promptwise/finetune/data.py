"""Validate a chat-format fine-tuning JSONL file and count its training tokens exactly.

One example per line: {"messages": [...], "tools": [...]?}. The rules are those of OpenAI's
chat fine-tuning format (the same file works on Azure OpenAI): roles system|user|assistant|
tool, at least one assistant message, `weight` 0 or 1 on assistant messages only, tool calls
with an id, a function name and JSON-string arguments, and every tool message answering a
call made earlier in the example. The older function-calling form (`functions`, an assistant's
`function_call`, `function` messages with a `name`) is taken too. Tokens are counted with the shipped tiktoken encodings and
the cookbook chat rule (costing/counting.py), so the figure is the one a chat request of the
same messages would cost.

Every problem names the file and line, what is wrong and what to do; errors stop `submit`,
warnings do not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# "function" (with `function_call` and an example's `functions`): the older function-calling form,
# which OpenAI's fine-tuning still takes beside tools.
ROLES = ("system", "user", "assistant", "tool", "function")

# Per-example cap when the model is not in the catalog, and the most any OpenAI fine-tunable
# chat model takes per example today (gpt-4o, gpt-4o-mini, gpt-4.1*: 65,536 tokens); a
# smaller context window (gpt-3.5-turbo: 16,385) wins.
DEFAULT_EXAMPLE_LIMIT = 65_536
# OpenAI rejects a training file with fewer examples than this.
MIN_EXAMPLES = 10
# With this many examples and no --validation, suggest holding some out.
SUGGEST_SPLIT_AT = 100
DEFAULT_EPOCHS = 3  # OpenAI's target when it picks the number of epochs itself ("auto")
# ...unless the file is small or large: at least 100 and at most 25,000 examples trained in all,
# within 1-25 epochs (the rule of OpenAI's fine-tuning data preparation cookbook).
AUTO_MIN_TRAINED, AUTO_MAX_TRAINED, AUTO_MAX_EPOCHS = 100, 25_000, 25


def auto_epochs(examples: int) -> int:
    """The epochs a job without `n_epochs` trains for: 3, more for a small file (12 examples: 8),
    fewer for a large one (10,000 examples: 2)."""
    if examples <= 0:
        return DEFAULT_EPOCHS
    if examples * DEFAULT_EPOCHS < AUTO_MIN_TRAINED:
        return min(AUTO_MAX_EPOCHS, AUTO_MIN_TRAINED // examples)
    if examples * DEFAULT_EPOCHS > AUTO_MAX_TRAINED:
        return max(1, AUTO_MAX_TRAINED // examples)
    return DEFAULT_EPOCHS


@dataclass(frozen=True)
class DataProblem:
    path: str
    line: int
    code: str
    severity: str  # "error" | "warning" | "info"
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity} {self.code}: {self.message}"

    def to_json(self) -> dict:
        return {"file": self.path, "line": self.line, "code": self.code, "severity": self.severity,
                "message": self.message}


@dataclass
class FileReport:
    path: str
    examples: int = 0
    tokens: int = 0  # exact, all examples
    longest: int = 0
    keys: dict[str, int] = field(default_factory=dict)  # canonical example -> first line


def _check_tool_calls(calls: Any, where: str, add) -> list[str]:
    """The ids of well-formed tool calls; a problem for each malformed one."""
    ids: list[str] = []
    if not isinstance(calls, list) or not calls:
        add("FT106", f"{where}: `tool_calls` must be a non-empty list of calls")
        return ids
    for number, call in enumerate(calls, 1):
        at = f"{where} tool call {number}"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(function, dict):
            add("FT106", f"{at}: expected {{\"id\", \"type\": \"function\", \"function\": {{\"name\", \"arguments\"}}}}")
            continue
        if not isinstance(call.get("id"), str) or not call["id"]:
            add("FT106", f"{at}: no `id` (a string that the tool message's `tool_call_id` repeats)")
        else:
            ids.append(call["id"])
        _check_function(function, at, "function.", add)
    return ids


def _check_function(function: dict, at: str, prefix: str, add) -> None:
    """A call's `name` and `arguments` (a JSON string), under `prefix` as the file writes them."""
    if not isinstance(function.get("name"), str) or not function["name"]:
        add("FT106", f"{at}: no `{prefix}name`")
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        add("FT106", f"{at}: `{prefix}arguments` must be a JSON string (json.dumps of the arguments), "
                     f"not a {type(arguments).__name__}")
        return
    try:
        json.loads(arguments)
    except json.JSONDecodeError as error:
        add("FT106", f"{at}: `{prefix}arguments` is not valid JSON ({error.msg} at column {error.colno})")


def _check_content(content: Any, role: str, has_calls: bool, where: str, add) -> None:
    if content is None:
        if not (role == "assistant" and has_calls):
            add("FT103", f"{where}: no `content` (only an assistant message with tool_calls or function_call "
                         "may omit it)")
        return
    if isinstance(content, str):
        return
    if isinstance(content, list) and all(isinstance(part, dict) and isinstance(part.get("type"), str)
                                         for part in content):
        for part in content:
            if part["type"] == "text" and not isinstance(part.get("text"), str):
                add("FT103", f"{where}: a text part needs a string `text`")
        return
    add("FT103", f"{where}: `content` must be a string or a list of parts like {{\"type\": \"text\", \"text\": ...}}")


def check_example(example: Any, add) -> None:
    """Structure problems of one parsed line, reported through `add(code, message)`."""
    if not isinstance(example, dict):
        add("FT101", f"the line is a JSON {type(example).__name__}; each line must be an object with `messages`")
        return
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        add("FT101", "no `messages` list; each line must be {\"messages\": [{\"role\": ..., \"content\": ...}, ...]}")
        return
    tools = example.get("tools")
    if tools is not None and not (isinstance(tools, list) and all(isinstance(t, dict) for t in tools)):
        add("FT109", "`tools` must be a list of tool definitions ({\"type\": \"function\", \"function\": {...}})")
    functions = example.get("functions")
    if functions is not None and not (isinstance(functions, list) and all(
            isinstance(f, dict) and isinstance(f.get("name"), str) for f in functions)):
        add("FT109", "`functions` must be a list of function definitions ({\"name\", \"parameters\", ...})")
    open_calls: set[str] = set()
    assistants = 0
    for number, message in enumerate(messages, 1):
        where = f"message {number}"
        if not isinstance(message, dict):
            add("FT102", f"{where} is not an object with `role` and `content`")
            continue
        role = message.get("role")
        if role not in ROLES:
            add("FT102", f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
            continue
        assistants += role == "assistant"
        calls = message.get("tool_calls")
        if calls is not None and role != "assistant":
            add("FT106", f"{where}: only assistant messages may have `tool_calls`")
        elif calls is not None:
            open_calls.update(_check_tool_calls(calls, where, add))
        function_call = message.get("function_call")
        if function_call is not None and role != "assistant":
            add("FT106", f"{where}: only assistant messages may have `function_call`")
        elif isinstance(function_call, dict):
            _check_function(function_call, f"{where} function_call", "function_call.", add)
        elif function_call is not None:
            add("FT106", f"{where}: `function_call` must be an object with `name` and `arguments`")
        _check_content(message.get("content"), role, calls is not None or function_call is not None, where, add)
        if role == "function" and not (isinstance(message.get("name"), str) and message["name"]):
            add("FT107", f"{where}: a function message needs `name` (the function whose result it holds)")
        if "name" in message and not isinstance(message["name"], str):
            add("FT108", f"{where}: `name` must be a string")
        if "weight" in message:
            if role != "assistant":
                add("FT105", f"{where}: `weight` is allowed on assistant messages only")
            elif message["weight"] not in (0, 1) or isinstance(message["weight"], bool):
                add("FT105", f"{where}: `weight` must be 0 (do not train on it) or 1, not {message['weight']!r}")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                add("FT107", f"{where}: a tool message needs `tool_call_id` (the id of the call it answers)")
            elif call_id not in open_calls:
                add("FT107", f"{where}: `tool_call_id` {call_id!r} answers no earlier assistant tool call "
                             f"in this example")
    if assistants == 0:
        add("FT104", "no assistant message; every example needs at least one (the reply to learn)")


def canonical(example: Any) -> str:
    return json.dumps(example, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def example_tokens(example: dict, encoding: str) -> int:
    """Exact tokens of one example: its messages and tools as a chat request would count them."""
    from promptwise.costing.counting import count_chat

    tools = example.get("tools") or [{"type": "function", "function": f} for f in example.get("functions") or ()]
    return count_chat(example["messages"], encoding, tools=tools or None).total


def read_file(path: Path, encoding: str, limit: int, problems: list[DataProblem]) -> FileReport:
    """Check and count every line of one JSONL file, appending its problems."""
    report = FileReport(str(path))

    def problem(line: int, code: str, message: str, severity: str = "error") -> None:
        problems.append(DataProblem(str(path), line, code, severity, message))

    try:
        data = path.read_bytes()
    except OSError as error:
        problem(0, "FT100", f"cannot read the file ({error.strerror})")
        return report
    if data.startswith(b"\xef\xbb\xbf"):
        problem(1, "FT100", "the file starts with a byte order mark (BOM, as some Windows editors save UTF-8); "
                            "save it as UTF-8 without BOM")
        data = data[3:]
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            example = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            problem(number, "FT100", "the line is not UTF-8 text; save the file as UTF-8")
            continue
        except json.JSONDecodeError as error:
            problem(number, "FT100", f"not valid JSON ({error.msg} at column {error.colno}); "
                                     "each line must be one JSON object")
            continue
        found: list[str] = []
        check_example(example, lambda code, message: (found.append(code), problem(number, code, message)))
        report.examples += 1
        key = canonical(example)
        first = report.keys.setdefault(key, number)
        if first != number:
            problem(number, "FT111", f"exact duplicate of line {first}; remove it (duplicates overweight "
                                     "one example)", "warning")
        if found:
            continue  # counting a malformed example would only guess
        tokens = example_tokens(example, encoding)
        report.tokens += tokens
        report.longest = max(report.longest, tokens)
        if tokens > limit:
            problem(number, "FT110", f"{tokens:,} tokens, over the {limit:,}-token limit per example; "
                                     "shorten or split it (the service would drop or reject it)")
    if report.examples == 0:
        problem(1, "FT112", "no examples; the file needs one JSON object per line")
    return report


@dataclass
class CheckResult:
    model: str
    model_known: bool
    encoding: str
    limit: int
    epochs: int
    training: FileReport
    validation: FileReport | None
    price_per_1m: float | None
    problems: list[DataProblem]
    epochs_given: bool = True  # False: `epochs` is what the service picks for this file (auto_epochs)

    @property
    def errors(self) -> list[DataProblem]:
        return [p for p in self.problems if p.severity == "error"]

    def cost_per_epoch(self) -> float | None:
        if self.price_per_1m is None:
            return None
        return self.training.tokens * self.price_per_1m / 1_000_000

    def to_json(self) -> dict:
        per_epoch = self.cost_per_epoch()
        return {
            "model": self.model, "model_in_catalog": self.model_known, "encoding": self.encoding,
            "example_token_limit": self.limit, "epochs": self.epochs, "epochs_given": self.epochs_given,
            "training": {"file": self.training.path, "examples": self.training.examples,
                         "tokens": self.training.tokens, "longest_example": self.training.longest},
            "validation": None if self.validation is None else {
                "file": self.validation.path, "examples": self.validation.examples,
                "tokens": self.validation.tokens},
            "billed_tokens": self.training.tokens * self.epochs,
            "training_price_per_1m": self.price_per_1m,
            "cost_per_epoch": per_epoch,
            "cost_total": None if per_epoch is None else per_epoch * self.epochs,
            "ok": not self.errors,
            "problems": [p.to_json() for p in self.problems],
        }


def check(training: Path, model: str, *, validation: Path | None = None, epochs: int | None = None,
          catalog=None) -> CheckResult:
    """Check the training (and validation) file for `model`; never raises on bad data. Without
    `epochs`, the cost is for the epochs the service would pick for this file."""
    from promptwise.costing.catalog import FALLBACK_ENCODING, load_catalog

    catalog = catalog or load_catalog()
    match = catalog.lookup(model)
    info = match.model if match else None
    encoding = info.counting_encoding if info else FALLBACK_ENCODING
    limit = min(info.input_limit, DEFAULT_EXAMPLE_LIMIT) if info else DEFAULT_EXAMPLE_LIMIT
    problems: list[DataProblem] = []
    train = read_file(training, encoding, limit, problems)
    valid = read_file(validation, encoding, limit, problems) if validation else None
    if 0 < train.examples < MIN_EXAMPLES:
        problems.append(DataProblem(str(training), 1, "FT113", "error",
                                    f"{train.examples} examples; fine-tuning needs at least {MIN_EXAMPLES} "
                                    "(50-100 good ones is the usual start)"))
    if valid is not None:
        for key, line in valid.keys.items():
            if key in train.keys:
                problems.append(DataProblem(str(validation), line, "FT114", "warning",
                                            f"also in the training file (line {train.keys[key]}); a validation "
                                            "example seen in training makes the validation loss meaningless"))
    elif train.examples >= SUGGEST_SPLIT_AT:
        held = max(1, train.examples // 10)
        problems.append(DataProblem(str(training), 1, "FT115", "info",
                                    f"no --validation file: consider holding out about {held:,} of the "
                                    f"{train.examples:,} examples (10%) as a validation file to watch for "
                                    "overfitting"))
    price = getattr(info, "finetune_training_per_1m", None) if info else None
    return CheckResult(model=info.name if info else model, model_known=info is not None, encoding=encoding,
                       limit=limit, epochs=epochs or auto_epochs(train.examples), training=train, validation=valid,
                       price_per_1m=price, problems=problems, epochs_given=epochs is not None)
