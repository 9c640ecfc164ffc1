"""The public API: what `parity/__init__.py` re-exports, and the two entry points."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import parity


def _type_checking_names() -> set[str]:
    """The names `parity/__init__.py` imports for type checkers (its `if TYPE_CHECKING:` block)."""
    tree = ast.parse(Path(parity.__file__).read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If)
                 and getattr(node.test, "id", None) == "TYPE_CHECKING")
    return {alias.asname or alias.name for node in block.body if isinstance(node, ast.ImportFrom)
            for alias in node.names}


def test_all_is_sorted_and_unique() -> None:
    assert parity.__all__ == sorted(set(parity.__all__))


def test_every_public_name_is_exported_typed_and_loads_from_its_home() -> None:
    homes = parity._HOMES
    assert set(parity.__all__) == set(homes) == _type_checking_names()
    for name in parity.__all__:
        assert getattr(parity, name) is getattr(importlib.import_module(homes[name]), name), name


def test_star_import_gives_exactly_the_public_api() -> None:
    namespace: dict[str, object] = {}
    exec("from parity import *", namespace)
    assert sorted(key for key in namespace if key != "__builtins__") == parity.__all__


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        parity.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("parity.NoSuchThing resolved")


def test_importing_parity_loads_neither_docker_nor_postgres_nor_requests() -> None:
    """`parity --help` and the dev server parity starts stay light: names load on first use."""
    probe = ("import sys, parity; print(parity.__version__, "
             "sorted(m for m in ('docker', 'psycopg2', 'requests') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split(" ", 1) == [parity.__version__, "[]\n"]


def test_the_pytest_plugin_and_the_console_script_are_installed_and_load() -> None:
    plugin = [ep for ep in entry_points(group="pytest11") if ep.name == "parity"]
    assert [ep.value for ep in plugin] == ["parity.plugin"]
    assert hasattr(plugin[0].load(), "pytest_addoption")
    script = [ep for ep in entry_points(group="console_scripts") if ep.name == "parity"]
    assert [ep.value for ep in script] == ["parity.cli:main"]
    assert callable(script[0].load())
    done = subprocess.run([sys.executable, "-m", "parity", "--version"], capture_output=True,
                          text=True, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, f"parity {parity.__version__}")
