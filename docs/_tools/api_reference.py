"""Write docs/api.md: an autosummary table of every public name, module by module.

The public names are each module's ``__all__``; run ``python docs/_tools/api_reference.py``
after adding one. A test fails while the page is stale, so no public function goes undocumented.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

#: (module, title, one-line description)
MODULES = [
    ("noprune_theory.theory", "Theory",
     "The dense [BS Thm 2, 3] and sparse [NFP Thm 3, 4] Law of Robustness: evaluated, solved "
     "and derived."),
    ("noprune_theory.data", "Data", "Isoperimetric synthetic data and noisy labels."),
    ("noprune_theory.models", "Models", "Batched ensembles of masked MLPs."),
    ("noprune_theory.training", "Training", "Batched GD, SGD and Adam to interpolation."),
    ("noprune_theory.pruning", "Pruning",
     "Pruning scores, exact selection, layer-wise densities, IMP and ablations."),
    ("noprune_theory.estimators", "Estimators",
     "Mutual information, entropy, Lipschitz bounds, mask-data information."),
    ("noprune_theory.sims", "Simulations", "Configs, the resumable runner, results, plotting."),
    ("noprune_theory.backend", "Backends", "Backend selection and array-namespace helpers."),
]

HEADER = """# API reference

Every public name, with its docstring (generated from the code by
`docs/_tools/api_reference.py`; a test keeps it current). Symbols follow the papers: $n$
samples, $d$ dimensions, $p$ parameters, $p_\\mathrm{eff}$ effective parameters (bits),
$\\varepsilon$ the margin below the noise level, $\\delta$ the failure probability.
Information is in nats unless a function says `base=` or `mi_unit=`.
"""


def public_names(module_name):
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return sorted(n for n in names if not n.isupper())  # constants are described in the text


def render():
    parts = [HEADER]
    for module_name, title, description in MODULES:
        parts += [f"## {title}: `{module_name}`\n", description + "\n", "```{eval-rst}",
                  f".. currentmodule:: {module_name}", "", ".. autosummary::",
                  "   :toctree: generated", ""]
        parts += [f"   {name}" for name in public_names(module_name)]
        parts += ["```\n"]
    return "\n".join(parts)


def main():
    out = Path(__file__).resolve().parent.parent / "api.md"
    out.write_text(render())
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
