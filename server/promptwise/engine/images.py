"""Image inputs sent as image parts of a chat message, as Prompt flow sends them.

Prompt flow treats a value as an image when it is written in one of its image forms
(`{"data:image/png;path": "logo.png"}`, `{"data:image/png;url": ...}`,
`{"data:image/png;base64": ...}`, or the text `data:image/png;path: logo.png`), when the flow
input is declared `type: image`, or when the template places it as `![image]({{ name }})`.
Rendering then puts each image on a line of its own, and a message holding an image becomes
a list of parts: one `text` part per non-empty line and an `image_url` part per image
(a URL as written; a file or base64 as a `data:` URI), with the node's `detail` (default auto).
"""

from __future__ import annotations

import base64
import mimetypes
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptwise.engine.errors import NodeError

_IMAGE_KEY = re.compile(r"^data:image/([\w.+-]+);(path|base64|url)$")
_IMAGE_TEXT = re.compile(r"^data:image/([\w.+-]+);(path|base64|url):\s*(.*)$", re.DOTALL)
# `![image]({{ name }})` in a template: the variable is an image, on a line of its own.
_MARKDOWN_IMAGE = re.compile(r"!\[(\s*image\s*)\]\(\{\{(\s*[^\s{}]+\s*)\}\}\)")
_DATA_URI = re.compile(r"^data:image/[\w.+-]+;base64,", re.IGNORECASE)
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # the API's own limit per image


@dataclass(frozen=True)
class Image:
    url: str  # what goes in `image_url.url`
    token: str  # the placeholder rendered into the prompt text


def image_variables(template: str) -> set[str]:
    """Names a template shows as `![image]({{ name }})`."""
    return {match.group(2).strip() for match in _MARKDOWN_IMAGE.finditer(template)}


def place_images_on_own_lines(template: str) -> str:
    """Prompt flow's preprocessing: `![image]({{x}})` becomes `{{x}}` on a line of its own."""
    return _MARKDOWN_IMAGE.sub(lambda m: "\n{{" + m.group(2) + "}}\n", template)


def _mime(kind: str) -> str:
    return f"image/{kind}"


def _from_form(kind: str, how: str, content: str, folder: Path) -> str:
    if how == "url":
        return content.strip()
    if how == "base64":
        return f"data:{_mime(kind)};base64,{content.strip()}"
    return _file_uri(folder / content.strip(), _mime(kind))


def _file_uri(path: Path, mime: str | None = None) -> str:
    if not path.is_file():
        raise NodeError(f"image {path} does not exist; fix the path (relative to the flow's folder)")
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise NodeError(f"image {path} is {size:,} bytes, above the {MAX_IMAGE_BYTES:,} an API request takes")
    mime = mime or mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def to_image_url(value: Any, folder: Path, declared: bool) -> str | None:
    """The `image_url.url` for a value in one of the image forms (or any path/URL/data URI when
    `declared` an image); None when the value is not an image."""
    if isinstance(value, dict) and len(value) == 1:
        key, content = next(iter(value.items()))
        match = _IMAGE_KEY.match(str(key))
        if match and isinstance(content, str):
            return _from_form(match.group(1), match.group(2), content, folder)
        return None
    if not isinstance(value, str):
        return None
    match = _IMAGE_TEXT.match(value.strip())
    if match:
        return _from_form(match.group(1), match.group(2), match.group(3), folder)
    if not declared or not value.strip():
        return None
    text = value.strip()
    if text.lower().startswith(("http://", "https://")) or _DATA_URI.match(text):
        return text
    return _file_uri(folder / text)


class ImageSlots:
    """Images of one model call: values swapped for placeholders before rendering, and the
    rendered messages turned into parts afterwards."""

    def __init__(self) -> None:
        self.by_token: dict[str, Image] = {}

    def swap(self, variables: dict[str, Any], folder: Path, declared: set[str]) -> dict[str, Any]:
        swapped = dict(variables)
        for name, value in variables.items():
            url = to_image_url(value, folder, name in declared)
            if url is None and isinstance(value, list):
                urls = [to_image_url(item, folder, name in declared) for item in value]
                if urls and all(urls):
                    swapped[name] = "\n".join(self._add(u) for u in urls)
                continue
            if url is not None:
                swapped[name] = self._add(url)
        return swapped

    def _add(self, url: str) -> str:
        token = f"pw-image-{secrets.token_hex(8)}"
        self.by_token[token] = Image(url, token)
        return token

    def attach(self, messages: list[dict[str, Any]], detail: str = "auto") -> list[dict[str, Any]]:
        if not self.by_token:
            return messages
        return [self._parts(message, detail) for message in messages]

    def _parts(self, message: dict[str, Any], detail: str) -> dict[str, Any]:
        content = message.get("content")
        if not isinstance(content, str) or not any(token in content for token in self.by_token):
            return message
        parts: list[dict[str, Any]] = []
        for chunk in content.strip().split("\n"):
            image = self.by_token.get(chunk.strip())
            if image is not None:
                parts.append({"type": "image_url", "image_url": {"url": image.url, "detail": detail}})
            elif chunk.strip():
                parts.append({"type": "text", "text": chunk})
        return {**message, "content": parts}
