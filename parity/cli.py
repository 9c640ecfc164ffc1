"""The `parity` command: one small `cmd_<name>(args) -> int` per subcommand.

A ParityError anywhere is printed as one line, `parity: error: ...`, on stderr, and the
process exits with the error's `exit_code`; Ctrl-C exits 130 after cleanup has run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from parity.configuration import ParityConfig
from parity.support.errors import ParityConfigError, ParityError
from parity.support.interrupts import take_sigint
from parity.support.version import VERSION

Command = Callable[[argparse.Namespace], int]


def cmd_doctor(args: argparse.Namespace) -> int:
    from parity.machine import doctor

    checks = doctor.run_checks(args.config)
    for line in doctor.format_checks(checks):
        print(line)
    return doctor.exit_code(checks)


def cmd_base_image(args: argparse.Namespace) -> int:
    from parity.machine import baseimage

    if args.if_no_registry and _official_images_available(args.config):
        return 0
    images = baseimage.build_base_images(force=args.force, mirror=args.mirror, suite=args.suite)
    for line in baseimage.standin_lines(images):
        print(line, flush=True)
    return 0


def _official_images_available(config_path: Path | None) -> bool:
    """True when the configured base and frontend images are present locally or pullable."""
    from parity import configuration as config
    from parity.machine import baseimage, engine

    try:
        loaded = config.load_config(config_path or config.find_config(Path.cwd()))
        wanted = (loaded.base_image, loaded.frontend_image)
    except ParityConfigError:
        if config_path is not None:
            raise
        wanted = (os.environ.get("PARITY_BASE_IMAGE") or config.DEFAULT_BASE_IMAGE,
                  os.environ.get("PARITY_FRONTEND_IMAGE") or config.DEFAULT_FRONTEND_IMAGE)
    client = engine.client()
    missing = [ref for ref in wanted if baseimage.image_availability(client, ref) is None]
    for ref in missing:
        print(f"base-image: {ref} is neither present nor pullable", file=sys.stderr)
    return not missing


def _load(args: argparse.Namespace) -> ParityConfig:
    from parity.configuration import find_config, load_config

    return load_config(args.config or find_config(Path.cwd()))


def cmd_build(args: argparse.Namespace) -> int:
    from parity import commands

    for line in commands.build(_load(args)):
        print(line)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from parity import commands

    config = _load(args)
    # SIGTERM (a CI cancellation, `parity down`, kill) tears down like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda signum, frame: _interrupt())
    try:
        commands.up(config)
    except KeyboardInterrupt:
        print("parity: torn down", file=sys.stderr)
    return 0


def _interrupt() -> None:
    raise KeyboardInterrupt


def cmd_down(args: argparse.Namespace) -> int:
    from parity import commands

    stopped = commands.down()
    print(f"stopped {stopped} running `parity up`" if stopped else "no `parity up` is running")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from parity import commands

    removed = commands.sweep(dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for item in removed:
        print(f"{verb} {item}")
    if not removed:
        print("nothing left behind by dead runs")
    return 0


def cmd_facts(args: argparse.Namespace) -> int:
    from parity import commands

    found = commands.facts(_load(args))
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for line in commands.facts_lines(found):
            print(line)
    return 1 if any(f.get("failed") for f in found) else 0


def cmd_report(args: argparse.Namespace) -> int:
    from parity import commands

    width = shutil.get_terminal_size((100, 20)).columns
    for line in commands.report(args.path, args.html, width):
        print(line)
    return 0


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="PATH",
                        help="the app's pyproject.toml (default: the nearest one with "
                             "[tool.parity], from the current directory upwards)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parity",
        description="Prove the containerized stack behaves like the local dev server.",
    )
    parser.add_argument("--version", action="version", version=f"parity {VERSION}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    doctor = sub.add_parser("doctor", help="check this machine and the app config")
    _config_option(doctor)
    doctor.set_defaults(func=cmd_doctor)

    base = sub.add_parser(
        "base-image",
        help="build local stand-ins for python:3.11-slim and nginx:stable (no registry needed)",
        description="Build base images from the Debian archive apt uses. Wherever "
                    "python:3.11-slim or nginx:stable (or the images [tool.parity] names) are "
                    "neither present nor pullable, parity then uses these stand-ins by itself.",
    )
    base.add_argument("--force", action="store_true", help="rebuild even if the images exist")
    base.add_argument("--if-no-registry", action="store_true",
                      help="do nothing when the configured images are present or pullable")
    base.add_argument("--suite", default="bookworm", help="Debian suite (default: bookworm)")
    base.add_argument("--mirror", default=None, metavar="URI",
                      help="Debian archive URI (default: the one apt is configured with)")
    _config_option(base)
    base.set_defaults(func=cmd_base_image)

    build = sub.add_parser("build", help="build the app and frontend images (nothing when unchanged)")
    _config_option(build)
    build.set_defaults(func=cmd_build)

    up = sub.add_parser("up", help="bring both environments up, print their URLs, wait for Ctrl-C")
    _config_option(up)
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="tear down what a running `parity up` started")
    down.set_defaults(func=cmd_down)

    clean = sub.add_parser("clean", help="remove everything killed runs left behind")
    clean.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    clean.set_defaults(func=cmd_clean)

    facts = sub.add_parser("facts", help="compare environment facts side by side, without tests")
    facts.add_argument("--json", action="store_true", help="print the facts as JSON")
    _config_option(facts)
    facts.set_defaults(func=cmd_facts)

    report = sub.add_parser("report", help="print (and re-render) a run's report")
    report.add_argument("path", nargs="?", type=Path, default=Path("parity-report.json"),
                        help="the JSON report (default: parity-report.json)")
    report.add_argument("--html", type=Path, metavar="PATH", help="also write the HTML report here")
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    take_sigint()  # a background job of a script inherits SIGINT ignored
    try:
        return func(args)
    except ParityError as error:
        print(f"parity: error: {error.one_line()}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("parity: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `parity doctor | head`: the reader left; say nothing more
        sys.stdout = open(os.devnull, "w")
        return 141
