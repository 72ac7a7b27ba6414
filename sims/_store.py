"""The results store: one JSON file per cell, written atomically, and the table they load into.

Where this sits in the data flow: the runner hands every finished cell's record to
:meth:`ResultStore.write`; :func:`load_results` reads a folder (or a whole results root) back
into a :class:`pandas.DataFrame` for analysis, CSV and Parquet export and the simulation's
``plot``; :func:`~noprune_theory.sims.summarize` reduces it over seeds.

Layout of a results folder ``<out>/<sim>/<hash>/``::

    config.json                 the RunConfig (sim, values, axes, seeds, backend, hash)
    cells/<point>-seed00003.json   one record per (grid point, seed)

A record is written to a temporary file in ``cells/``, flushed, ``fsync``-ed and moved into
place with :func:`os.replace`, which is atomic on POSIX file systems: a reader (or a rerun) sees
either no file or the whole record, never half of one. The file name is a function of the cell
alone, so a cell can never be stored twice; killing a run loses only the cells in flight.

Records are still checked when a folder is reopened (:meth:`ResultStore.check_cells`): a file
that a full disk, a copy or a hand edit truncated, emptied or changed does not describe its cell,
so it is moved aside as ``<key>.json.corrupt`` (never deleted) and the cell is computed again.
"""
from __future__ import annotations

import json
import math
import os
import socket
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from noprune_theory.sims._config import _short_hash, canonical_json

if TYPE_CHECKING:
    import pandas as pd

    from noprune_theory.sims._config import RunConfig

__all__ = [
    "META_COLUMNS",
    "CorruptCellsWarning",
    "ResultStore",
    "atomic_write_json",
    "load_results",
    "read_config",
    "save_table",
    "summarize",
]

#: Columns added to every row from the record's metadata, besides the config and the values.
META_COLUMNS = ("seed", "backend", "version", "host", "seconds", "started")
_TMP_SUFFIX = ".tmp"
_CORRUPT_SUFFIX = ".corrupt"
_PANDAS_MISSING = ("pandas is needed for results tables; install it with "
                   "`pip install pandas` (a dependency of noprune-theory)")


class CorruptCellsWarning(UserWarning):
    """Cell records that did not describe their cell were moved aside (and will be recomputed)."""


