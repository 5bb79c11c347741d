"""Stand-ins for the parts of `promptflow` that user tool code imports.

Installed by `promptwise.engine.shim.install()` only when the real promptflow is absent,
so `from promptflow import tool` and `from promptflow.core import tool, log_metric` work
in the user's files as written. Only what tool code touches is here: decorators, metric
logging, connection and model-configuration classes, and a few type names.
"""

from promptwise.engine.promptflow_shim.core import (  # noqa: F401
    AsyncPrompty,
    AzureOpenAIModelConfiguration,
    OpenAIModelConfiguration,
    Prompty,
    ToolProvider,
    log_metric,
    tool,
)
from promptwise.engine.promptflow_shim.tracing import start_trace, trace  # noqa: F401

__version__ = "0.0.0+promptwise-shim"
