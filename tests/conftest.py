"""Shared fixtures. Headless plotting; small draws in the fast tier."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def load_example(monkeypatch):
    """Load ``examples/<name>`` as a module namespace (its ``main`` not yet run).

    ``sys.argv`` is set to the script alone so that module-level argument parsing,
    if any, sees no pytest options.
    """
    def load(name: str) -> dict:
        monkeypatch.setattr(sys, "argv", [str(EXAMPLES / name)])
        return runpy.run_path(str(EXAMPLES / name), run_name="not_main")

    return load
