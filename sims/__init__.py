"""The experiments (installed as ``noprune_theory.sims``): one module per simulation, plus the
machinery they run on.

A simulation declares typed ``FIELDS`` (with defaults, ranges and ``PRESETS``) and one pure
function ``cell(config, seed) -> dict``; the runner expands the sweep grid, maps the cells over
a Dask cluster or runs them in-process, writes each record atomically as it finishes and skips
the finished ones on a rerun (after checking them). ``load_results`` reads a folder, or a whole
results root, into a pandas DataFrame and ``summarize`` reduces it over seeds;
``noprune-theory plot`` hands the table to the simulation's ``plot``. See
``docs/simulations.md``.

Importing this package imports neither Dask nor matplotlib.
"""
from noprune_theory.sims._config import Field, Preset, RunConfig, preset, resolve_config
from noprune_theory.sims._plotting import (
    LogLogFit,
    draw_loglog_fit,
    errorbar_lines,
    loglog_fit,
    mean_sem,
    new_figure,
    save_figures,
)
from noprune_theory.sims._registry import (
    Simulation,
    get_simulation,
    list_simulations,
    register_simulation,
)
from noprune_theory.sims._runner import CellError, RunSummary, run_simulation
from noprune_theory.sims._store import (
    CorruptCellsWarning,
    ResultStore,
    load_results,
    save_table,
    summarize,
)

__all__ = [
    "CellError",
    "CorruptCellsWarning",
    "Field",
    "LogLogFit",
    "Preset",
    "ResultStore",
    "RunConfig",
    "RunSummary",
    "Simulation",
    "draw_loglog_fit",
    "errorbar_lines",
    "get_simulation",
    "list_simulations",
    "load_results",
    "loglog_fit",
    "mean_sem",
    "new_figure",
    "preset",
    "register_simulation",
    "resolve_config",
    "run_simulation",
    "save_figures",
    "save_table",
    "script_main",
    "summarize",
]


def script_main(name, argv=None):
    """Run simulation *name* from its own file: ``python sims/<name>.py --preset quick``.

    Parses the options exactly as ``noprune-theory sim <name>`` does (it *is* that command).
    """
    import sys

    from noprune_theory.cli import main

    main(["sim", name, *(sys.argv[1:] if argv is None else argv)])
