"""The language server: the only layer that imports pygls (wiring in `setup`, shared state in
`server`, one module per feature; `job_worker` runs flows in child processes)."""
