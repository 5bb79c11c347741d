"""Secret redaction, for callers that import it from the engine: it lives in `promptwise.redaction`
(below the store and the engine, which both use it)."""

from promptwise.redaction import MASK, dumps_redacted, redact, redact_value, register_secret

__all__ = ["MASK", "dumps_redacted", "redact", "redact_value", "register_secret"]
