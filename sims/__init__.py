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
from noprune_theory.sims._config import (
    RESERVED_FIELDS,
    Field,
    Preset,
    RunConfig,
    preset,
    resolve_config,
)
from noprune_theory.sims._plotting import (
    FORMATS,
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
from noprune_theory.sims._runner import CellError, RunSummary, format_duration, run_simulation
from noprune_theory.sims._store import (
    CorruptCellsWarning,
    ResultStore,
    check_parquet,
    load_results,
    read_config,
    save_table,
    summarize,
)
from noprune_theory.sims._store import _result_folders as result_folders

__all__ = [
    "FORMATS",
    "RESERVED_FIELDS",
    "CellError",
    "CorruptCellsWarning",
    "Field",
    "LogLogFit",
    "Preset",
    "ResultStore",
    "RunConfig",
    "RunSummary",
    "Simulation",
    "check_parquet",
    "draw_loglog_fit",
    "errorbar_lines",
    "format_duration",
    "get_simulation",
    "list_simulations",
    "load_results",
    "loglog_fit",
    "mean_sem",
    "new_figure",
    "preset",
    "read_config",
    "register_simulation",
    "resolve_config",
    "result_folders",
    "run_simulation",
    "save_figures",
    "save_table",
    "summarize",
]
