"""The language server: the only layer that imports pygls (wiring in `setup`, state in
`server`, one module per feature)."""

# Load the document model before anything imports `promptwise.analysis.problem`: the two
# packages import each other, and only this order initialises them without a cycle.
import promptwise.documents  # noqa: F401,E402
