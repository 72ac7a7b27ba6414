"""Write the API reference: docs/api.md (the index) and one page per module, docs/api/*.md.

The public names are each module's ``__all__``: functions and classes get an autosummary table
(one generated page each, with its docstring), constants are shown with their values. Run
``python docs/_tools/api_reference.py`` after adding a public name; a test fails while a page
is stale, so no public function goes undocumented.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

#: (module, page, title, one-line description)
MODULES = [
    ("noprune_theory.theory", "theory", "Theory",
     "The dense [BS Thm 2, 3] and sparse [NFP Thm 3, 4] Law of Robustness: evaluated, solved "
     "and derived (see [the theory page](../theory.md))."),
    ("noprune_theory.data", "data", "Data",
     "Isoperimetric synthetic data, noisy labels and labelled real data."),
    ("noprune_theory.models", "models", "Models",
     "Batched ensembles of masked MLPs (see [models](../models.md))."),
    ("noprune_theory.training", "training", "Training",
     "Batched GD, SGD and Adam to interpolation."),
    ("noprune_theory.pruning", "pruning", "Pruning",
     "Pruning scores, exact selection, layer-wise densities, IMP and ablations "
     "(see [pruning](../pruning.md))."),
    ("noprune_theory.estimators", "estimators", "Estimators",
     "Mutual information, entropy, Lipschitz bounds, mask-data information (see "
     "[estimators](../estimators.md), [Lipschitz](../lipschitz.md) and "
     "[mask information](../information.md))."),
    ("noprune_theory.sims", "sims", "Simulations",
     "Configs, the resumable runner, results, plotting (see [simulations](../simulations.md))."),
    ("noprune_theory.backend", "backend", "Backends",
     "Backend selection and array-namespace helpers."),
]

INDEX = """# API reference

Every public name, with its docstring, one page per module (generated from the code by
`docs/_tools/api_reference.py`; a test keeps the pages current). Symbols follow the papers: $n$
samples, $d$ dimensions, $p$ parameters, $p_\\mathrm{eff}$ effective parameters (bits),
$\\varepsilon$ the margin below the noise level, $\\delta$ the failure probability (see the
[notation](notation.md)). Information is in nats unless a function says `base=` or `mi_unit=`.

| module | what it holds |
| --- | --- |
"""


def public_names(module_name):
    """``(callables, constants)``: the sorted public names of a module, split by kind."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    names = sorted(names)
    return [n for n in names if not n.isupper()], [n for n in names if n.isupper()]


def render_module(module_name, title, description):
    callables, constants = public_names(module_name)
    parts = [f"# {title}: `{module_name}`\n", description + "\n", "```{eval-rst}",
             f".. py:module:: {module_name}", "",
             f".. currentmodule:: {module_name}", "", ".. autosummary::",
             "   :toctree: generated", ""]
    parts += [f"   {name}" for name in callables]
    parts += ["```\n"]
    if constants:
        parts += ["## Constants\n", "```{eval-rst}"]
        for name in constants:
            parts += [f".. autodata:: {name}", ""]
        parts += ["```\n"]
    return "\n".join(parts)


def render():
    """``{path relative to docs/: text}`` of every API page."""
    pages = {}
    rows = []
    toctree = ["```{toctree}", ":hidden:", ""]
    for module_name, page, title, description in MODULES:
        pages[f"api/{page}.md"] = render_module(module_name, title, description)
        rows.append(f"| [`{module_name}`](api/{page}.md) | {description.replace('../', '')} |")
        toctree.append(f"api/{page}")
    toctree.append("```\n")
    pages["api.md"] = INDEX + "\n".join(rows) + "\n\n" + "\n".join(toctree)
    return pages


def main():
    docs = Path(__file__).resolve().parent.parent
    (docs / "api").mkdir(exist_ok=True)
    for rel, text in render().items():
        (docs / rel).write_text(text)
    print(f"wrote {docs / 'api.md'} and {docs / 'api'}/*.md", file=sys.stderr)


if __name__ == "__main__":
    main()
