"""The base images this machine's provisioning provides, as parity itself would choose them:
the official python:3.11-slim and nginx:stable where present or pullable, else the stand-ins
`parity base-image` built (scripts/setup-env builds them). Tests use these and nothing made
by hand: an image that only exists on one developer's machine fails everywhere else."""

from __future__ import annotations

import functools
import os

import pytest

from parity.configuration import DEFAULT_BASE_IMAGE, DEFAULT_FRONTEND_IMAGE
from parity.machine import engine, standins
from parity.support.errors import MissingDependencyError

BASE, FRONTEND = standins.ROLES


@functools.cache
def _chosen(role: standins.Role, wanted: str) -> str:
    return standins.choose(engine.client(), role, wanted, explicit=False).used


def image(role: standins.Role) -> str:
    """What python:3.11-slim (BASE) or nginx:stable (FRONTEND) is on this machine."""
    wanted = DEFAULT_BASE_IMAGE if role is BASE else DEFAULT_FRONTEND_IMAGE
    try:
        return _chosen(role, wanted)
    except MissingDependencyError as error:
        message = f"{error.one_line()} (scripts/setup-env provides it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def python_image() -> str:
    return image(BASE)


def nginx_image() -> str:
    return image(FRONTEND)
