"""The sweep runner: cells of a grid, in-process or on a Dask cluster, resumable.

Where this sits in the data flow: :func:`run_simulation` takes a validated
:class:`~noprune_theory.sims.RunConfig`, opens its :class:`~noprune_theory.sims.ResultStore`,
skips the cells already stored, computes the others (here, on a ``LocalCluster`` of worker
processes, or on any running Dask scheduler) and stores each record *in the driver* the moment
it arrives. Workers therefore need no shared file system, and killing the driver loses only the
cells in flight.

A record is ``{"sim", "key", "seed", "config", "values", "meta"}``; ``meta`` holds the package
version, the concrete backend, host, pid, Dask worker, start time (UTC) and the cell's wall time
in seconds.
"""
from __future__ import annotations

import datetime
import math
import os
import platform
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from noprune_theory.sims._store import META_COLUMNS, ResultStore

if TYPE_CHECKING:
    from distributed import Client

    from noprune_theory.sims._config import RunConfig

__all__ = ["CellError", "RunSummary", "compute_batch", "compute_cell", "default_memory_budget",
           "plan_batches", "run_simulation"]

#: Seconds to wait for a ``--scheduler`` before giving up.
CONNECT_TIMEOUT = 5


class CellError(RuntimeError):
    """A cell raised; the message names the cell and the run can be resumed."""


@dataclass
class RunSummary:  # numpydoc ignore=PR01
    """What :func:`run_simulation` did.

    Attributes
    ----------
    folder : pathlib.Path
        The results folder (load it with :func:`~noprune_theory.sims.load_results`).
    total, skipped, computed : int
        Cells in the grid, already stored before the run, computed by this run.
    seconds : float
        Wall time of the run.
    """

    folder: Path
    total: int
    skipped: int
    computed: int
    seconds: float


