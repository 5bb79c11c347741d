"""Documents Promptwise reads, parsed with exact source ranges (no pygls, no network).

`load_document(path, text=None)` picks the kind by file name and returns a FlowDag,
FlexFlow, Prompty, JinjaTemplate, PythonToolFile, UnreadableDocument, or None.

Names are imported lazily (PEP 562), so importing one document module does not parse-load
them all. Plain shared types (ranges, problems) come from `promptwise.common`, below this
layer: documents/ never imports analysis/ or anything above it.
"""

_LOAD_NAMES = ("Document", "UnreadableDocument", "document_kind", "load_document")

__all__ = list(_LOAD_NAMES)


def __getattr__(name: str):
    if name in _LOAD_NAMES:
        from promptwise.documents import load

        return getattr(load, name)
    raise AttributeError(f"module 'promptwise.documents' has no attribute {name!r}")
