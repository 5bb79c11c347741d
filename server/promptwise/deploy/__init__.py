"""Versions and deployments: the registry of packaged flow versions (registry.py), governance
checks before anything leaves the machine (governance.py), the append-only audit log
(audit.py) and deployment targets behind one small interface (targets/).

Sits above engine/ and store/ (it reads runs and evaluations for a version's evidence) and below
commands/. The core never imports a cloud SDK: each target imports its own, lazily, and says
which `pip install` brings it when it is missing.
"""
