"""Installation of noprune-theory.

The top-level folders ``kernels/`` and ``sims/`` are installed as the subpackages
``noprune_theory.kernels`` and ``noprune_theory.sims``: both names are taken on PyPI by
unrelated projects, so they must never be importable as top-level packages.
"""
import re
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "noprune_theory" / "__init__.py").read_text(), re.M
).group(1)


def _subpackages(folder, prefix):
    """Every folder holding an ``__init__.py`` below *folder*, as dotted names under *prefix*."""
    root = HERE / folder
    names = []
    for init in sorted(root.rglob("__init__.py")):
        rel = init.parent.relative_to(root)
        names.append(".".join((prefix, *rel.parts)) if rel.parts else prefix)
    return names


packages = (
    _subpackages("noprune_theory", "noprune_theory")
    + _subpackages("kernels", "noprune_theory.kernels")
    + _subpackages("sims", "noprune_theory.sims")
)
package_dir = {
    "noprune_theory": "noprune_theory",
    "noprune_theory.kernels": "kernels",
    "noprune_theory.sims": "sims",
}

TEST = [
    "pytest>=8",
    "pyarrow>=14",
    "hypothesis>=6.100",
    "array-api-strict>=2.3",
    "scikit-learn>=1.5",
    # numba.cuda, run under the CUDA simulator in the tests (no GPU needed)
    "numba-cuda>=0.20",
]
DOCS = [
    "sphinx>=8",
    "pydata-sphinx-theme>=0.16",
    "myst-parser>=4",
    "numpydoc>=1.8",
    # MathJax served with the site (the pages render offline); no Django needed
    "django-static-mathjax>=3.2.2",
    "sphinx-gallery>=0.17",
]

setup(
    name="noprune-theory",
    version=VERSION,
    description=(
        "The sparse Law of Robustness ('No Free Prune', Kumar, Luo & Sellke, ICML 2024) "
        "as numbers: symbolic bounds, batched masked networks, information and Lipschitz "
        "estimators, and simulations that check the bounds."
    ),
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    python_requires=">=3.11",
    packages=packages,
    package_dir=package_dir,
    # PEP 561: the package ships its type hints
    package_data={"noprune_theory": ["py.typed"]},
    install_requires=[
        "numpy>=1.25",
        "scipy>=1.11",
        "numba>=0.59",
        "sympy>=1.12",
        "matplotlib>=3.7",
        "click>=8.1",
        "array-api-compat>=1.8",
        "tqdm>=4.66",
        "threadpoolctl>=3.1",
        "dask[distributed]>=2024.1",
        # results tables (load_results, summarize) and the figures drawn from them: pandas is
        # in every environment that already has numpy, scipy, matplotlib and dask, and the
        # `plot` command needs it, so it is a dependency rather than an extra
        "pandas>=2.1",
    ],
    extras_require={
        # one CUDA 12 set: CuPy with its CUDA libraries (the ctk extra: cuBLAS, cudart, NVRTC,
        # ...) and numba-cuda with its CUDA 12 bindings and libNVVM; both pin cuda-toolkit 12.*
        "gpu": ["cupy-cuda12x[ctk]>=14", "numba-cuda[cu12]>=0.20"],
        # Parquet export of large sweeps (`sim --parquet`, `save_table(df, "x.parquet")`)
        "analysis": ["pyarrow>=14"],
        # the real-data simulation digits_memorization: scikit-learn ships the digits images
        "digits": ["scikit-learn>=1.5"],
        "test": TEST,
        "docs": DOCS,
        "dev": TEST + DOCS,
    },
    entry_points={"console_scripts": ["noprune-theory = noprune_theory.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Intended Audience :: Science/Research",
        "Topic :: Scientific/Engineering :: Mathematics",
    ],
)
