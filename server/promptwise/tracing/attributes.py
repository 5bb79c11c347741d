"""Span attribute names for the layers above the engine (serving, monitoring, deploy, commands).

The names themselves live in `promptwise.span_attributes` at the bottom of the package, so
that the engine can set them without importing this layer; this module is their public face.
"""

from promptwise.span_attributes import *  # noqa: F401,F403
from promptwise.span_attributes import CONTENT_ATTRIBUTES  # noqa: F401  (not matched by *: listed for readers)
