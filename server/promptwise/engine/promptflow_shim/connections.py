"""`promptflow.connections` classes, for type annotations and isinstance checks in tools."""

from __future__ import annotations

from typing import Any


class _Connection:
    """Fields as attributes, and as a mapping (`connection["api_key"]`, `dict(connection)`),
    as Prompt flow's connection objects allow both."""

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self, key, value)

    def _fields(self) -> dict[str, Any]:
        return {key: value for key, value in vars(self).items() if not key.startswith("_")}

    def keys(self):
        return self._fields().keys()

    def __getitem__(self, key: str) -> Any:
        fields = self._fields()
        if key not in fields:
            raise KeyError(key)
        return fields[key]

    def __contains__(self, key: object) -> bool:
        return key in self._fields()

    def __iter__(self):
        return iter(self._fields())

    def get(self, key: str, default: Any = None) -> Any:
        return self._fields().get(key, default)

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

    def _fields(self) -> dict[str, Any]:
        """A custom connection's mapping is its configs and secrets."""
        return {**self.__dict__.get("configs", {}), **self.__dict__.get("secrets", {})}


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
