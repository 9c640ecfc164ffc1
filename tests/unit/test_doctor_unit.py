"""`parity doctor`: formatting, exit logic and each check, with the machine faked (no Docker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from parity import cli
from parity.machine import doctor
from parity.machine.baseimage import BaseImages
from parity.machine.doctor import Check, Probes, exit_code, format_checks, run_checks
from parity.support.errors import MissingDependencyError

BUILT = BaseImages("parity-base/python:3.11-bookworm-0123456789",
                   "parity-base/nginx:bookworm-0123456789")


class FakeEngine:
    def version(self) -> dict[str, str]:
        return {"Version": "20.10.24+dfsg1"}


def probes(tmp_path: Path, **overrides: Any) -> Probes:
    """A machine where everything is fine; each test breaks one thing."""
    bindir = Path("/usr/lib/postgresql/15/bin")
    defaults: dict[str, Any] = dict(
        connect=FakeEngine,
        compose_command=lambda: ("docker", "compose"),
        compose_version=lambda: "2.26.1",
        image_availability=lambda engine, ref: "present",
        standin=lambda engine, kind, ref: None,
        postgres_bindir=lambda: bindir,
        run=lambda argv: (0, "postgres (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)\n"),
        has_user=lambda name: True,
        euid=lambda: 0,
        environ={},
        cwd=lambda: tmp_path,
    )
    defaults.update(overrides)
    return Probes(**defaults)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def write_app(root: Path, extra: str = "") -> Path:
    (root / "mysite").mkdir(parents=True)
    (root / "mysite" / "__init__.py").write_text("")
    (root / "mysite" / "wsgi.py").write_text("application = None\n")
    (root / "manage.py").write_text("")
    (root / "requirements.txt").write_text("django\n")
    pyproject = root / "pyproject.toml"
    pyproject.write_text('[tool.parity]\napp = "django"\nwsgi = "mysite.wsgi:application"\n'
                         'settings = "mysite.settings"\n' + extra)
    return pyproject


# --- formatting and exit logic -------------------------------------------------------------

def test_format_pads_status_and_name_and_appends_the_fix() -> None:
    lines = format_checks([
        Check("docker engine", "ok", "20.10.24+dfsg1 at unix:///var/run/docker.sock"),
        Check("base image", "missing", "python:3.11-slim not present and not pullable",
              "run `parity base-image`"),
    ])
    assert lines == [
        "ok       docker engine        20.10.24+dfsg1 at unix:///var/run/docker.sock",
        "missing  base image           python:3.11-slim not present and not pullable"
        " — run `parity base-image`",
    ]


@pytest.mark.parametrize(("statuses", "expected"), [
    (["ok", "ok"], 0),
    (["ok", "skip"], 0),
    (["ok", "missing"], 1),
    (["fail", "skip"], 1),
])
def test_exit_code_passes_only_ok_and_skip(statuses: list[str], expected: int) -> None:
    checks = [Check(f"c{i}", s, "detail") for i, s in enumerate(statuses)]  # type: ignore[arg-type]
    assert exit_code(checks) == expected


# --- the checks -----------------------------------------------------------------------------

def test_all_ok_machine_outside_an_app_directory(tmp_path: Path) -> None:
    checks = run_checks(None, probes(tmp_path))
    assert [c.name for c in checks] == ["docker engine", "docker compose", "base image",
                                        "frontend image", "postgres binaries", "app config"]
    assert [c.status for c in checks] == ["ok"] * 5 + ["skip"]
    assert exit_code(checks) == 0
    found = by_name(checks)
    assert found["docker engine"].detail == "20.10.24+dfsg1 at unix:///var/run/docker.sock"
    assert found["docker compose"].detail == "v2 plugin 2.26.1"
    assert found["base image"].detail == "python:3.11-slim present (default)"
    assert found["postgres binaries"].detail == \
        "/usr/lib/postgresql/15/bin (15.13), runs as user postgres"


def test_engine_down_is_missing_with_the_fix_and_images_are_not_checked(tmp_path: Path) -> None:
    def refuse() -> Any:
        raise MissingDependencyError("Error while fetching server API version")

    environ = {"DOCKER_HOST": "unix:///tmp/nope.sock"}
    checks = by_name(run_checks(None, probes(tmp_path, connect=refuse, environ=environ)))
    engine = checks["docker engine"]
    assert engine.status == "missing"
    assert engine.detail.startswith("not reachable at unix:///tmp/nope.sock")
    assert "scripts/provision" in engine.fix and "DOCKER_HOST" in engine.fix
    assert checks["base image"].status == "missing"
    assert "not checked" in checks["base image"].detail


def test_legacy_compose_is_ok_and_says_so(tmp_path: Path) -> None:
    checks = by_name(run_checks(None, probes(
        tmp_path, compose_command=lambda: ("/usr/bin/docker-compose",),
        compose_version=lambda: "1.29.2")))
    assert checks["docker compose"].status == "ok"
    assert checks["docker compose"].detail.startswith("legacy docker-compose 1.29.2")


def test_no_compose_is_missing(tmp_path: Path) -> None:
    def absent() -> tuple[str, ...]:
        raise MissingDependencyError("docker compose not found")

    check = by_name(run_checks(None, probes(tmp_path, compose_command=absent)))["docker compose"]
    assert check.status == "missing" and "scripts/provision" in check.fix


def test_image_not_present_and_not_pullable_suggests_parity_base_image(tmp_path: Path) -> None:
    checks = by_name(run_checks(None, probes(tmp_path, image_availability=lambda e, r: None)))
    base = checks["base image"]
    assert base.status == "missing"
    assert base.detail == "python:3.11-slim not present and not pullable"
    assert "run `parity base-image`" in base.fix
    assert "docker pull python:3.11-slim" in base.fix
    assert "docker pull nginx:stable" in checks["frontend image"].fix


def test_stand_ins_parity_built_make_missing_images_ok_with_no_export(tmp_path: Path) -> None:
    """In a new shell right after `parity base-image`: nothing to export, doctor is all ok."""
    asked: list[tuple[str, str]] = []

    def standin(engine: Any, kind: str, reference: str) -> str:
        asked.append((kind, reference))
        return BUILT.python if kind == "python" else BUILT.frontend

    checks = by_name(run_checks(None, probes(
        tmp_path, image_availability=lambda e, r: None, standin=standin)))
    assert asked == [("python", "python:3.11-slim"), ("nginx", "nginx:stable")]
    assert [c.status for c in checks.values()] == ["ok"] * 5 + ["skip"]
    assert checks["base image"].detail == (
        f"python:3.11-slim neither present nor pullable (default): parity uses its stand-in "
        f"{BUILT.python}, built by `parity base-image`")
    assert BUILT.frontend in checks["frontend image"].detail
    assert not any("export" in c.fix for c in checks.values())


def test_an_explicit_image_variable_is_never_replaced_by_a_stand_in(tmp_path: Path) -> None:
    environ = {"PARITY_BASE_IMAGE": "corp/python:3.11"}
    checks = by_name(run_checks(None, probes(
        tmp_path, image_availability=lambda e, r: None, environ=environ,
        standin=lambda e, k, r: BUILT.python)))
    base = checks["base image"]
    assert base.status == "missing"
    assert base.detail == "corp/python:3.11 not present and not pullable"
    assert "unset PARITY_BASE_IMAGE" in base.fix and "docker pull corp/python:3.11" in base.fix


def test_env_overrides_name_the_images_and_their_source(tmp_path: Path) -> None:
    seen: list[str] = []

    def availability(engine: Any, ref: str) -> str | None:
        seen.append(ref)
        return "pullable" if ref.startswith("parity-base/nginx") else None

    environ = {"PARITY_BASE_IMAGE": BUILT.python, "PARITY_FRONTEND_IMAGE": BUILT.frontend}
    checks = by_name(run_checks(None, probes(tmp_path, image_availability=availability,
                                             environ=environ)))
    assert seen == [BUILT.python, BUILT.frontend]
    assert checks["frontend image"].detail == \
        f"{BUILT.frontend} pullable from its registry (PARITY_FRONTEND_IMAGE)"
    assert checks["base image"].status == "missing"
    assert "unset PARITY_BASE_IMAGE" in checks["base image"].fix


def test_images_named_by_the_app_config(tmp_path: Path) -> None:
    write_app(tmp_path, 'base_image = "python:3.12-slim"\n')
    seen: list[str] = []
    checks = by_name(run_checks(None, probes(
        tmp_path, image_availability=lambda e, r: seen.append(r) or "present")))
    assert seen == ["python:3.12-slim", "nginx:stable"]
    assert checks["base image"].detail == "python:3.12-slim present (pyproject.toml [tool.parity])"
    assert checks["app config"].status == "ok"
    assert checks["app config"].detail == \
        f"{tmp_path / 'pyproject.toml'}: django app mysite.wsgi:application"


def test_bad_app_config_fails_with_its_one_line_error(tmp_path: Path) -> None:
    pyproject = write_app(tmp_path, "app_port = 8000\n")
    checks = by_name(run_checks(pyproject, probes(tmp_path)))
    config = checks["app config"]
    assert config.status == "fail"
    assert "tool.parity.app_port" in config.detail and "\n" not in config.detail
    assert exit_code(list(checks.values())) == 1


def test_explicit_missing_config_fails_rather_than_skips(tmp_path: Path) -> None:
    check = by_name(run_checks(tmp_path / "nope.toml", probes(tmp_path)))["app config"]
    assert check.status == "fail" and "file not found" in check.detail


def test_postgres_missing_binaries(tmp_path: Path) -> None:
    check = by_name(run_checks(None, probes(tmp_path, postgres_bindir=lambda: None)))[
        "postgres binaries"]
    assert check.status == "missing" and "apt-get install postgresql" in check.fix


def test_postgres_as_root_runs_as_the_postgres_user(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def run(argv: list[str]) -> tuple[int, str]:
        calls.append(argv)
        return 0, "postgres (PostgreSQL) 15.13\n"

    run_checks(None, probes(tmp_path, run=run))
    assert calls == [["runuser", "-u", "postgres", "--",
                      "/usr/lib/postgresql/15/bin/postgres", "--version"]]


def test_postgres_as_root_without_a_postgres_user(tmp_path: Path) -> None:
    check = by_name(run_checks(None, probes(tmp_path, has_user=lambda n: False)))[
        "postgres binaries"]
    assert check.status == "missing" and "useradd" in check.fix


def test_postgres_as_a_normal_user_runs_directly(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def run(argv: list[str]) -> tuple[int, str]:
        calls.append(argv)
        return 0, "postgres (PostgreSQL) 15.13\n"

    check = by_name(run_checks(None, probes(tmp_path, run=run, euid=lambda: 1000)))[
        "postgres binaries"]
    assert calls == [["/usr/lib/postgresql/15/bin/postgres", "--version"]]
    assert check.detail.endswith("runs as the current user")


def test_postgres_that_does_not_run_fails(tmp_path: Path) -> None:
    check = by_name(run_checks(None, probes(
        tmp_path, run=lambda argv: (1, "runuser: cannot execute: Permission denied\n"))))[
        "postgres binaries"]
    assert check.status == "fail" and "Permission denied" in check.detail


def test_a_check_that_raises_is_a_fail_line_not_a_traceback(tmp_path: Path) -> None:
    def explode() -> Path | None:
        raise RuntimeError("disk on fire\nsecond line")

    checks = run_checks(None, probes(tmp_path, postgres_bindir=explode))
    check = by_name(checks)["postgres binaries"]
    assert check == Check("postgres binaries", "fail", "RuntimeError: disk on fire")
    assert len(format_checks(checks)) == len(checks)
    assert exit_code(checks) == 1


def test_engine_that_raises_unexpectedly_still_checks_the_rest(tmp_path: Path) -> None:
    def explode() -> Any:
        raise ValueError("bad DOCKER_HOST")

    checks = by_name(run_checks(None, probes(tmp_path, connect=explode)))
    assert checks["docker engine"] == Check("docker engine", "fail", "ValueError: bad DOCKER_HOST")
    assert checks["postgres binaries"].status == "ok"


# --- the command ---------------------------------------------------------------------------

def test_cli_prints_one_line_per_check_and_exits_by_status(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    results = [Check("docker engine", "ok", "20.10"), Check("app config", "skip", "none")]
    monkeypatch.setattr(doctor, "run_checks", lambda config_path: results)
    assert cli.main(["doctor"]) == 0
    assert capsys.readouterr().out.splitlines() == format_checks(results)

    results.append(Check("base image", "missing", "absent", "build it"))
    assert cli.main(["doctor", "--config", str(tmp_path)]) == 1


def test_cli_prints_a_parity_error_as_one_line(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(config_path: Path | None) -> list[Check]:
        raise MissingDependencyError("no engine here\nmore detail")

    monkeypatch.setattr(doctor, "run_checks", broken)
    assert cli.main(["doctor"]) == MissingDependencyError.exit_code
    assert capsys.readouterr().err == "parity: error: no engine here\n"



def test_a_compose_plugin_without_override_is_ok_with_a_note(tmp_path: Path) -> None:
    checks = by_name(run_checks(None, probes(tmp_path, compose_version=lambda: "2.20.2")))
    compose = checks["docker compose"]
    assert compose.status == "ok"
    assert compose.detail == ("v2 plugin 2.20.2 (an own compose file that publishes ports needs "
                              ">= 2.24.4: `scripts/provision` installs one)")
