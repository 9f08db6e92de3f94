"""Sphinx configuration for the casualty_models documentation."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath("../src"))

from casualty_models import __version__  # noqa: E402

project = "casualty_models"
author = "casualty_models developers"
release = __version__
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_ivar = True
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "description"
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"casualty_models {__version__}"
nitpicky = False
suppress_warnings = ["myst.header", "ref.python"]
