"""Base-image recipes, apt source parsing and root-fs post-steps (no Docker, no debootstrap)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from parity.machine import baseimage, rootfs
from parity.machine.baseimage import (
    BaseImages,
    archive_uri,
    nginx_recipe,
    python_recipe,
    standin_lines,
)
from parity.support.errors import MissingDependencyError, ParityError

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.example/debian http://other.example/debian
Suites: bookworm bookworm-updates
Components: main
"""


def test_archive_uri_from_deb822_skips_the_security_archive(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert archive_uri(tmp_path) == "http://mirror.example/debian"


def test_archive_uri_from_one_line_sources_list(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb-src http://src.example/debian bookworm main\n"
        "deb http://security.debian.org/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n")
    assert archive_uri(tmp_path) == "http://mirror.example/debian"


def test_archive_uri_default_when_apt_has_nothing(tmp_path: Path) -> None:
    assert archive_uri(tmp_path) == "http://deb.debian.org/debian"


def test_tags_are_content_addressed() -> None:
    python = python_recipe("bookworm", "http://deb.debian.org/debian")
    assert python.reference == f"parity-base/python:3.11-bookworm-{python.digest[:10]}"
    nginx = nginx_recipe("bookworm", "http://deb.debian.org/debian")
    assert nginx.reference == f"parity-base/nginx:bookworm-{nginx.digest[:10]}"
    assert python_recipe("bookworm", "http://deb.debian.org/debian/").digest == python.digest
    assert python_recipe("bookworm", "http://mirror.example/debian").digest != python.digest
    assert python_recipe("trixie", "http://deb.debian.org/debian").reference.startswith(
        "parity-base/python:3.13-trixie-")
    assert "LABEL parity.base-image=nginx parity.recipe=" + nginx.digest in nginx.import_changes()


def test_recipes_are_drop_in_for_the_official_images() -> None:
    python = python_recipe()
    assert {"python3", "python3-venv", "python-is-python3", "ca-certificates"} <= set(
        python.packages)
    assert 'CMD ["python3"]' in python.changes and "ENV LANG=C.UTF-8" in python.changes
    nginx = nginx_recipe()
    assert 'CMD ["nginx", "-g", "daemon off;"]' in nginx.changes
    assert ("rm", "/etc/nginx/sites-enabled/default") in nginx.steps
    assert ("symlink", "/var/log/nginx/access.log", "/dev/stdout") in nginx.steps


def test_standin_lines_say_what_each_image_stands_in_for_and_ask_for_no_export() -> None:
    images = BaseImages("parity-base/python:3.11-bookworm-abc", "parity-base/nginx:bookworm-abc")
    lines = standin_lines(images)
    assert lines[0].startswith("parity-base/python:3.11-bookworm-abc  stands in for python:3.11")
    assert lines[1].startswith("parity-base/nginx:bookworm-abc        stands in for nginx:stable")
    assert not any("export" in line for line in lines)


def test_post_steps_on_a_root_fs(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc/nginx/sites-enabled").mkdir(parents=True)
    # A dangling absolute symlink, as in a fresh root fs: it must still be removed.
    (root / "etc/nginx/sites-enabled/default").symlink_to("/etc/nginx/sites-available/nope")
    (root / "usr/lib/python3.11").mkdir(parents=True)
    (root / "usr/lib/python3.11/EXTERNALLY-MANAGED").write_text("x")
    (root / "var/log/nginx").mkdir(parents=True)
    (root / "var/log/nginx/access.log").write_text("old")

    for step in [("rm", "/etc/nginx/sites-enabled/default"),
                 ("rm", "/usr/lib/python3*/EXTERNALLY-MANAGED"),
                 ("symlink", "/var/log/nginx/access.log", "/dev/stdout"),
                 ("mkdir", "/usr/share/nginx/html"),
                 ("write", "/usr/share/nginx/html/index.html", "hello")]:
        rootfs.apply_step(root, step)

    assert not (root / "etc/nginx/sites-enabled/default").is_symlink()
    assert not (root / "usr/lib/python3.11/EXTERNALLY-MANAGED").exists()
    assert str((root / "var/log/nginx/access.log").readlink()) == "/dev/stdout"
    assert (root / "usr/share/nginx/html/index.html").read_text() == "hello"


def test_post_steps_never_follow_a_symlink_out_of_the_root_fs(tmp_path: Path) -> None:
    outside = tmp_path / "host-etc"
    outside.mkdir()
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "etc").symlink_to(outside)
    with pytest.raises(ParityError, match="crosses a symlink"):
        rootfs.apply_step(root, ("write", "/etc/passwd", "pwned"))
    assert not (outside / "passwd").exists()


def test_nothing_mounted_below_a_fresh_dir(tmp_path: Path) -> None:
    assert rootfs.unmount_below(tmp_path) is True


def test_existing_images_make_the_build_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baseimage.engine_mod, "client", lambda: object())
    monkeypatch.setattr(baseimage.engine_mod, "image_present", lambda engine, ref: True)
    monkeypatch.setattr(baseimage, "_build_parallel", _must_not_build)
    lines: list[str] = []
    images = baseimage.build_base_images(mirror="http://deb.debian.org/debian",
                                         progress=lines.append)
    assert images.python == python_recipe().reference
    assert lines == [f"base-image: {images.python} and {images.frontend} present "
                     "(recipe unchanged)"]


def test_missing_debootstrap_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baseimage.engine_mod, "client", lambda: object())
    monkeypatch.setattr(baseimage.engine_mod, "image_present", lambda engine, ref: False)
    monkeypatch.setattr(baseimage, "debootstrap_path", lambda: None)
    monkeypatch.setattr(baseimage, "_build_parallel", _must_not_build)
    with pytest.raises(MissingDependencyError, match="apt-get install debootstrap"):
        baseimage.build_base_images(mirror="http://deb.debian.org/debian", progress=print)


def test_not_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baseimage.engine_mod, "client", lambda: object())
    monkeypatch.setattr(baseimage.engine_mod, "image_present", lambda engine, ref: False)
    monkeypatch.setattr(baseimage, "debootstrap_path", lambda: "/usr/sbin/debootstrap")
    monkeypatch.setattr(baseimage.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(baseimage, "_build_parallel", _must_not_build)
    with pytest.raises(ParityError, match="must run as root"):
        baseimage.build_base_images(mirror="http://deb.debian.org/debian", progress=print)


def _must_not_build(*args: Any) -> None:
    raise AssertionError("nothing should be built")


def test_stand_ins_trust_the_cas_the_host_trusts(tmp_path: Path) -> None:
    bundle = tmp_path / "ca-certificates.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nhost bundle\n")
    extra = tmp_path / "local"
    (extra / "corp").mkdir(parents=True)
    (extra / "corp" / "proxy.crt").write_text("-----BEGIN CERTIFICATE-----\nproxy\n")
    steps = baseimage.host_trust(bundle, extra)
    assert ("write", "/etc/ssl/certs/ca-certificates.crt", bundle.read_text()) in steps
    assert ("write", "/usr/local/share/ca-certificates/parity-host/proxy.crt",
            "-----BEGIN CERTIFICATE-----\nproxy\n") in steps
    assert baseimage.host_trust(tmp_path / "none", tmp_path / "none") == ()


def test_the_recipe_follows_the_hosts_trust(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    before = python_recipe().digest
    bundle = tmp_path / "bundle.crt"
    bundle.write_text("another set of CAs\n")
    monkeypatch.setattr(baseimage, "host_trust", lambda: (("write", "/etc/ssl/certs/ca-certificates.crt",
                                                            bundle.read_text()),))
    assert python_recipe().digest != before
