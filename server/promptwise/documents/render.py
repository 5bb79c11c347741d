"""Render a Jinja2 prompt and split it into chat messages, the way Prompt flow does.

Prompt flow's rule (promptflow-tools `parse_chat`): a role line is a line holding only a role
name and a colon, optionally after one `#` (for markdown highlighting), case-insensitive, with
any spaces around: `system:`, `# User :`. Everything up to the next role line is that message's
content. Non-blank text before the first role line is an error for the chat API. A `function`
(or any) message may start with `name:\\n<name>\\ncontent:\\n...` to set the message's name; a
`tool` message starts with `tool_call_id:\\n<id>\\ncontent:\\n...`. Templates are rendered with
`trim_blocks=True, keep_trailing_newline=True`, and role-like text inside variable values is
escaped first, so a user's input cannot forge a `system:` message.

Our own implementation; no promptflow import.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Iterable

import jinja2

from promptwise.documents.jinja_sandbox import (
    ANALYSIS_LIMITS,
    RUN_LIMITS,
    BoundedSandbox,
    RenderLimitError,
    RenderLimits,
    render_bounded,
)

__all__ = ["ANALYSIS_LIMITS", "RUN_LIMITS", "RenderLimits"]  # re-exported for callers that choose

VALID_ROLES = ("system", "user", "assistant", "function", "tool")

_ROLE_ALTERNATION = "|".join(VALID_ROLES)
# The separator exactly as Prompt flow splits on it (note `^\s*` may swallow blank lines).
ROLE_SEPARATOR = re.compile(rf"(?im)^\s*#?\s*({_ROLE_ALTERNATION})\s*:\s*\n")
# One source line that is a role line, for locating sections in a template's source.
ROLE_LINE = re.compile(rf"(?i)^[ \t]*#?[ \t]*({_ROLE_ALTERNATION})[ \t]*:[ \t]*$")
# A line that looks like it was meant as a role line but is not one Prompt flow accepts,
# e.g. `human:` or `System: you are...` (text after the colon on the same line).
ROLE_LIKE_LINE = re.compile(r"(?i)^[ \t]*#?[ \t]*([A-Za-z_]+)[ \t]*:[ \t]*(.*)$")

_NAME_AND_CONTENT = re.compile(r"\n*#{0,2}\s*name:\n+\s*(\S+)\s*\n*#{0,2}\s*content:\n?(.*)", re.DOTALL)
_TOOL_CALL_ID_AND_CONTENT = re.compile(
    r"\n*#{0,2}\s*tool_call_id:\n+\s*(\S+)\s*\n*#{0,2}\s*content:\n?(.*)", re.DOTALL
)


class RenderError(Exception):
    """A template that cannot be rendered or split into messages. `line` is 0-based in the
    template text when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class RoleSection:
    """A role line in a template's source and the lines its content spans (0-based)."""

    role: str  # lower-cased
    line: int  # the role line
    start_character: int  # where the role name starts on that line
    end_character: int  # end of the role line's text (after the colon)
    content_start_line: int  # first line after the role line
    content_end_line: int  # last line of the content (inclusive); < start when empty


def _environment(strict: bool) -> jinja2.Environment:
    # Sandboxed and bounded (documents/jinja_sandbox.py): templates come from files anyone
    # may have written, and the analysis renders them as soon as a file is opened.
    return BoundedSandbox(
        trim_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined if strict else jinja2.Undefined,
        autoescape=False,
    )


_ENVIRONMENTS = {False: _environment(False), True: _environment(True)}


# Compiled templates by (text, strict). Batch runs render the same template thousands of
# times, so each is compiled once; but the editor's analysis compiles every version of a
# template typed, so the cache is bounded by count and by the total length of the texts it
# holds (least recently used first), and `forget_compiled` drops the versions of a document
# that is closed or replaced.
COMPILED_MAX_ENTRIES = 256
COMPILED_MAX_CHARS = 4_000_000
_COMPILED: "OrderedDict[tuple[str, bool], jinja2.Template]" = OrderedDict()
_COMPILED_CHARS = 0
_COMPILED_LOCK = threading.Lock()


def _compile(template_text: str, strict: bool) -> jinja2.Template:
    global _COMPILED_CHARS
    key = (template_text, strict)
    with _COMPILED_LOCK:
        template = _COMPILED.get(key)
        if template is not None:
            _COMPILED.move_to_end(key)
            return template
    template = _ENVIRONMENTS[strict].compile_bounded(template_text)
    if len(template_text) > COMPILED_MAX_CHARS:
        return template  # larger than the whole budget: compiled for this use only
    with _COMPILED_LOCK:
        if key not in _COMPILED:
            _COMPILED_CHARS += len(template_text)
        _COMPILED[key] = template
        while len(_COMPILED) > COMPILED_MAX_ENTRIES or _COMPILED_CHARS > COMPILED_MAX_CHARS:
            (dropped, _), _ = _COMPILED.popitem(last=False)
            _COMPILED_CHARS -= len(dropped)
    return template


