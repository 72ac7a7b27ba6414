"""Sphinx configuration of the noprune-theory documentation site.

Build with ``sphinx-build -n -W --keep-going -b html docs OUT`` (nitpicky, warnings are errors),
then ``python docs/_tools/check_html.py OUT --sources docs`` (no stray markup, whole tables).
The build needs no network: MathJax is copied from the ``django-static-mathjax`` package into
the site, and the intersphinx inventories are read from ``docs/_intersphinx``.
"""
import importlib.util
import shutil
import sys
from pathlib import Path

import noprune_theory

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_tools"))
from numpydoc_checks import ENFORCED_CHECKS, excluded_objects  # noqa: E402

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
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "README*"]
templates_path = ["_templates"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# every cross-reference must resolve (the build runs with -n -W)
nitpicky = True

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# every public docstring is validated (warnings fail the build); the set and the objects still
# excluded live in docs/_tools/numpydoc_checks.py, shared with tests/test_numpydoc.py
numpydoc_validation_checks = set(ENFORCED_CHECKS)
numpydoc_validation_exclude = excluded_objects()
# The types users read are the numpydoc ones (Parameters, Returns); the type hints serve type
# checkers (the package ships py.typed). Shown in signatures they would repeat those types,
# with numpy.typing.ArrayLike expanded into its long union of numpy's private classes.
autodoc_typehints = "none"
numpydoc_xref_param_type = False
autosummary_generate = True

# ---------------------------------------------------------------------------------------------
# MathJax, served from the site itself so that the pages render offline

def _mathjax_source():
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the docs need MathJax from the django-static-mathjax package: "
                           'pip install ".[docs]"')
    return Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax"


MATHJAX_DIR = "mathjax"  # under _static of the built site
mathjax_path = f"{MATHJAX_DIR}/tex-chtml.js"
#: what tex-chtml.js loads on demand: TeX extensions, CommonHTML fonts, menu and accessibility
MATHJAX_PARTS = ["tex-chtml.js", "input/tex/extensions", "output/chtml", "a11y", "ui",
                 "adaptors"]


def _copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source = _mathjax_source()
    target = Path(app.outdir) / "_static" / MATHJAX_DIR
    for part in MATHJAX_PARTS:
        src = source / "es5" / part
        if src.is_dir():
            shutil.copytree(src, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / part)
    shutil.copy2(source / "LICENSE", target / "LICENSE")


# ---------------------------------------------------------------------------------------------
# intersphinx without network: only the inventories shipped in docs/_intersphinx are used

INTERSPHINX_URLS = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sympy": "https://docs.sympy.org/latest/",
    "dask": "https://docs.dask.org/en/stable/",
    "distributed": "https://distributed.dask.org/en/stable/",
    "matplotlib": "https://matplotlib.org/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
}
intersphinx_mapping = {
    name: (url, str(HERE / "_intersphinx" / f"{name}.inv"))
    for name, url in INTERSPHINX_URLS.items()
    if (HERE / "_intersphinx" / f"{name}.inv").is_file()
}

# ---------------------------------------------------------------------------------------------
# The example gallery: examples/plot_*.py, run at build time (each takes seconds)

sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "abort_on_example_error": True,
    "reference_url": {"noprune_theory": None},  # names in the code link to the API pages
    "doc_module": ("noprune_theory",),
    "backreferences_dir": None,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "min_reported_time": 1,
}

# ---------------------------------------------------------------------------------------------
# HTML

html_theme = "pydata_sphinx_theme"
html_title = "noprune-theory"
html_short_title = "noprune-theory"
html_static_path = ["_static"]
html_css_files = ["site.css"]
html_js_files = ["site.js"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_center": [],
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"**": ["sidebar-nav-full"]}

# numpydoc lists a function's References without requiring an in-text citation of each
suppress_warnings = ["ref.citation"]

# References in docstrings that have no target in the site (the code, not the docs, must change
# for these; each is named so that a new unresolved reference still fails the build):
nitpick_ignore = [
    ("py:mod", "cupy"),  # the optional GPU backend has no inventory here
    ("py:mod", "noprune_theory.kernels.cuda_knn"),  # kernels are internal, not in the API
    ("py:class", "Check"),  # theory._derivation.Check is not public
    ("py:func", "imp"),  # pruning: the IMP method is reached through prune(..., "imp")
    ("py:meth", "MaskedMLP.loss"),  # training.train: an unqualified method name
    ("py:data", "DENSE_CONSTANTS"),  # theory._derivation constants, not public
    ("py:data", "SPARSE_CONSTANTS"),
    ("py:mod", "_compiled"),  # theory: a private module named in the package docstring
    ("py:func", "read_config"),  # sims._store.read_config is not public
]


def setup(app):
    app.connect("build-finished", _copy_mathjax)
