"""The `parity` command: one small `cmd_<name>(args) -> int` per subcommand.

A ParityError anywhere is printed as one line, `parity: error: ...`, on stderr, and the
process exits with the error's `exit_code`; Ctrl-C exits 130 after cleanup has run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from parity import __version__
from parity.errors import ParityConfigError, ParityError

Command = Callable[[argparse.Namespace], int]


def cmd_doctor(args: argparse.Namespace) -> int:
    from parity import doctor

    checks = doctor.run_checks(args.config)
    for line in doctor.format_checks(checks):
        print(line)
    return doctor.exit_code(checks)


def cmd_base_image(args: argparse.Namespace) -> int:
    from parity import baseimage

    if args.if_no_registry and _official_images_available(args.config):
        return 0
    images = baseimage.build_base_images(force=args.force, mirror=args.mirror, suite=args.suite)
    for line in baseimage.export_lines(images):
        print(line, flush=True)
    return 0


def _official_images_available(config_path: Path | None) -> bool:
    """True when the configured base and frontend images are present locally or pullable."""
    from parity import baseimage, config, engine

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


def _not_implemented(name: str) -> Command:
    def command(args: argparse.Namespace) -> int:
        print(f"parity {name}: not implemented yet", file=sys.stderr)
        return 2

    command.__name__ = f"cmd_{name}"
    return command


cmd_build = _not_implemented("build")
cmd_up = _not_implemented("up")
cmd_down = _not_implemented("down")
cmd_clean = _not_implemented("clean")
cmd_facts = _not_implemented("facts")
cmd_report = _not_implemented("report")


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="PATH",
                        help="the app's pyproject.toml (default: the nearest one with "
                             "[tool.parity], from the current directory upwards)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parity",
        description="Prove the containerized stack behaves like the local dev server.",
    )
    parser.add_argument("--version", action="version", version=f"parity {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    doctor = sub.add_parser("doctor", help="check this machine and the app config")
    _config_option(doctor)
    doctor.set_defaults(func=cmd_doctor)

    base = sub.add_parser(
        "base-image",
        help="build local stand-ins for python:3.11-slim and nginx:stable (no registry needed)",
        description="Build base images from the Debian archive apt uses and print the "
                    "`export PARITY_BASE_IMAGE=...` lines: eval \"$(parity base-image)\"",
    )
    base.add_argument("--force", action="store_true", help="rebuild even if the images exist")
    base.add_argument("--if-no-registry", action="store_true",
                      help="do nothing when the configured images are present or pullable")
    base.add_argument("--suite", default="bookworm", help="Debian suite (default: bookworm)")
    base.add_argument("--mirror", default=None, metavar="URI",
                      help="Debian archive URI (default: the one apt is configured with)")
    _config_option(base)
    base.set_defaults(func=cmd_base_image)

    for name, command, help_text in (
        ("build", cmd_build, "build the app and frontend images"),
        ("up", cmd_up, "bring both environments up and leave them running"),
        ("down", cmd_down, "tear down what `parity up` started"),
        ("clean", cmd_clean, "remove everything a killed run left behind"),
        ("facts", cmd_facts, "compare environment facts side by side"),
        ("report", cmd_report, "render the last run's report"),
    ):
        placeholder = sub.add_parser(name, help=help_text)
        _config_option(placeholder)
        placeholder.set_defaults(func=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command | None = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
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