def forget_compiled(texts: Iterable[str]) -> None:
    """Drop the compiled templates of these texts (a closed or replaced document's)."""
    global _COMPILED_CHARS
    with _COMPILED_LOCK:
        for text in texts:
            for strict in (False, True):
                if _COMPILED.pop((text, strict), None) is not None:
                    _COMPILED_CHARS -= len(text)


def compiled_cache_size() -> tuple[int, int]:
    """(entries, characters) the compiled-template cache holds now."""
    with _COMPILED_LOCK:
        return len(_COMPILED), _COMPILED_CHARS


def render_template(
    template_text: str,
    variables: dict[str, Any],
    strict: bool = False,
    limits: RenderLimits = ANALYSIS_LIMITS,
) -> str:
    """Render Jinja2 text in the bounded sandbox. `strict=True` makes an undefined variable an
    error instead of ''. `limits`: the analysis's tight bound unless a run says RUN_LIMITS.

    Raises RenderError with the template line on syntax errors and on undefined variables
    (strict), unsafe access, work past the bound, or other failures while rendering.
    """
    try:
        template = _compile(template_text, strict)
    except jinja2.TemplateSyntaxError as error:
        line = (error.lineno - 1) if error.lineno else None
        raise RenderError(f"Jinja syntax error: {error.message}", line) from None
    except RenderLimitError as error:
        raise RenderError(f"template cannot be rendered: {error}") from None
    try:
        return render_bounded(template, variables, limits)
    except RenderLimitError as error:
        raise RenderError(f"template stopped: {error}", _error_line(error)) from None
    except jinja2.exceptions.SecurityError as error:
        raise RenderError(
            f"template uses something the sandbox forbids ({error}); templates may read their "
            "variables but not Python internals",
            _error_line(error),
        ) from None
    except RecursionError as error:
        raise RenderError(
            "template recurses too deeply (a macro or recursive loop that calls itself without end)",
            _error_line(error),
        ) from None
    except jinja2.UndefinedError as error:
        raise RenderError(
            f"template uses an undefined variable: {error.message}; "
            "provide it as an input or remove it from the template",
            _error_line(error),
        ) from None
    except jinja2.TemplateError as error:
        raise RenderError(f"template failed to render: {error}", _error_line(error)) from None
    except Exception as error:  # a filter or method call in the template failed
        raise RenderError(
            f"template failed to render: {type(error).__name__}: {error}", _error_line(error)
        ) from None


def _error_line(error: BaseException) -> int | None:
    """The template line of a render-time error, read from Jinja's rewritten traceback."""
    traceback = error.__traceback__
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno - 1
        traceback = traceback.tb_next
    return line


