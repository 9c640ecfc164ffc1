"""Make the wagtail-site scenario: a Wagtail site exactly as Wagtail's own project template
makes it (`wagtail start`, from the wagtail installed with the given interpreter), plus this
folder's small overlay: `overlay/` files are added, `append/` files are appended to the
template's own. Nothing generated is committed to parity's repository.

    python -m venv /tmp/site-venv
    /tmp/site-venv/bin/pip install "wagtail~=7.0.0"
    python scenarios/wagtail-site/generate.py /tmp/mysite --wagtail /tmp/site-venv/bin/wagtail
    /tmp/site-venv/bin/pip install -r /tmp/mysite/requirements.txt pytest-parity
    cd /tmp/mysite && /tmp/site-venv/bin/pytest --parity

The result is a git checkout with one commit, as a developer's would be.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WAGTAIL = "wagtail~=7.0.0"
"""The Wagtail release line whose template the scenario follows: 7.0 LTS (Django 5.2 LTS,
Python 3.11). Wagtail 7.1+ stores content through django-tasks >= 0.8, whose frozen slotted
dataclasses fail on Debian bookworm's Python 3.11.2 (the local stand-in of python:3.11-slim):
parity reports that as a release step failing in the stack only."""
PROJECT = "mysite"


def generate(target: Path, wagtail: str) -> None:
    target.mkdir(parents=True, exist_ok=False)
    subprocess.run([wagtail, "start", PROJECT, str(target)], check=True, capture_output=True, text=True)
    shutil.copytree(HERE / "overlay", target, dirs_exist_ok=True)
    for addition in sorted(p for p in (HERE / "append").rglob("*") if p.is_file()):
        relative = addition.relative_to(HERE / "append")
        original = target / relative
        if not original.is_file():
            raise SystemExit(f"append/{relative}: the template made no {relative} to append to")
        text = original.read_text()
        original.write_text(text + ("" if text.endswith("\n") else "\n") + addition.read_text())
    git = ["git", "-C", str(target), "-c", "user.name=parity", "-c", "user.email=parity@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "wagtail start mysite, plus parity's overlay"], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path, help="a directory that does not exist yet")
    parser.add_argument("--wagtail", default=str(Path(sys.executable).parent / "wagtail"),
                        help="the `wagtail` command of the site's virtualenv")
    args = parser.parse_args(argv)
    generate(args.target, args.wagtail)
    print(f"generated {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
