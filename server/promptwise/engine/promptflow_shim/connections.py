"""`promptflow.connections` classes, for type annotations and isinstance checks in tools."""

from __future__ import annotations

from typing import Any


class _Connection:
    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self, key, value)

    def __repr__(self) -> str:  # never show secrets
        return f"{type(self).__name__}(name={getattr(self, 'name', None)!r})"


class AzureOpenAIConnection(_Connection):
    pass


class OpenAIConnection(_Connection):
    pass


class CustomConnection(_Connection):
    def __init__(self, secrets: dict | None = None, configs: dict | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secrets = dict(secrets or {})
        self.configs = dict(configs or {})

    def __getattr__(self, name: str) -> Any:
        for store in (self.__dict__.get("secrets", {}), self.__dict__.get("configs", {})):
            if name in store:
                return store[name]
        raise AttributeError(name)


class ServerlessConnection(_Connection):
    pass


class AzureContentSafetyConnection(_Connection):
    pass


class CognitiveSearchConnection(_Connection):
    pass


class SerpConnection(_Connection):
    pass


class FormRecognizerConnection(_Connection):
    pass


class WeaviateConnection(_Connection):
    pass


class QdrantConnection(_Connection):
    pass