def read_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the ``config.json`` of results folder *folder*, checked to be one.

    Parameters
    ----------
    folder : str or path
        A results folder (``<out>/<sim>/<hash>``).

    Returns
    -------
    dict
        With at least ``sim`` (str), ``hash`` (str) and ``config`` (dict).

    Raises
    ------
    ValueError
        If the file is missing, unreadable, not JSON, or not the object ``noprune-theory sim``
        writes (for example a JSON list).
    """
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ValueError(f"{Path(folder)} is not a results folder (no config.json); "
                         f"it is made by `noprune-theory sim`")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is unreadable: {exc}") from None
    problem = None
    if not isinstance(config, dict):
        problem = f"it holds a JSON {type(config).__name__}, not an object"
    elif not isinstance(config.get("sim"), str) or not config["sim"]:
        problem = "it names no simulation ('sim')"
    elif not isinstance(config.get("config"), dict):
        problem = "it holds no 'config' object"
    elif not isinstance(config.get("hash"), str):
        problem = "it holds no 'hash'"
    elif not isinstance(config.get("seeds", 1), int) or isinstance(config.get("seeds"), bool):
        problem = "its 'seeds' is not an integer"
    if problem:
        raise ValueError(f"{path} is not a results config: {problem}; move the folder away "
                         f"or choose another --out")
    return config


def _check_record(record, key, folder_config, fields=None):
    """Why *record* (parsed from ``cells/<key>.json``) is not a record of that cell, or None."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not a record"
    missing = [k for k in ("sim", "seed", "config", "values", "meta") if k not in record]
    if missing:
        return f"lacks {', '.join(missing)}"
    if record["sim"] != folder_config["sim"]:
        return f"made by simulation {record['sim']!r}, not {folder_config['sim']!r}"
    seed, point = record["seed"], record["config"]
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        return f"seed {seed!r} is not an integer >= 0"
    if not isinstance(point, dict):
        return "its config is not an object"
    if not isinstance(record["values"], dict) or not record["values"]:
        return "holds no values"
    if not isinstance(record["meta"], dict):
        return "its meta is not an object"
    grid = folder_config["config"]
    names = list(fields) if fields is not None else list(grid)
    if sorted(point) != sorted(names):
        return f"its config keys {sorted(point)} are not the simulation's {sorted(names)}"
    for name in names:
        v, allowed = point[name], grid.get(name)
        if isinstance(allowed, list) and v not in allowed or (
                not isinstance(allowed, list) and v != allowed):
            return f"{name}={v!r} is not a value of this folder's config"
        if fields is not None:
            try:
                if fields[name].convert(v, name) != v:
                    return f"{name}={v!r} is not of the field's type"
            except ValueError as exc:
                return str(exc)
    try:
        expected = f"{_short_hash(point, 16)}-seed{seed:05d}"
    except ValueError:
        return "its config holds a non-finite number"
    if key != expected:
        return f"its config and seed belong to cell {expected}, not {key}"
    return None


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

    Parameters
    ----------
    folder : str or path
        The results folder (``<out>/<sim>/<hash>``); nothing is created or checked here.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.cells_dir = self.folder / "cells"
        self._lock_fh = None

    def lock(self) -> None:
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

    def unlock(self) -> None:
        """Release the run lock taken by :meth:`lock` (no-op when not held)."""
        if self._lock_fh is not None:
            self._lock_fh.close()  # closing the descriptor releases the flock
            self._lock_fh = None

    @classmethod
    def open(cls, root: str | os.PathLike[str], run_config: RunConfig, *,
             lock: bool = False) -> ResultStore:
        """Create (or reopen) ``root/<sim>/<hash>/`` for *run_config*; check it is writable.

        With ``lock=True`` the run lock is taken (see :meth:`lock`); call :meth:`unlock` when
        done.

        Parameters
        ----------
        root : str or path
            The results root (``--out``).
        run_config : RunConfig
            The run whose folder this is.
        lock : bool, default False
            Whether to take the run lock.

        Returns
        -------
        ResultStore
            The open store.

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

    def check_config(self, run_config: RunConfig) -> dict[str, Any] | None:
        """Check that the folder's stored config is *run_config*'s.

        Parameters
        ----------
        run_config : RunConfig
            The run about to use the folder.

        Returns
        -------
        dict or None
            The stored ``config.json``, or None when it is not written yet.

        Raises
        ------
        ValueError
            If ``config.json`` is corrupt (see :func:`read_config`) or holds another config.
        """
        cfg_path = self.folder / "config.json"
        if not cfg_path.exists():
            return None
        old = read_config(self.folder)
        new = run_config.to_dict()
        try:
            same = (old.get("sim"), canonical_json(old.get("config")),
                    old.get("cell_version")) == (new["sim"], canonical_json(new["config"]),
                                                 new.get("cell_version"))
        except ValueError:  # a non-finite number in a hand-edited file
            same = False
        if not same:
            raise ValueError(f"{cfg_path} holds a different config than this run; "
                             f"move the folder away or choose another --out")
        return old

    def _write_config(self, run_config):
        new = run_config.to_dict()
        old = self.check_config(run_config)
        if old is not None:
            # the folder holds every seed any run asked for
            new["seeds"] = max(int(old.get("seeds", 1)), new["seeds"])
        atomic_write_json(self.folder / "config.json", new)

    def remove_stale_temps(self) -> None:
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

    def _cell_files(self):
        return sorted(p for p in self.cells_dir.glob("*.json") if not p.name.startswith("."))

    def stored_keys(self) -> set[str]:
        """Return the keys of the record files present, unchecked (see :meth:`done_keys`).

        Returns
        -------
        set of str
            The cell keys.
        """
        return {p.stem for p in self._cell_files()} if self.cells_dir.is_dir() else set()

    def check_cells(self, *, move: bool = True,
                    fields: Iterable[str] | None = None) -> list[tuple[Path, str]]:
        """Check every stored record against its cell; move the bad ones aside.

        A record is good when it parses as JSON and holds this simulation's ``sim``, a seed,
        a config with exactly the simulation's fields at values of this folder's grid (and, with
        *fields*, of the fields' types), non-empty ``values`` and ``meta``, and when its config
        and seed hash to its own file name. Anything else (an empty or truncated file, a record
        of another cell) would be trusted as done on a resume and then break the table.

        Parameters
        ----------
        move : bool, default True
            Rename each bad ``<key>.json`` to ``<key>.json.corrupt`` (an existing ``.corrupt``
            file is never overwritten: a number is appended), so that its cell is recomputed.
            With ``move=False`` only report them (``--dry-run``).
        fields : dict of str -> Field, optional
            The simulation's fields, when known, for the type check.

        Returns
        -------
        list of (pathlib.Path, str)
            Each bad record's original path and why it is bad.

        Raises
        ------
        ValueError
            If ``config.json`` itself is corrupt (see :func:`read_config`).
        """
        if not self.cells_dir.is_dir():
            return []
        folder_config = read_config(self.folder)
        bad = []
        for path in self._cell_files():
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                why = "empty" if path.stat().st_size == 0 else f"not JSON ({exc})"
            else:
                why = _check_record(record, path.stem, folder_config, fields)
            if why is None:
                continue
            bad.append((path, why))
            if move:
                target = path.with_name(path.name + _CORRUPT_SUFFIX)
                n = 1
                while target.exists():
                    target = path.with_name(f"{path.name}{_CORRUPT_SUFFIX}.{n}")
                    n += 1
                os.replace(path, target)
        return bad

    def done_keys(self) -> set[str]:
        """Return the keys of the cells already stored, after moving corrupt records aside.

        Corrupt records (see :meth:`check_cells`) are not done: they are renamed
        ``*.json.corrupt`` and a :class:`CorruptCellsWarning` says how many.

        Returns
        -------
        set of str
            The keys of the sound records.
        """
        bad = self.check_cells(move=True)
        if bad:
            warnings.warn(f"{len(bad)} corrupt cell record(s) in {self.cells_dir} moved aside "
                          f"as *.json.corrupt and recomputed (first: {bad[0][0].name}: "
                          f"{bad[0][1]})", CorruptCellsWarning, stacklevel=2)
        return self.stored_keys()

    def path_of(self, key: str) -> Path:
        """Return the file of cell *key*.

        Parameters
        ----------
        key : str
            A cell key (:meth:`RunConfig.cells`).

        Returns
        -------
        pathlib.Path
            ``cells/<key>.json`` in the folder.
        """
        return self.cells_dir / f"{key}.json"

    def write(self, key: str, record: dict[str, Any]) -> None:
        """Store *record* as cell *key*, atomically.

        Parameters
        ----------
        key : str
            The cell key.
        record : dict
            The cell's record (strict JSON: no NaN or inf).
        """
        atomic_write_json(self.path_of(key), record)


def _check_path(path, name):
    """*path* as a Path; TypeError/ValueError naming *name* if it is not a non-empty path."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or path, got {type(path).__name__}")
    if not str(path).strip():
        raise ValueError(f"{name} must not be empty")
    return Path(path)


