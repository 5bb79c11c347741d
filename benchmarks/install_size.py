"""How much disk a fresh install of Promptwise takes: the core, and each extra on top of it.

Each case is a new virtual environment in a temporary folder, `pip install` of this checkout
with the versions of constraints.txt (the lock), then the size of site-packages without pip and
setuptools (the tools, not the install) and the number of distributions it holds.

    .venv/bin/python benchmarks/install_size.py                 # the core alone
    .venv/bin/python benchmarks/install_size.py metrics serve   # the core, then core + each extra
    .venv/bin/python benchmarks/install_size.py --ref HEAD~3    # the package as it was at a commit

Installs come from the package index (or pip's cache), so the first run takes a minute or two.
Aim: the core under 60 MB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a new venv holds before the install: not part of Promptwise's footprint.
TOOLING = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence.pth")


def tree_bytes(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python*/site-packages"))


def measure(source: Path, extras: str, workdir: Path) -> tuple[int, int]:
    """(bytes, distributions) of site-packages after `pip install source[extras]`."""
    venv = workdir / f"venv-{extras or 'core'}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    target = f"{source}[{extras}]" if extras else str(source)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-c", str(ROOT / "constraints.txt"), target], check=True)
    packages = site_packages(venv)
    total = 0
    distributions = 0
    for entry in packages.iterdir():
        name = entry.name
        if name.endswith(".dist-info"):
            distributions += not name.startswith(("pip-", "setuptools-"))
        if name.split("-")[0] in TOOLING or name in TOOLING:
            continue
        total += tree_bytes(entry) if entry.is_dir() else entry.lstat().st_size
    return total, distributions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extras", nargs="*", help="extras to measure on top of the core (metrics, serve, ...)")
    parser.add_argument("--ref", help="measure the package as committed at this git ref instead of the working tree")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promptwise-size-") as temp:
        workdir = Path(temp)
        source = ROOT
        if args.ref:
            source = workdir / "source"
            source.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.ref], check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        print(f"install size of {args.ref or 'the working tree'} (site-packages without pip/setuptools)")
        core, count = measure(source, "", workdir)
        print(f"  core                 {core / 1e6:7.1f} MB  {count:3d} distributions")
        for extra in args.extras:
            size, n = measure(source, extra, workdir)
            print(f"  core + [{extra}]{' ' * max(1, 12 - len(extra))}{size / 1e6:7.1f} MB  {n:3d} distributions"
                  f"  (+{(size - core) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
