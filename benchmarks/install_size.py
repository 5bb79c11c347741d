"""How much disk a fresh install of Promptwise takes: the core, and each extra on top of it.

Each case is a new virtual environment in a temporary folder, `pip install` of this checkout
with the versions of constraints.txt (the lock), then the size of site-packages without pip and
setuptools (the tools, not the install) and the number of distributions it holds.

    .venv/bin/python benchmarks/install_size.py                 # the core alone
    .venv/bin/python benchmarks/install_size.py metrics serve   # the core, then core + each extra
    .venv/bin/python benchmarks/install_size.py --ref HEAD~3    # the package as it was at a commit
    .venv/bin/python benchmarks/install_size.py --largest 12    # and the core's largest distributions

The working tree is measured from a copy of its files (tracked, and new ones not ignored), so a
stale build/ folder of an earlier in-place build does not count. Installs come from the
package index (or pip's cache), so the first run takes a minute or two.
Aim: the core under 60 MB.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a new venv holds before the install: not part of Promptwise's footprint.
TOOLING = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence.pth")


def file_sizes(entry: Path):
    """(bytes, bytes on disk in whole blocks as `du` counts them, is bytecode) of each file under entry."""
    for path in (entry.rglob("*") if entry.is_dir() else [entry]):
        if path.is_file() and not path.is_symlink():
            stat = path.lstat()
            yield stat.st_size, stat.st_blocks * 512, path.suffix == ".pyc"


def copy_working_tree(target: Path) -> None:
    """The files git tracks, and the new ones it does not ignore, as they are now. Not the
    checkout itself: setuptools builds in place and packs whatever an earlier build left in
    build/lib (files since deleted or renamed), which a user's install would not hold."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        path = ROOT / name
        if path.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / name)


def site_packages(venv: Path) -> Path:
    return next((venv / "lib").glob("python*/site-packages"))


def measure(source: Path, extras: str, workdir: Path) -> dict:
    """Sizes and distribution count of site-packages after `pip install source[extras]`; under
    "by_distribution", each distribution's files (from its RECORD, .pyc included) in bytes."""
    venv = workdir / f"venv-{extras or 'core'}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    target = f"{source}[{extras}]" if extras else str(source)
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              "-c", str(ROOT / "constraints.txt"), target], capture_output=True, text=True)
    if install.returncode != 0:
        sys.exit(f"pip install {target} failed:\n{install.stdout}{install.stderr}")
    figures = {"bytes": 0, "disk": 0, "bytecode": 0, "distributions": 0}
    for entry in site_packages(venv).iterdir():
        name = entry.name
        if name.endswith(".dist-info"):
            figures["distributions"] += not name.startswith(("pip-", "setuptools-"))
        if name.split("-")[0] in TOOLING or name in TOOLING:
            continue
        for size, disk, bytecode in file_sizes(entry):
            figures["bytes"] += size
            figures["disk"] += disk
            figures["bytecode"] += size if bytecode else 0
    figures["by_distribution"] = distribution_sizes(site_packages(venv))
    return figures


def distribution_sizes(packages: Path) -> dict[str, int]:
    """Bytes of each distribution but pip and setuptools: the files its RECORD lists (pip records
    the .pyc it compiles there too)."""
    sizes = {}
    for info in packages.glob("*.dist-info"):
        name = info.name[:-len(".dist-info")].rsplit("-", 1)[0]
        if name in ("pip", "setuptools") or not (info / "RECORD").is_file():
            continue
        total = 0
        for row in (info / "RECORD").read_text(encoding="utf-8").splitlines():
            path = packages / row.rsplit(",", 2)[0]
            if path.is_file() and not path.is_symlink():
                total += path.lstat().st_size
        sizes[name] = total
    return sizes


def line(label: str, figures: dict, core: dict | None = None) -> str:
    mb = 1e6
    text = (f"  {label:<18} {figures['bytes'] / mb:6.1f} MB ({figures['bytecode'] / mb:4.1f} MB of it .pyc)  "
            f"du {figures['disk'] / mb:6.1f} MB  {figures['distributions']:3d} distributions")
    if core:
        text += f"  (+{(figures['bytes'] - core['bytes']) / mb:.1f} MB)"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extras", nargs="*", help="extras to measure on top of the core (metrics, serve, ...)")
    parser.add_argument("--ref", help="measure the package as committed at this git ref instead of the working tree")
    parser.add_argument("--largest", type=int, default=0, metavar="N", help="list the core's N largest distributions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promptwise-size-") as temp:
        workdir = Path(temp)
        source = workdir / "source"
        source.mkdir()
        if args.ref:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.ref], check=True, capture_output=True)
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        else:
            copy_working_tree(source)
        print(f"install size of {args.ref or 'the working tree'}: site-packages without pip/setuptools; "
              "file sizes (with the .pyc pip compiles), and `du` (whole disk blocks)")
        core = measure(source, "", workdir)
        print(line("core", core), flush=True)
        for name, size in sorted(core["by_distribution"].items(), key=lambda item: -item[1])[:args.largest]:
            print(f"    {name:<28} {size / 1e6:6.2f} MB")
        for extra in args.extras:
            print(line(f"core + [{extra}]", measure(source, extra, workdir), core), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