def _import_pandas():
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(_PANDAS_MISSING) from None
    return pd


def record_to_row(record):
    """Flatten a stored record into one table row (a dict)."""
    meta = record.get("meta", {})
    row = {"seed": record["seed"]}
    row.update(record.get("config", {}))
    row.update(record.get("values", {}))
    for k in META_COLUMNS[1:]:
        row[k] = meta.get(k)
    return row


def _folder_rows(folder):
    """``(config, rows)`` of one results folder, reading every record (none is skipped)."""
    config = read_config(folder)
    rows = []
    for p in sorted((Path(folder) / "cells").glob("*.json")):
        if p.name.startswith("."):
            continue
        try:
            record = json.loads(p.read_text(encoding="utf-8"))
            why = _check_record(record, p.stem, config)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            why = "empty" if p.stat().st_size == 0 else f"not JSON ({exc})"
        if why is not None:
            raise ValueError(f"cannot read record {p}: {why}; rerun `noprune-theory sim` with "
                             f"the same config to move it aside and recompute it")
        rows.append(record_to_row(record))
    return config, _grid_order(config, rows)


def _frame(rows, columns):
    """A DataFrame of *rows* with typed columns: int64, float64, bool, str, datetimes."""
    pd = _import_pandas()
    df = pd.DataFrame.from_records(rows, columns=columns) if rows else pd.DataFrame(
        {c: pd.Series(dtype=object) for c in columns})
    for c in df.columns:
        col = df[c]
        if c == "started":
            df[c] = pd.to_datetime(col, utc=True, format="ISO8601", errors="coerce")
        elif col.dtype == object and len(col) and col.map(
                lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                or v is None).all() and col.notna().any():
            df[c] = pd.to_numeric(col)
    return df