def _jsonable(obj, where):
    """Plain JSON types from numpy scalars/arrays, tuples and nested containers."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, dict):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, where) for v in obj]
    tolist = getattr(obj, "tolist", None)
    if tolist is not None:  # numpy scalars and arrays (cupy arrays come back through .get)
        get = getattr(obj, "get", None)
        if get is not None and type(obj).__module__.startswith("cupy"):
            obj = get()
        return _jsonable(obj.tolist(), where)
    raise TypeError(f"{where} is not JSON-able: {type(obj).__name__}")


def compute_cell(cell, sim_name, point, seed, backend, reserved):
    """Run one cell and return its record (runs on the worker).

    The concrete backend is resolved here, on the machine that runs the cell (``auto`` picks
    the GPU of a GPU worker). *reserved* are names a value may not take.
    """
    from noprune_theory.backend import resolve_backend

    concrete = resolve_backend(backend)
    config = dict(point)
    config["backend"] = concrete
    started = _now()
    t0 = time.perf_counter()
    values = cell(config, seed)
    seconds = time.perf_counter() - t0
    return _record(sim_name, point, seed, values, concrete, started, seconds, reserved)


def _now():
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def _record(sim_name, point, seed, values, concrete, started, seconds, reserved):
    from noprune_theory import __version__

    if not isinstance(values, dict):
        raise TypeError(f"cell of {sim_name!r} must return a dict, got {type(values).__name__}")
    clash = sorted(set(values) & set(reserved))
    if clash:
        raise ValueError(f"cell of {sim_name!r} returned key(s) {clash} that clash with config "
                         f"fields or metadata columns; rename them")
    worker = "in-process"
    if "distributed" in sys.modules:  # never import Dask for an in-process run
        try:
            worker = sys.modules["distributed"].get_worker().address
        except ValueError:
            pass
    return {
        "sim": sim_name,
        "seed": seed,
        "config": point,
        "values": _jsonable(values, "value"),
        "meta": {
            "version": __version__,
            "backend": concrete,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "worker": worker,
            "python": platform.python_version(),
            "started": started,
            "seconds": seconds,
        },
    }


def compute_batch(module_name, sim_name, cells, backend, reserved):
    """Run cells of one group as one batch; ``[(key, record), ...]`` in the order of *cells*.

    *cells* is ``[(key, point, seed), ...]``; the simulation module's ``cells_batch`` computes
    their values together. A record's ``seconds`` is the batch's wall time shared out in
    proportion to the networks of each cell (its ``network_count``, 1 when not given).
    """
    import importlib

    from noprune_theory.backend import resolve_backend

    module = importlib.import_module(module_name)
    concrete = resolve_backend(backend)
    items = []
    for _, point, seed in cells:
        config = dict(point)
        config["backend"] = concrete
        items.append((config, seed))
    started = _now()
    t0 = time.perf_counter()
    values = module.cells_batch(items)
    seconds = time.perf_counter() - t0
    weights = [_network_count(module, config) for config, _ in items]
    total = sum(weights)
    return [(key, _record(sim_name, point, seed, v, concrete, started, seconds * w / total,
                          reserved))
            for (key, point, seed), v, w in zip(cells, values, weights)]


def _network_count(module, config):
    count = getattr(module, "network_count", None)
    return count(config) if count is not None else 1


def default_memory_budget(backend="auto"):
    """Memory for one batch of networks, in MiB: half of the free memory here.

    On the cupy backend, half of the free memory of the current GPU; else half of the host's
    available memory (Linux ``/proc/meminfo``; 1024 MiB when it cannot be read).
    """
    from noprune_theory.backend import resolve_backend

    if resolve_backend(backend) == "cupy":
        import cupy

        free, _ = cupy.cuda.Device().mem_info
        return max(1, int(free // 2**21))
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return max(1, int(line.split()[1]) // 2048)
    except OSError:
        pass
    return 1024


def plan_batches(sim_module, todo, memory_budget):
    """Split the pending cells into batches: cells of one group, at most *memory_budget* MiB.

    *todo* is ``[(key, point, seed), ...]``. Cells group by the module's ``group_key(point)``
    (order of first appearance kept), and by seed too when the module sets
    ``BATCH_SEEDS = False`` (its seeds cannot share a training, so a batch per seed saves each
    seed's cells as soon as they finish); a batch holds as many cells of a group as fit the
    budget by ``network_bytes(point) * network_count(point)``, and always at least one.
    """
    by_seed = not getattr(sim_module, "BATCH_SEEDS", True)
    groups = {}
    for item in todo:
        key = sim_module.group_key(item[1])
        groups.setdefault((key, item[2]) if by_seed else key, []).append(item)
    budget = memory_budget * 2**20
    batches = []
    for cells in groups.values():
        batch, used = [], 0
        for item in cells:
            need = sim_module.network_bytes(item[1]) * _network_count(sim_module, item[1])
            if batch and used + need > budget:
                batches.append(batch)
                batch, used = [], 0
            batch.append(item)
            used += need
        batches.append(batch)
    return batches


def _batch_module(sim):
    """The simulation's module when it can train cells together, else None."""
    import importlib

    try:
        module = importlib.import_module(sim.module)
    except (ImportError, TypeError, ValueError):
        return None
    if getattr(module, "cell", None) is sim.cell and all(
            callable(getattr(module, name, None))
            for name in ("cells_batch", "group_key", "network_bytes")):
        return module
    return None


def _progress(total, initial, enabled, desc):
    from tqdm.auto import tqdm

    show = enabled and sys.stderr.isatty()
    return tqdm(total=total, initial=initial, disable=not show, file=sys.stderr, unit="cell",
                desc=desc, dynamic_ncols=True)


def connect_client(*, workers=None, scheduler=None, timeout=None):
    """A Dask client: a new ``LocalCluster`` of *workers* processes, or *scheduler*'s cluster.

    Raises
    ------
    ValueError
        When the scheduler cannot be reached within *timeout* seconds (default
        :data:`CONNECT_TIMEOUT`); the message names it.
    """
    import logging

    from distributed import Client, LocalCluster

    if timeout is None:
        timeout = CONNECT_TIMEOUT
    if scheduler is not None:
        if not isinstance(scheduler, str) or "://" not in scheduler:
            raise ValueError(f"--scheduler must be an address like tcp://HOST:8786, "
                             f"got {scheduler!r}")
        try:
            return Client(scheduler, timeout=f"{timeout}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler} within "
                             f"{timeout} s ({type(exc).__name__}); is it running?") from None
    # the cluster's own INFO chatter would bury the progress bar
    logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.WARNING)
    return Client(cluster, set_as_default=False)


