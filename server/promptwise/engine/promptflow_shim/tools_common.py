"""`promptflow.tools.common`: the helpers of Prompt flow's built-in tools that flow code imports.

Rendering goes through Promptwise's sandboxed renderer; clients are the real openai SDK's,
built from the connection objects the engine hands to tools.
"""

from __future__ import annotations

import functools
from typing import Any, Callable


def render_jinja_template(prompt: str, trim_blocks: bool = True, keep_trailing_newline: bool = True,
                          escape_dict: dict | None = None, **kwargs: Any) -> str:
    from promptwise.documents.render import RUN_LIMITS, render_template

    return render_template(str(prompt), kwargs, limits=RUN_LIMITS)


def parse_chat(chat_str: str, images: list | None = None, valid_roles: list | None = None,
               image_detail: str = "auto", escape_dict: dict | None = None) -> list[dict]:
    """`[{"role", "content"}, ...]` from rendered text with role lines."""
    from promptwise.documents.render import parse_chat as split_roles

    return split_roles(chat_str, None)


def handle_openai_error(tries: int = 10, unprocessable_entity_error_tries: int = 3) -> Callable:
    """A decorator in Prompt flow that retries; the engine retries model calls itself."""

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

        return wrapper

    return decorate


def normalize_connection_config(connection: Any) -> dict:
    """Client keyword arguments for an OpenAI or Azure OpenAI connection object."""
    if getattr(connection, "api_type", None) == "azure" or hasattr(connection, "api_base"):
        return {"max_retries": 0, "api_key": connection.api_key, "api_version": connection.api_version,
                "azure_endpoint": connection.api_base}
    return {"max_retries": 0, "api_key": connection.api_key, "organization": getattr(connection, "organization", None),
            "base_url": getattr(connection, "base_url", None)}


def init_openai_client(connection: Any):
    from openai import OpenAI

    return OpenAI(**normalize_connection_config(connection))


def init_azure_openai_client(connection: Any):
    from openai import AzureOpenAI

    return AzureOpenAI(**normalize_connection_config(connection))