def _field_order(config):
    """The config fields in the simulation's declared order (sorted if it is not known here)."""
    names = list(config["config"])
    try:
        from noprune_theory.sims._registry import get_simulation

        declared = list(get_simulation(config["sim"]).fields)
    except Exception:  # noqa: BLE001  (an unknown or broken simulation: its table still loads)
        return names
    return [k for k in declared if k in names] + [k for k in names if k not in declared]


def _grid_order(config, rows):
    """*rows* sorted as the grid is expanded (axes in declared order), seeds ascending."""
    axes = [a for a in _field_order(config) if isinstance(config["config"][a], list)]
    index = {a: {canonical_json(v): i for i, v in enumerate(config["config"][a])} for a in axes}

    def key(r):
        return (*(index[a].get(canonical_json(r.get(a)), -1) for a in axes), r["seed"])

    return sorted(rows, key=key)


def _columns(config, rows):
    """Column order: seed, the config fields, the measured values, the metadata."""
    cols = ["seed", *_field_order(config)]
    seen = set(cols) | set(META_COLUMNS)
    for r in rows:
        for k in r:
            if k not in seen:
                seen.add(k)
                cols.append(k)
    return cols + list(META_COLUMNS[1:])


def _result_folders(root: str | os.PathLike[str]) -> list[Path]:
    """List every results folder at most two levels below *root* (``<sim>/<hash>/``).

    A folder inside a results folder (its ``figures/``, whose ``config.json`` says what made
    the figures) is not one.

    Parameters
    ----------
    root : str or path
        A results root (``--out``) or a folder below it.

    Returns
    -------
    list of pathlib.Path
        The results folders, sorted.
    """
    root = Path(root)
    candidates = sorted({p.parent for pattern in ("*/config.json", "*/*/config.json")
                         for p in root.glob(pattern)}, key=lambda f: (len(f.parts), f))
    found = []
    for f in candidates:
        if not any(k in f.parents for k in found):
            found.append(f)
    return sorted(found)


