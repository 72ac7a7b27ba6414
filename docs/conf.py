"""Sphinx configuration of the noprune-theory documentation site.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors).
"""
import noprune_theory

project = "noprune-theory"
author = "the noprune-theory developers"
copyright = "2026, the noprune-theory developers"
release = noprune_theory.__version__
version = release

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "README*"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
autodoc_default_options = {"members": False}
autosummary_generate = True

intersphinx_mapping = {}

html_theme = "pydata_sphinx_theme"
html_title = f"noprune-theory {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}

# numpydoc lists a function's References without requiring an in-text citation of each
suppress_warnings = ["ref.citation"]
