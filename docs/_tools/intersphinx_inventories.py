"""Write the intersphinx inventories the documentation links through: docs/_intersphinx/*.inv.

The documentation is built without network (in CI too), so ``conf.py`` reads intersphinx
inventories from ``docs/_intersphinx`` only. By default this tool writes a *curated* inventory
per project: the names the docstrings and pages of noprune-theory refer to, each with the page
and anchor of that project's stable documentation. With ``--fetch`` (and network), it downloads
each project's full ``objects.inv`` instead, which supersedes the curated one.

    python docs/_tools/intersphinx_inventories.py            # curated, offline
    python docs/_tools/intersphinx_inventories.py --fetch    # full inventories, needs network
"""
from __future__ import annotations

import sys
import urllib.request
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "_intersphinx"

#: project -> (base URL, [(name, domain:role, page#anchor)]); "$" in the page stands for the name
CURATED = {
    "python": ("https://docs.python.org/3/", [
        ("collections.abc.Callable", "py:class", "library/collections.abc.html#$"),
        ("collections.abc.Sequence", "py:class", "library/collections.abc.html#$"),
        ("pathlib.Path", "py:class", "library/pathlib.html#$"),
        ("float", "py:class", "library/functions.html#$"),
        ("int", "py:class", "library/functions.html#$"),
        ("bool", "py:class", "library/functions.html#$"),
        ("str", "py:class", "library/stdtypes.html#$"),
        ("list", "py:class", "library/stdtypes.html#$"),
        ("tuple", "py:class", "library/stdtypes.html#$"),
        ("dict", "py:class", "library/stdtypes.html#$"),
        ("None", "py:data", "library/constants.html#$"),
        ("ValueError", "py:exception", "library/exceptions.html#$"),
        ("TypeError", "py:exception", "library/exceptions.html#$"),
        ("RuntimeWarning", "py:exception", "library/exceptions.html#$"),
        ("UserWarning", "py:exception", "library/exceptions.html#$"),
        ("warnings.warn", "py:function", "library/warnings.html#$"),
    ]),
    "numpy": ("https://numpy.org/doc/stable/", [
        ("numpy", "py:module", "reference/index.html#module-numpy"),
        ("numpy.ndarray", "py:class", "reference/generated/$.html#$"),
        ("numpy.random.Generator", "py:class", "reference/random/generator.html#$"),
        ("numpy.random.default_rng", "py:function", "reference/random/generator.html#$"),
        ("numpy.linalg.norm", "py:function", "reference/generated/$.html#$"),
        ("numpy.einsum", "py:function", "reference/generated/$.html#$"),
        ("numpy.save", "py:function", "reference/generated/$.html#$"),
        ("numpy.load", "py:function", "reference/generated/$.html#$"),
        ("numpy.savez", "py:function", "reference/generated/$.html#$"),
    ]),
    "scipy": ("https://docs.scipy.org/doc/scipy/", [
        ("scipy.spatial.cKDTree", "py:class", "reference/generated/$.html#$"),
        ("scipy.spatial.KDTree", "py:class", "reference/generated/$.html#$"),
        ("scipy.special.digamma", "py:data", "reference/generated/$.html#$"),
        ("scipy.special.gammaln", "py:data", "reference/generated/$.html#$"),
        ("scipy.optimize.linprog", "py:function", "reference/generated/$.html#$"),
        ("scipy.stats.entropy", "py:function", "reference/generated/$.html#$"),
    ]),
    "sympy": ("https://docs.sympy.org/latest/", [
        ("sympy.solvers.solvers.solve", "py:function", "modules/solvers/solvers.html#$"),
        ("sympy.solve", "py:function",
         "modules/solvers/solvers.html#sympy.solvers.solvers.solve"),
        ("sympy.utilities.lambdify.lambdify", "py:function", "modules/utilities/lambdify.html#$"),
        ("sympy.lambdify", "py:function",
         "modules/utilities/lambdify.html#sympy.utilities.lambdify.lambdify"),
        ("sympy.core.expr.Expr", "py:class", "modules/core.html#$"),
        ("sympy.Expr", "py:class", "modules/core.html#sympy.core.expr.Expr"),
        ("sympy.simplify.simplify.simplify", "py:function", "modules/simplify/simplify.html#$"),
        ("sympy.printing.latex.latex", "py:function", "modules/printing.html#$"),
    ]),
    "distributed": ("https://distributed.dask.org/en/stable/", [
        ("distributed.Client", "py:class", "api.html#$"),
        ("distributed.LocalCluster", "py:class", "api.html#$"),
        ("dask.distributed.Client", "py:class", "api.html#distributed.Client"),
        ("dask.distributed.LocalCluster", "py:class", "api.html#distributed.LocalCluster"),
    ]),
    "pandas": ("https://pandas.pydata.org/docs/", [
        ("pandas.DataFrame", "py:class", "reference/api/$.html#$"),
        ("pandas.Series", "py:class", "reference/api/$.html#$"),
    ]),
    "matplotlib": ("https://matplotlib.org/stable/", [
        ("matplotlib.figure.Figure", "py:class", "api/_as_gen/matplotlib.figure.Figure.html#$"),
        ("matplotlib.axes.Axes", "py:class", "api/_as_gen/matplotlib.axes.Axes.html#$"),
    ]),
}


def inventory_bytes(project, entries):
    """An intersphinx inventory (format version 2) holding *entries*."""
    header = (f"# Sphinx inventory version 2\n# Project: {project}\n# Version: \n"
              "# The remainder of this file is compressed using zlib.\n").encode()
    lines = []
    for name, role, page in entries:
        uri = page.replace("$", name)
        lines.append(f"{name} {role} 1 {uri} -\n")
    return header + zlib.compress("".join(lines).encode())


def write_curated(out=OUT):
    out.mkdir(parents=True, exist_ok=True)
    for project, (_, entries) in CURATED.items():
        (out / f"{project}.inv").write_bytes(inventory_bytes(project, entries))
    return sorted(out.glob("*.inv"))


def fetch(out=OUT):
    out.mkdir(parents=True, exist_ok=True)
    for project, (url, _) in CURATED.items():
        with urllib.request.urlopen(url + "objects.inv", timeout=30) as response:
            (out / f"{project}.inv").write_bytes(response.read())


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--fetch"]:
        fetch()
    elif not argv:
        write_curated()
    else:
        print("usage: python docs/_tools/intersphinx_inventories.py [--fetch]", file=sys.stderr)
        return 2
    print(f"wrote {OUT}/*.inv", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
