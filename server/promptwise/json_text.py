"""JSON text of plain values, for the paths that encode on every row or span (span content,
the span store's attribute column, the run store's values).

`json.JSONEncoder(...).encode` builds CPython's C encoder again on every call (and `json.dumps`
with any option builds a JSONEncoder too): for the small values traced per row that set-up was
a third or more of each encoding. `encoder` builds it once. It gives the same text as
`json.JSONEncoder(ensure_ascii=False, default=default).encode`, except that a value holding
itself raises RecursionError instead of ValueError (no marker table: one shared table would be
written by every thread that encodes). Where the C encoder is missing, or takes other
arguments than the ones checked for, it is that `encode` itself.

A bottom module: it imports nothing of ours.
"""

from __future__ import annotations

import json
from json import encoder as _encoder_module
from typing import Any, Callable

# Every kind of value the C encoder treats apart, to check that a prebuilt one writes what
# JSONEncoder.encode writes on this Python.
_PROBE = {"text": 'quote " backslash \\ line\n tab\t é \x01 \u2028', "int": -12, "float": 1.5, "big": 1e300,
          "nan": float("nan"), "true": True, "none": None, "list": [1, "a", [], {}], "tuple": ("x",),
          7: "int key", 2.5: "float key", None: "None key", False: "bool key", "other": object()}


def encoder(default: Callable[[Any], Any]) -> Callable[[Any], str]:
    """A function giving `json.JSONEncoder(ensure_ascii=False, default=default).encode(value)`
    (`default` turns what JSON cannot show into what it can), with the C encoder built once."""
    plain = json.JSONEncoder(ensure_ascii=False, default=default).encode
    make = getattr(_encoder_module, "c_make_encoder", None)
    if make is None:
        return plain
    try:
        chunks = make(None, default, _encoder_module.encode_basestring, None, ": ", ", ", False, False, True)
    except TypeError:  # another Python's arguments
        return plain

    def encode(value: Any) -> str:
        return "".join(chunks(value, 0))

    try:
        same = encode(_PROBE) == plain(_PROBE)
    except Exception:  # noqa: BLE001 - whatever this Python's C encoder makes of it, the plain one is used
        same = False
    return encode if same else plain