def load_results(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Load a results folder, or every folder of a results root, into a pandas DataFrame.

    Parameters
    ----------
    path : str or path
        A folder made by ``noprune-theory sim`` (``<out>/<sim>/<hash>/``, holding
        ``config.json`` and ``cells/``), or a folder holding such folders: a results root
        ``<out>`` or one simulation's ``<out>/<sim>``.

    Returns
    -------
    pandas.DataFrame
        One row per finished cell (grouped by grid point, seeds ascending within a point).
        Columns: ``seed``, one per config field (in declared order), one per measured value,
        then ``backend``, ``version``, ``host``, ``seconds`` and ``started`` (UTC datetimes).
        Numbers are ``int64`` or ``float64`` (``float64`` with NaN where a row lacks the
        value), flags ``bool``, words strings; a value that is a list or dict stays an object.
        For one folder, ``df.attrs["config"]`` is its ``config.json`` as a dict and
        ``df.attrs["folder"]`` its path. For a root, the first columns are ``sim`` and
        ``config_hash`` (the folder's name), and ``df.attrs["configs"]`` maps each
        ``config_hash`` to its config; fields of other simulations are NaN.

    Raises
    ------
    ValueError
        If *path* holds no results folder, a ``config.json`` is corrupt, or a record does not
        describe its cell (rerunning ``noprune-theory sim`` moves such records aside).
    ImportError
        If pandas is missing (the message gives the install line).

    See Also
    --------
    summarize : Mean and standard error over seeds per grid point.

    Examples
    --------
    >>> import tempfile
    >>> from noprune_theory.sims import get_simulation, resolve_config, run_simulation
    >>> cfg = resolve_config(get_simulation("lipschitz_floor"), sets=["n=8", "d=2"], seeds=3)
    >>> with tempfile.TemporaryDirectory() as out:
    ...     df = load_results(run_simulation(cfg, out=out, progress=False).folder)
    >>> len(df), df["seed"].tolist(), str(df["n"].dtype), df.attrs["config"]["sim"]
    (3, [0, 1, 2], 'int64', 'lipschitz_floor')
    """
    pd = _import_pandas()
    folder = _check_path(path, "path")
    if (folder / "config.json").exists():
        config, rows = _folder_rows(folder)
        df = _frame(rows, _columns(config, rows))
        df.attrs["config"] = config
        df.attrs["folder"] = str(folder)
        return df
    folders = _result_folders(folder) if folder.is_dir() else []
    if not folders:
        raise ValueError(f"{folder} is not a results folder (no config.json in it or in the "
                         f"two levels below); it is made by `noprune-theory sim`")
    frames, configs = [], {}
    for f in folders:
        config, rows = _folder_rows(f)
        configs[f.name] = config
        df = _frame(rows, _columns(config, rows))
        df.insert(0, "config_hash", f.name)
        df.insert(0, "sim", config["sim"])
        frames.append(df)
    with warnings.catch_warnings():
        # all-NaN columns of an empty folder; concat keeps them as they are
        warnings.simplefilter("ignore", FutureWarning)
        out = pd.concat(frames, ignore_index=True, sort=False)
    meta = list(META_COLUMNS[1:])
    out = out[[c for c in out.columns if c not in meta] + meta]
    out.attrs = {"configs": configs, "root": str(folder)}
    return out


def summarize(df: pd.DataFrame, value: str | Sequence[str] | None = None,
              by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and standard error over seeds of each measured value, per grid point.

    Parameters
    ----------
    df : pandas.DataFrame or list of dict
        From :func:`load_results` (or rows of it).
    value : str or list of str, optional
        The columns to reduce; by default every numeric (not boolean) column that is not a
        config field, a grid column, ``seed`` or metadata.
    by : str or list of str, optional
        The columns that define a grid point; by default the swept fields of
        ``df.attrs["config"]`` (with ``sim`` and ``config_hash`` for a results root), else every
        config field. The rows of a group are its seeds.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by *by*: the *by* columns, then for each value ``V``
        ``V_mean``, ``V_sem`` and ``V_count`` (rows in the group). With a single *value* given
        as a string, the columns are ``mean``, ``sem`` and ``count``.

    Raises
    ------
    ValueError
        If a value is missing or not a finite number (the message names the group and seed), or
        a column does not exist.

    Notes
    -----
    ``sem = s / sqrt(count)`` with ``s`` the sample standard deviation (``ddof=1``). With a
    single seed the standard error is undefined and reported as NaN (matplotlib then draws no
    bar). The plotting helpers (:func:`~noprune_theory.sims.mean_sem`,
    :func:`~noprune_theory.sims.errorbar_lines`) call this function, so a figure and a table
    of the same folder show the same numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"k": [1, 1, 2], "seed": [0, 1, 0], "y": [1.0, 3.0, 5.0]})
    >>> summarize(df, "y", by="k")
       k  mean  sem  count
    0  1   2.0  1.0      2
    1  2   5.0  NaN      1
    """
    pd = _import_pandas()
    if not isinstance(df, pd.DataFrame):
        if isinstance(df, (str, bytes)) or not hasattr(df, "__iter__"):
            raise TypeError(f"df must be a pandas.DataFrame or rows (dicts), got "
                            f"{type(df).__name__}")
        rows = list(df)
        if not all(isinstance(r, dict) for r in rows):
            raise TypeError("df must be a pandas.DataFrame or rows (dicts); a row is not a dict")
        df = pd.DataFrame.from_records(rows)
    single = isinstance(value, str)
    if by is None:
        by = _default_by(df)
    elif isinstance(by, str):
        by = [by]
    else:
        by = list(by)
    if value is None:
        skip = set(by) | _config_columns(df) | {"seed", "sim", "config_hash", *META_COLUMNS}
        values = [c for c in df.columns if c not in skip
                  and pd.api.types.is_numeric_dtype(df[c])
                  and not pd.api.types.is_bool_dtype(df[c])]
    else:
        values = [value] if single else list(value)
    for c in [*by, *values]:
        if c not in df.columns:
            raise ValueError(f"no column {c!r}; columns: {', '.join(map(str, df.columns))}")
    for v in values:
        col = df[v]
        ok = col.map(lambda x: isinstance(x, (int, float)) and not isinstance(x, bool)
                     and math.isfinite(x))
        if "sim" in df.columns:
            # a results root: a value that one simulation measures is absent from the others
            ok |= ~df["sim"].isin(df.loc[col.notna(), "sim"].unique())
        if not ok.all():
            i = int((~ok.to_numpy()).nonzero()[0][0])
            row = df.iloc[i]
            where = ", ".join(f"{b}={_plain(row[b])!r}" for b in by) or "the table"
            seed = f" (seed {_plain(row['seed'])!r})" if "seed" in df.columns else ""
            raise ValueError(f"{v} must be a finite number in every row; got "
                             f"{_plain(col.iloc[i])!r} "
                             f"in {where}{seed}")
    numeric = df[by + values].copy()
    for v in values:
        numeric[v] = numeric[v].astype(float)
    keys = by or [numeric.assign(_all=0)["_all"]]  # no grid column: one group of all rows
    stats = numeric.groupby(keys, sort=True, dropna=False)[values].agg(["mean", "sem", "count"])
    stats.columns = [f"{v}_{s}" for v, s in stats.columns]
    stats = stats.reset_index(drop=not by)
    for v in values:
        stats[f"{v}_count"] = stats[f"{v}_count"].astype("int64")
    if single:
        stats = stats.rename(columns={f"{value}_{s}": s for s in ("mean", "sem", "count")})
    stats.attrs = {}
    return stats


def _plain(v):
    """A numpy scalar as the Python value it holds (for messages)."""
    return v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v


def _config_columns(df):
    cfg = df.attrs.get("config")
    names = set(cfg["config"]) if isinstance(cfg, dict) else set()
    for c in (df.attrs.get("configs") or {}).values():
        names |= set(c["config"])
    return names


def _default_by(df):
    """The grid columns: swept fields (plus sim, config_hash for a root), else all fields."""
    configs = []
    if isinstance(df.attrs.get("config"), dict):
        configs = [df.attrs["config"]]
    configs += list((df.attrs.get("configs") or {}).values())
    if configs:
        axes = []
        for c in configs:
            for a in c.get("axes", [k for k, v in c["config"].items() if isinstance(v, list)]):
                if a not in axes and a in df.columns:
                    axes.append(a)
        root = [c for c in ("sim", "config_hash") if c in df.columns]
        return root + axes
    raise ValueError("cannot tell the grid columns: give by=[...] (the table carries no "
                     "config in df.attrs)")


def _json_cell(v):
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def save_table(df: pd.DataFrame, path: str | os.PathLike[str], *,
               format: Literal["csv", "parquet"] | None = None) -> Path:
    """Write a results table as CSV or Parquet.

    Parameters
    ----------
    df : pandas.DataFrame
        From :func:`load_results` or :func:`summarize`.
    path : str or path
        The file to write; its folder must exist.
    format : {"csv", "parquet"}, optional
        By default from the suffix of *path* (``.parquet`` or ``.pq`` is Parquet, anything
        else CSV).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    ValueError
        If *format* is unknown or the file cannot be written.
    ImportError
        For Parquet without pyarrow (the message gives the install line).

    Notes
    -----
    CSV: a header row, no index, lists and dicts as JSON text, missing values empty, floats
    written so that they read back to the same number. Parquet (needs pyarrow, the
    ``[analysis]`` extra) keeps the column types, list-valued columns as lists, and
    ``df.attrs`` (the config) in the file's metadata; a column pyarrow cannot type (lists of
    mixed types) is stored as JSON text.
    """
    pd = _import_pandas()
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas.DataFrame, got {type(df).__name__}")
    path = _check_path(path, "path")
    fmt = format or ("parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv")
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be 'csv' or 'parquet', got {format!r}")
    out = df.copy()
    try:
        if fmt == "csv":
            for c in out.columns:
                if out[c].dtype == object:
                    out[c] = out[c].map(_json_cell)
            out.to_csv(path, index=False)
            return path
        check_parquet()
        import pyarrow as pa

        for c in out.columns:
            if out[c].dtype == object:
                try:
                    pa.array(out[c])
                except (pa.ArrowException, TypeError, ValueError):
                    out[c] = out[c].map(_json_cell)
        out.to_parquet(path, index=False)
    except OSError as exc:
        raise ValueError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def check_parquet() -> None:
    """Raise ImportError with the install line when pyarrow (for Parquet) is missing."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError("Parquet needs pyarrow; install it with "
                          "`pip install \"noprune-theory[analysis]\"` (or `pip install "
                          "pyarrow`)") from None
