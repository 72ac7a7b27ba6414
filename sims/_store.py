"""The results store: one JSON file per cell, written atomically, and the table they load into.

Where this sits in the data flow: the runner hands every finished cell's record to
:meth:`ResultStore.write`; :func:`load_results` reads a folder back into a :class:`ResultTable`
for analysis, CSV export and the simulation's ``plot``.

Layout of a results folder ``<out>/<sim>/<hash>/``::

    config.json                 the RunConfig (sim, values, axes, seeds, backend, hash)
    cells/<point>-seed00003.json   one record per (grid point, seed)

A record is written to a temporary file in ``cells/``, flushed, ``fsync``-ed and moved into
place with :func:`os.replace`, which is atomic on POSIX file systems: a reader (or a rerun) sees
either no file or the whole record, never half of one. The file name is a function of the cell
alone, so a cell can never be stored twice; killing a run loses only the cells in flight.
"""
from __future__ import annotations

import csv
import json
import math
import os
import socket
from pathlib import Path

import numpy as np
from noprune_theory.sims._config import canonical_json

__all__ = ["META_COLUMNS", "ResultStore", "ResultTable", "atomic_write_json", "load_results"]

#: Columns added to every row from the record's metadata, besides the config and the values.
META_COLUMNS = ("seed", "backend", "version", "host", "seconds", "started")
_TMP_SUFFIX = ".tmp"


def atomic_write_json(path, obj):
    """Write *obj* as JSON to *path* atomically (temp file, fsync, ``os.replace``)."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{socket.gethostname()}.{os.getpid()}{_TMP_SUFFIX}"
    text = json.dumps(obj, indent=1, sort_keys=True)
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    # make the rename itself durable (a crash of the machine, not only of the process)
    try:
        dirfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dirfd)
    except OSError:
        pass
    finally:
        os.close(dirfd)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ResultStore:
    """A results folder: its ``config.json`` and the finished cells.

    Use :meth:`open` to create or reopen the folder of a :class:`RunConfig`.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.cells_dir = self.folder / "cells"
        self._lock_fh = None

    def lock(self):
        """Take the folder's run lock (``.lock``, ``flock``) or raise ValueError if held.

        Two runs of one config would compute the same cells twice (each cell would still be
        stored once, but the work is wasted); the second run stops before any work instead.
        The lock is released by :meth:`unlock` or when the process dies (also by SIGKILL).
        """
        import fcntl

        path = self.folder / ".lock"
        fh = open(path, "a+")  # noqa: SIM115  (held until unlock)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise ValueError(f"another run is writing to {self.folder} ({holder}); wait for it "
                             f"or stop it first") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}")
        fh.flush()
        self._lock_fh = fh

    def unlock(self):
        """Release the run lock taken by :meth:`lock` (no-op when not held)."""
        if self._lock_fh is not None:
            self._lock_fh.close()  # closing the descriptor releases the flock
            self._lock_fh = None

    @classmethod
    def open(cls, root, run_config, *, lock=False):
        """Create (or reopen) ``root/<sim>/<hash>/`` for *run_config*; check it is writable.

        With ``lock=True`` the run lock is taken (see :meth:`lock`); call :meth:`unlock` when
        done.

        Raises
        ------
        ValueError
            If the folder cannot be created or written, holds a different config, or (with
            *lock*) another run holds its lock.
        """
        folder = Path(root) / run_config.sim.replace(":", "_") / run_config.hash
        store = cls(folder)
        try:
            store.cells_dir.mkdir(parents=True, exist_ok=True)
            probe = store.cells_dir / f".probe.{socket.gethostname()}.{os.getpid()}{_TMP_SUFFIX}"
            with open(probe, "w") as fh:
                fh.write("ok")
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ValueError(f"output folder {folder} is not writable: {reason}") from None
        if lock:
            store.lock()
        try:
            store._write_config(run_config)
            store.remove_stale_temps()
        except BaseException:
            store.unlock()
            raise
        return store

    def _write_config(self, run_config):
        cfg_path = self.folder / "config.json"
        new = run_config.to_dict()
        if cfg_path.exists():
            try:
                old = json.loads(cfg_path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise ValueError(f"{cfg_path} is unreadable: {exc}") from None
            same = (old.get("sim"), canonical_json(old.get("config")),
                    old.get("cell_version")) == (new["sim"], canonical_json(new["config"]),
                                                 new.get("cell_version"))
            if not same:
                raise ValueError(f"{cfg_path} holds a different config than this run; "
                                 f"move the folder away or choose another --out")
            # the folder holds every seed any run asked for
            new["seeds"] = max(int(old.get("seeds", 1)), new["seeds"])
        atomic_write_json(cfg_path, new)

    def remove_stale_temps(self):
        """Delete temp files left by killed processes of this host (never a live writer's)."""
        host = socket.gethostname()
        for tmp in self.cells_dir.glob(f".*{_TMP_SUFFIX}"):
            parts = tmp.name[: -len(_TMP_SUFFIX)].rsplit(".", 2)
            if len(parts) != 3 or parts[1] != host or not parts[2].isdigit():
                continue
            if not _pid_alive(int(parts[2])):
                try:
                    tmp.unlink()
                except FileNotFoundError:
                    pass

    def done_keys(self):
        """Keys of the cells already stored."""
        return {p.stem for p in self.cells_dir.glob("*.json") if not p.name.startswith(".")}

    def path_of(self, key):
        return self.cells_dir / f"{key}.json"

    def write(self, key, record):
        """Store *record* as cell *key*, atomically."""
        atomic_write_json(self.path_of(key), record)


def _column(values):
    """A numpy array for one column: int64, float64 or bool when the values allow, else object."""
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype=bool)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


