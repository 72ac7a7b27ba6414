"""Every docstring example in the package runs as a doctest.

Docstring examples are documentation users copy; they must stay true. Modules that need an
optional library (cupy) are skipped with the reason.
"""
import doctest
import importlib
import pkgutil

import numpy as np
import pytest


def _modules():
    # kernels/ and sims/ are mapped into the namespace by setup.py, so an editable install does
    # not list them under noprune_theory.__path__: walk each package explicitly
    import noprune_theory.kernels
    import noprune_theory.sims

    names = []
    for pkg in (noprune_theory, noprune_theory.kernels, noprune_theory.sims):
        names.append(pkg.__name__)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg.__name__ + "."):
            names.append(info.name)
    return sorted(set(names))


MODULES = _modules()


def _examples(name):
    """The doctests of module *name* that hold examples, or the reason it cannot be imported."""
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional dependency such as cupy
        return None, f"{name} needs an optional dependency: {exc}"
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [t for t in finder.find(module, name) if t.examples], None


def _with_examples():
    params = []
    for name in MODULES:
        tests, reason = _examples(name)
        if reason:
            params.append(pytest.param(name, marks=pytest.mark.skip(reason=reason)))
        elif tests:
            params.append(name)
    return params


def test_modules_are_found():
    # guards against the walk silently finding nothing (e.g. a broken install layout)
    assert "noprune_theory.theory" in MODULES
    assert any(m.startswith("noprune_theory.kernels") for m in MODULES)
    assert any(m.startswith("noprune_theory.sims") for m in MODULES)


@pytest.mark.parametrize("name", _with_examples())
def test_docstring_examples(name):
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    tests, _ = _examples(name)
    with np.printoptions(legacy="1.25"):
        for t in tests:
            runner.run(t)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {name}"
