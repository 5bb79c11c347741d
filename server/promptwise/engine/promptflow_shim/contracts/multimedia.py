"""`promptflow.contracts.multimedia`: the image type tools annotate parameters with."""

from __future__ import annotations

import base64


class PFBytes(bytes):
    """Bytes with the MIME type and, when it came from a URL, where from."""

    def __new__(cls, value: bytes, mime_type: str = "image/*", source_url: str | None = None):
        obj = super().__new__(cls, value)
        obj._mime_type = mime_type
        obj.source_url = source_url
        return obj

    def to_base64(self, with_type: bool = False) -> str:
        encoded = base64.b64encode(self).decode("ascii")
        return f"data:{self._mime_type};base64,{encoded}" if with_type else encoded


class Image(PFBytes):
    pass


class Text(str):
    pass