def _check_backend(backend, remote):
    """Validate the backend before any work: here for local runs, by name for a remote one."""
    from noprune_theory.backend import resolve_backend

    if not remote:
        resolve_backend(backend)


def run_simulation(run_config: RunConfig, *, out: str | os.PathLike[str] = "results",
                   workers: int | None = None, scheduler: str | None = None,
                   client: Client | None = None, progress: bool = True,
                   on_record: Callable[[dict[str, Any]], None] | None = None,
                   memory_budget: int | None = None, batch: bool = True) -> RunSummary:
    """Run every cell of *run_config* that is not stored yet.

    Parameters
    ----------
    run_config : RunConfig
        From :func:`~noprune_theory.sims.resolve_config`.
    out : str or path, default "results"
        Root of the store; results go to ``out/<sim>/<hash>/``.
    workers : int, optional
        Start a ``LocalCluster`` with this many worker processes (one thread each).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); any cluster, e.g. dask-cuda's
        ``LocalCUDACluster`` or ``dask-cuda-worker`` processes, one per GPU.
    client : distributed.Client, optional
        Use this client (not closed here); excludes *workers* and *scheduler*.
    progress : bool, default True
        A tqdm bar with ETA on stderr (shown only when stderr is a terminal).
    on_record : callable, optional
        Called with each record after it is stored (tests, custom logging).
    memory_budget : int >= 1, optional
        MiB one batch of networks may take (see Notes); default ``run_config.memory_budget``,
        else ``default_memory_budget()`` (half the free memory, of the GPU on cupy).
    batch : bool, default True
        Train the cells of a group together when the simulation can; False runs cell by cell
        (the same records, slower).

    Returns
    -------
    RunSummary
        Where the results are, and how many cells ran.

    Raises
    ------
    ValueError
        Before any cell runs: unwritable output folder, unreachable scheduler, unusable backend,
        contradictory options, another run already writing to the same folder.
    CellError
        When a cell raises; the cells finished before are kept, so rerunning resumes.

    Notes
    -----
    Cells are submitted all at once; the driver writes each record atomically as it arrives
    (:class:`~noprune_theory.sims.ResultStore`). The file name of a cell is a hash of its grid
    point and its seed, so no cell is stored twice, and a rerun computes only missing cells.

    A simulation whose module defines ``cells_batch(items)``, ``group_key(point)`` and
    ``network_bytes(point)`` (and optionally ``network_count(point)``) trains its pending cells
    in batches: the cells sharing a group key (the same network shape and training settings)
    are split into batches of at most *memory_budget* MiB, each batch is one task, and its
    cells' records are stored when it finishes. Resume stays per cell: only the cells not
    stored are batched. The values are those of the cell-by-cell path.
    """
    from noprune_theory._validation import check_scalar

    given = sum(x is not None for x in (workers, scheduler, client))
    if given > 1:
        raise ValueError("give at most one of workers, scheduler and client")
    if workers is not None:
        workers = check_scalar(workers, "workers", integer=True, low=1)
    if memory_budget is None:
        memory_budget = getattr(run_config, "memory_budget", None)
    if memory_budget is not None:
        memory_budget = check_scalar(memory_budget, "memory_budget", integer=True, low=1)
    if not isinstance(batch, (bool, int)):
        raise ValueError(f"batch must be True or False, got {batch!r}")  # noqa: TRY004
    from noprune_theory.sims._registry import get_simulation

    sim = get_simulation(run_config.sim)
    _check_backend(run_config.backend, remote=scheduler is not None or client is not None)
    if sim.check is not None:
        # the simulation's own check (an optional dependency, a data file): a ValueError
        # before any folder or cell, as on the command line
        for point in run_config.points():
            sim.check(dict(point))
    own_client = None
    if scheduler is not None:
        # an unreachable scheduler is an input error: fail before the folder is even made
        own_client = client = connect_client(scheduler=scheduler)
    t0 = time.perf_counter()
    computed = 0
    bar = None
    store = None
    try:
        store = ResultStore.open(out, run_config, lock=True)
        done = store.done_keys()
        todo = [(k, p, s) for k, p, s in run_config.cells() if k not in done]
        total = run_config.n_points * run_config.seeds
        reserved = tuple(run_config.values) + META_COLUMNS
        if todo and workers is not None:
            own_client = client = connect_client(workers=workers)
        bar = _progress(total, total - len(todo), progress, run_config.sim)

        def store_record(key, record):
            nonlocal computed
            record["key"] = key
            store.write(key, record)
            computed += 1
            bar.update(1)
            if on_record is not None:
                on_record(record)

        module = _batch_module(sim) if batch else None
        batches = None
        if todo and module is not None:
            if memory_budget is None:
                memory_budget = default_memory_budget(
                    "auto" if client is not None else run_config.backend)
            batches = plan_batches(module, todo, memory_budget)

        if not todo:
            pass
        elif batches is not None and client is None:
            for cells in batches:
                try:
                    done_cells = compute_batch(module.__name__, sim.name, cells,
                                               run_config.backend, reserved)
                except Exception as exc:
                    _, point, seed = cells[0]
                    raise CellError(_cell_failure(sim.name, point, seed, exc, len(cells))) \
                        from exc
                for key, record in done_cells:
                    store_record(key, record)
        elif batches is not None:
            from distributed import as_completed

            futures = {}
            for i, cells in enumerate(batches):
                fut = client.submit(compute_batch, module.__name__, sim.name, cells,
                                    run_config.backend, reserved, pure=False,
                                    key=f"batch-{run_config.hash}-{i}-{time.time_ns()}")
                futures[fut] = cells
            try:
                for fut in as_completed(futures, loop=client.loop):
                    cells = futures[fut]
                    try:
                        done_cells = fut.result()
                    except Exception as exc:
                        _, point, seed = cells[0]
                        raise CellError(_cell_failure(sim.name, point, seed, exc, len(cells))) \
                            from exc
                    for key, record in done_cells:
                        store_record(key, record)
            finally:
                client.cancel(list(futures))
        elif client is None:
            for key, point, seed in todo:
                try:
                    record = compute_cell(sim.cell, sim.name, point, seed, run_config.backend,
                                          reserved)
                except Exception as exc:
                    raise CellError(_cell_failure(sim.name, point, seed, exc)) from exc
                store_record(key, record)
        else:
            from distributed import as_completed

            futures = {}
            for key, point, seed in todo:
                fut = client.submit(compute_cell, sim.cell, sim.name, point, seed,
                                    run_config.backend, reserved, pure=False,
                                    key=f"cell-{run_config.hash}-{key}-{time.time_ns()}")
                futures[fut] = (key, point, seed)
            try:
                for fut in as_completed(futures, loop=client.loop):
                    key, point, seed = futures[fut]
                    try:
                        record = fut.result()
                    except Exception as exc:
                        raise CellError(_cell_failure(sim.name, point, seed, exc)) from exc
                    store_record(key, record)
            finally:
                client.cancel(list(futures))
    finally:
        if bar is not None:
            bar.close()
        if store is not None:
            store.unlock()
        if own_client is not None:
            cluster = own_client.cluster
            own_client.close()
            if cluster is not None and scheduler is None:
                cluster.close()
    return RunSummary(folder=store.folder, total=total, skipped=total - len(todo),
                      computed=computed, seconds=time.perf_counter() - t0)


def _cell_failure(name, point, seed, exc, batch_size=1):
    where = ", ".join(f"{k}={v!r}" for k, v in point.items())
    lead = (f"cell of {name!r} failed" if batch_size == 1 else
            f"a batch of {batch_size} cells of {name!r} failed (its first cell:")
    tail = "" if batch_size == 1 else ")"
    return (f"{lead} at seed={seed}, {where}{tail}: {type(exc).__name__}: {exc} "
            f"(finished cells are kept; rerun to resume)")


def estimate_cells(run_config, out):
    """``(total, already stored)`` without running anything (for ``--dry-run``)."""
    folder = Path(out) / run_config.sim.replace(":", "_") / run_config.hash
    store = ResultStore(folder)
    done = store.stored_keys()  # unchecked: done_keys() would move corrupt records aside
    keys = {k for k, _, _ in run_config.cells()}
    return len(keys), len(keys & done), folder


def format_duration(seconds: float) -> str:
    """Format a duration for people: ``"12.3 s"``, ``"4 min 05 s"``, ``"2 h 03 min"``.

    Parameters
    ----------
    seconds : float
        The duration.

    Returns
    -------
    str
        ``"?"`` for a duration that is not finite.
    """
    if not math.isfinite(seconds):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
