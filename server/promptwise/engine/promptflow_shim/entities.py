"""`promptflow.entities`: the connection classes again (older imports use this path)."""

from promptwise.engine.promptflow_shim.connections import *  # noqa: F401,F403
from promptwise.engine.promptflow_shim.connections import (  # noqa: F401
    AzureOpenAIConnection,
    CustomConnection,
    OpenAIConnection,
)
