"""Every module of the package imports on its own, first thing in a fresh interpreter.

A circular import (`promptwise.analysis.problem` needing `promptwise.documents`, whose
modules need problems) only shows when a module is the first one imported, which the rest
of the suite never does. One subprocess runs the check: it imports the third-party
libraries the package uses once, then forks a child per module, so each child starts
with no promptwise module loaded but does not pay for openai or pygls again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import promptwise

PACKAGE_DIR = Path(promptwise.__file__).resolve().parent

DRIVER = r'''
import importlib, json, os, subprocess, sys

package_dir, names = sys.argv[1], json.loads(sys.argv[2])


def third_party_modules():
    """What importing the whole package loads besides itself (asked of a throwaway
    interpreter, so this one stays clean)."""
    probe = (
        "import importlib, json, os, sys\n"
        f"names = {names!r}\n"
        "for name in names:\n"
        "    try: importlib.import_module(name)\n"
        "    except BaseException: pass\n"
        f"root = os.path.realpath({package_dir!r})\n"
        "print(json.dumps([m for m, mod in list(sys.modules.items()) if m.split('.')[0] not in ('promptwise', 'promptflow')"
        " and not os.path.realpath(getattr(mod, '__file__', None) or '/').startswith(root)]))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    return json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else []


def import_alone(name):
    """None when `name` imports cleanly as the first promptwise module, else the error."""
    if hasattr(os, "fork"):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            message = b""
            try:
                importlib.import_module(name)
            except BaseException as error:
                message = f"{type(error).__name__}: {error}".encode()
            os.write(write_end, message)
            os._exit(0)
        os.close(write_end)
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
        os.close(read_end)
        os.waitpid(pid, 0)
        return b"".join(chunks).decode() or None
    result = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=120)
    return (result.stderr.strip().splitlines() or ["failed"])[-1] if result.returncode else None


for module in third_party_modules():
    try:
        importlib.import_module(module)
    except BaseException:
        pass
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("promptwise", "promptflow"))
failures = {name: error for name in names if (error := import_alone(name))}
print(json.dumps({"loaded_before": loaded, "failures": failures}))
'''


def module_names() -> list[str]:
    """Every module file of the package, found without importing anything."""
    names = []
    for folder, dirs, files in os.walk(PACKAGE_DIR):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for file in sorted(files):
            if file.endswith(".py") and file != "__main__.py":  # __main__ runs the CLI
                relative = (Path(folder) / file).relative_to(PACKAGE_DIR.parent).with_suffix("")
                names.append(".".join(relative.parts).removesuffix(".__init__"))
    return names


def test_module_list_covers_the_package():
    names = module_names()
    assert {"promptwise", "promptwise.analysis.problem", "promptwise.documents.source", "promptwise.cli"} <= set(names)
    assert len(names) > 50


def test_every_module_imports_first_in_a_fresh_interpreter():
    names = module_names()
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, str(PACKAGE_DIR), json.dumps(names)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PACKAGE_DIR.parent.parent,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # the children must really start without any promptwise module loaded
    assert report["loaded_before"] == []
    assert report["failures"] == {}