def _collect_role_words(value: Any, found: dict[str, str], depth: int = 0) -> None:
    if depth > 20:
        return
    if isinstance(value, str):
        # A role line ends in a colon and a newline: a value without both holds none (most values:
        # names, one-line texts), and `in` is a memchr-speed scan where finditer steps a regex
        # through every character.
        if "\n" not in value or ":" not in value:
            return
        for match in ROLE_SEPARATOR.finditer(value):
            word = match.group(1)
            if word not in found:
                found[word] = os.urandom(16).hex()  # unguessable; not uuid4, whose import brings `platform`
    elif isinstance(value, dict):
        for item in value.values():
            _collect_role_words(item, found, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect_role_words(item, found, depth + 1)


def _replace(value: Any, pairs: list[tuple[str, str]], depth: int = 0) -> Any:
    if depth > 20:
        return value
    if isinstance(value, str):
        for old, new in pairs:
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {key: _replace(item, pairs, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace(item, pairs, depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(_replace(item, pairs, depth + 1) for item in value)
    return value


# A colon followed by white space up to a newline: where every role line (ROLE_SEPARATOR) ends.
# It starts with a literal, so re finds it at memchr speed.
_COLON_LINE_END = re.compile(r":\s*\n")


def _split_on_roles(text: str) -> list[str]:
    """`ROLE_SEPARATOR.split(text)`, the same list, in a tenth of the time on a rendered prompt.

    ROLE_SEPARATOR begins with `^` under MULTILINE, so re tries it at every character of the
    text (about 15 µs per thousand characters, twice per served request of a two-call flow).
    Every role line ends at a colon followed by white space up to a newline, found here by a
    literal-led search; from each such colon the only place a role line could start is found by
    walking back over what may precede the colon in one (white space, the role word, one `#`,
    white space), to the first line start there, and ROLE_SEPARATOR itself decides at that
    position. A role line that matches at an earlier line start would be found from there too,
    so the matches, their order and their extent are ROLE_SEPARATOR's own
    (tests/documents/test_reqcpu_render.py compares the two on generated texts)."""
    chunks: list[str] = []
    done = 0  # where the last role line ended: the next one starts there or later
    for colon in _COLON_LINE_END.finditer(text):
        at = colon.start()
        if at < done:
            continue
        start = at
        while start > done and text[start - 1].isspace():
            start -= 1
        while start > done and (text[start - 1].isalnum() or text[start - 1] == "_"):
            start -= 1
        while start > done and text[start - 1].isspace():
            start -= 1
        if start > done and text[start - 1] == "#":
            start -= 1
        while start > done and text[start - 1].isspace():
            start -= 1
        if start > 0 and text[start - 1] != "\n":  # not a line start: the first one after it, if any
            newline = text.find("\n", start, at)
            if newline < 0:
                continue
            start = newline + 1
        match = ROLE_SEPARATOR.match(text, start)
        if match is None:
            continue
        chunks += (text[done:match.start()], match.group(1))
        done = match.end()
    chunks.append(text[done:])
    return chunks


def parse_chat(chat_text: str, default_role: str | None = None) -> list[dict[str, Any]]:
    """Split rendered text into messages on role lines (Prompt flow's rule).

    Text before the first role line is an error, as in Prompt flow, unless `default_role`
    is given: then it becomes a message with that role (the Prompty runtime's leniency).
    """
    chunks = _split_on_roles(chat_text)
    # as re.split with one group: [before, role, content, role, content, ...]
    before = chunks[0]
    leading: list[dict[str, Any]] = []
    if before.strip() and default_role:
        leading.append({"role": default_role, "content": before.strip()})
    elif before.strip():
        # The text itself is not quoted: the template may be any file (`source.path:
        # /etc/passwd`), and errors are printed, stored and shown in reports.
        raise RenderError(
            "text before the first role line; start the prompt with a role "
            "line such as `system:` or `user:` on its own line",
            0,
        )
    messages: list[dict[str, Any]] = []
    for index in range(1, len(chunks), 2):
        role = chunks[index].lower()
        content = chunks[index + 1] if index + 1 < len(chunks) else ""
        message: dict[str, Any] = {"role": role}
        if role == "tool":
            match = _TOOL_CALL_ID_AND_CONTENT.search(content)
            if match is None:
                raise RenderError(
                    "a `tool:` message must start with `tool_call_id:` and `content:` lines; "
                    "add the id of the tool call it answers"
                )
            message["tool_call_id"] = match.group(1)
            content = match.group(2)
        else:
            match = _NAME_AND_CONTENT.match(content)
            if match is not None:
                message["name"] = match.group(1)
                content = match.group(2)
            elif role == "function":
                raise RenderError(
                    "a `function:` message must start with `name:` and `content:` lines; "
                    "add the function's name"
                )
        message["content"] = content.strip()
        messages.append(message)
    return leading + messages


def render_messages(
    template_text: str,
    variables: dict[str, Any],
    strict: bool = False,
    default_role: str | None = None,
    limits: RenderLimits = ANALYSIS_LIMITS,
) -> list[dict[str, Any]]:
    """Render a chat prompt template and split it into `[{"role", "content"}, ...]`.

    Raises RenderError (with a 0-based template line when known) when the template cannot
    be rendered or has no valid role structure. `strict=True`: undefined variables are
    errors. `default_role`: role for text before the first role line (else an error).
    """
    escapes: dict[str, str] = {}
    _collect_role_words(variables, escapes)
    pairs = list(escapes.items())
    safe_variables = _replace(variables, pairs) if pairs else variables
    text = render_template(template_text, safe_variables, strict=strict, limits=limits)
    messages = parse_chat(text, default_role)
    if not messages:
        raise RenderError(
            "the prompt has no role lines; add `system:` and `user:` lines to split it into "
            "chat messages"
        )
    if pairs:
        restore = [(new, old) for old, new in pairs]
        messages = [_replace(message, restore) for message in messages]
    return messages


def find_role_sections(template_text: str, first_line: int = 0) -> list[RoleSection]:
    """Role lines in a template's source, with the line span of each section's content.

    `first_line` shifts the line numbers (a prompty body starts after its front matter).
    """
    lines = template_text.split("\n")
    found: list[tuple[str, int, int, int]] = []
    for number, line in enumerate(lines):
        match = ROLE_LINE.match(line.rstrip("\r"))
        if match:
            found.append((match.group(1).lower(), number, match.start(1), len(line.rstrip())))
    sections = []
    for index, (role, number, start, end) in enumerate(found):
        next_line = found[index + 1][1] if index + 1 < len(found) else len(lines)
        sections.append(
            RoleSection(
                role=role,
                line=number + first_line,
                start_character=start,
                end_character=end,
                content_start_line=number + 1 + first_line,
                content_end_line=next_line - 1 + first_line,
            )
        )
    return sections