class ResultTable:
    """Rows of results as dicts, with numpy columns; no pandas needed.

    Iterating yields one dict per cell (``seed``, every config field, every measured value,
    and ``backend``, ``version``, ``host``, ``seconds``, ``started``). ``table["name"]`` is a
    numpy column (``int64``, ``float64`` or ``bool`` where every row allows it, else ``object``;
    a value a row lacks is ``None``).

    Parameters
    ----------
    rows : list of dict
    columns : list of str, optional
        Column order; by default the order in which names first appear.

    Examples
    --------
    >>> t = ResultTable([{"seed": 0, "x": 1.0}, {"seed": 1, "x": 3.0}])
    >>> len(t), t.columns, float(t["x"].mean())
    (2, ['seed', 'x'], 2.0)
    >>> t.where(seed=1).rows
    [{'seed': 1, 'x': 3.0}]
    """

    def __init__(self, rows, columns=None):
        self.rows = [dict(r) for r in rows]
        if columns is None:
            columns = []
            seen = set()
            for r in self.rows:
                for k in r:
                    if k not in seen:
                        seen.add(k)
                        columns.append(k)
        self.columns = list(columns)

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __contains__(self, name):
        return name in self.columns

    def __getitem__(self, name):
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; columns: {', '.join(self.columns)}")
        return _column([r.get(name) for r in self.rows])

    def __repr__(self):
        return f"ResultTable({len(self)} rows; columns: {', '.join(self.columns)})"

    def to_dict(self):
        """``{column: numpy array}`` for every column."""
        return {c: self[c] for c in self.columns}

    def unique(self, name):
        """The distinct values of a column, sorted."""
        return sorted({r.get(name) for r in self.rows}, key=lambda v: (v is None, v))

    def where(self, **equal):
        """The rows whose columns equal the given values: ``table.where(method="snip")``."""
        for k in equal:
            if k not in self.columns:
                raise KeyError(f"no column {k!r}; columns: {', '.join(self.columns)}")
        keep = [r for r in self.rows if all(r.get(k) == v for k, v in equal.items())]
        return ResultTable(keep, self.columns)

    def to_csv(self, path):
        """Write the table as CSV (header row; lists and dicts as JSON; ``None`` as empty).

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.columns)
            for r in self.rows:
                writer.writerow([_csv_cell(r.get(c)) for c in self.columns])
        return path


def _csv_cell(v):
    if v is None:
        return ""
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else str(v)
    return v


def record_to_row(record):
    """Flatten a stored record into one table row."""
    meta = record.get("meta", {})
    row = {"seed": record["seed"]}
    row.update(record.get("config", {}))
    row.update(record.get("values", {}))
    for k in META_COLUMNS[1:]:
        row[k] = meta.get(k)
    return row


def load_results(path):
    """Load a results folder into a :class:`ResultTable`.

    Parameters
    ----------
    path : str or path
        A folder made by ``noprune-theory sim`` (``<out>/<sim>/<hash>/``, holding
        ``config.json`` and ``cells/``).

    Returns
    -------
    ResultTable
        One row per finished cell (in file order: grouped by grid point, seeds ascending
        within a point); ``table.config`` is the
        folder's ``config.json`` as a dict. Export with ``table.to_csv("results.csv")``.

    Raises
    ------
    ValueError
        If *path* is not a results folder, or a record cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> from noprune_theory.sims import get_simulation, resolve_config, run_simulation
    >>> cfg = resolve_config(get_simulation("lipschitz_floor"), sets=["n=8", "d=2"], seeds=3)
    >>> with tempfile.TemporaryDirectory() as out:
    ...     table = load_results(run_simulation(cfg, out=out, progress=False).folder)
    >>> len(table), sorted(set(table["seed"].tolist()))
    (3, [0, 1, 2])
    """
    folder = Path(path)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ValueError(f"{folder} is not a results folder (no config.json); "
                         f"it is made by `noprune-theory sim`")
    try:
        config = json.loads(cfg_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{cfg_path} is unreadable: {exc}") from None
    rows = []
    for p in sorted((folder / "cells").glob("*.json")):
        if p.name.startswith("."):
            continue
        try:
            rows.append(record_to_row(json.loads(p.read_text())))
        except (OSError, json.JSONDecodeError, KeyError) as exc:
            raise ValueError(f"cannot read record {p}: {exc}") from None
    table = ResultTable(rows)
    table.config = config
    table.folder = folder
    return table
