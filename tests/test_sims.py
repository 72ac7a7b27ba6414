"""The simulation machinery: configs, the store, the runner (in-process and Dask), the CLI."""
import csv
import doctest
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sims_fixtures.toy_sims  # noqa: F401  (registers the "toy" simulation)

from noprune_theory.cli import main
from noprune_theory.sims import (
    CellError,
    Field,
    _config,
    _plotting,
    _registry,
    _store,
    get_simulation,
    list_simulations,
    load_results,
    loglog_fit,
    mean_sem,
    resolve_config,
    run_simulation,
    save_table,
    summarize,
)

TESTS = Path(__file__).parent
REPO = TESTS.parent
TOY = "sims_fixtures.toy_sims:toy"


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return env


def run_cli(args, capsys):
    """``main(args)`` in this process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


# ---------------------------------------------------------------------------- config


def test_config_merges_defaults_preset_file_and_sets(tmp_path):
    sim = get_simulation("toy")
    cfg = resolve_config(sim)
    assert cfg.values == {"x": [1.0, 2.0], "k": 1, "mode": "a", "sleep": 0.0, "fail_seed": -1}
    assert cfg.axes == ["x"] and cfg.seeds == 1 and cfg.backend == "auto"
    cfg = resolve_config(sim, preset="quick")
    assert cfg.values["x"] == [1.0, 3.0] and cfg.seeds == 3
    toml = tmp_path / "c.toml"
    toml.write_text('k = [0, 2]\nmode = "b"\nseeds = 2\n')
    cfg = resolve_config(sim, preset="quick", file=toml, sets=["x=5", "k=1e1"], seeds=4)
    # --set wins over the file, the file over the preset; 1e1 is the integer 10
    assert cfg.values["x"] == 5.0 and cfg.values["k"] == 10 and cfg.values["mode"] == "b"
    assert cfg.seeds == 4 and cfg.axes == []
    cfg = resolve_config(sim, sets=["x=[1, 2.5]", "k=0,1,2"])
    assert cfg.axes == ["x", "k"] and cfg.n_points == 6
    assert len(list(cfg.cells())) == 6


def test_config_hash_ignores_seeds_and_backend_and_int_float_spelling():
    sim = get_simulation("toy")
    a = resolve_config(sim, sets=["x=1,2"], seeds=2, backend="numpy")
    b = resolve_config(sim, sets=["x=[1.0, 2.0]"], seeds=7, backend="auto")
    c = resolve_config(sim, sets=["x=1,3"])
    assert a.hash == b.hash and a.hash != c.hash
    assert len(a.hash) == 12 and int(a.hash, 16) >= 0
    # raising the seed count keeps the keys of the first seeds: a rerun adds cells only
    assert {k for k, _, _ in a.cells()} < {k for k, _, _ in b.cells()}


@pytest.mark.parametrize("kwargs, message", [
    (dict(preset="huge"), "unknown preset 'huge' for simulation 'toy'; presets: default, "
                        "quick"),
    (dict(sets=["nope=1"]), "unknown config key 'nope' for simulation 'toy'; valid keys: x, k, "
                            "mode, sleep, fail_seed, seeds, backend"),
    (dict(sets=["k=1.5"]), "k must be an integer >= 0, got '1.5'"),
    (dict(sets=["k=-1"]), "k must be an integer >= 0, got '-1'"),
    (dict(sets=["x=abc"]), "x must be a number in [-10, 10], got 'abc'"),
    (dict(sets=["x=11"]), "x must be a number in [-10, 10], got '11'"),
    (dict(sets=["mode=c"]), "mode must be one of 'a', 'b', got 'c'"),
    (dict(sets=["x=1,1"]), "x lists a value more than once"),
    (dict(sets=["x"]), "--set expects key=value, got 'x'"),
    (dict(seeds=0), "seeds must be an integer >= 1, got 0"),
    (dict(backend="gpu"), "backend must be one of"),
])
def test_config_errors_name_the_key_and_the_range(kwargs, message):
    with pytest.raises(ValueError) as info:
        resolve_config(get_simulation("toy"), **kwargs)
    assert message in str(info.value)


def test_registry_lists_package_and_registered_sims():
    names = [s.name for s in list_simulations()]
    assert "lipschitz_floor" in names and "toy" in names
    with pytest.raises(ValueError, match="unknown simulation 'nosuch'; known: .*lipschitz_floor"):
        get_simulation("nosuch")
    assert get_simulation(TOY) is get_simulation("toy")
    with pytest.raises(TypeError, match="reserved"):
        _registry.register_simulation("bad", fields={"seeds": Field(1)})(lambda c, s: {})


# ---------------------------------------------------------------------------- store


def test_store_writes_atomically_and_loads_a_table(tmp_path):
    cfg = resolve_config(get_simulation("toy"), sets=["x=1,2"], seeds=3)
    summary = run_simulation(cfg, out=tmp_path, progress=False)
    assert (summary.total, summary.skipped, summary.computed) == (6, 0, 6)
    assert summary.folder == tmp_path / "toy" / cfg.hash
    cells = sorted(os.listdir(summary.folder / "cells"))
    assert len(cells) == 6 and all(c.endswith(".json") for c in cells)  # no temp files left
    saved = json.loads((summary.folder / "config.json").read_text())
    assert saved["hash"] == cfg.hash and saved["config"]["x"] == [1.0, 2.0]
    rec = json.loads((summary.folder / "cells" / cells[0]).read_text())
    assert set(rec) == {"sim", "key", "seed", "config", "values", "meta"}
    assert {"version", "backend", "host", "pid", "worker", "started", "seconds"} <= set(rec["meta"])
    assert rec["meta"]["backend"] in ("numpy", "numba") and rec["meta"]["worker"] == "in-process"
    table = load_results(summary.folder)
    assert len(table) == 6 and table["y"].dtype == np.float64 and table["seed"].dtype == np.int64
    # y = x**2 + seed exactly (the toy's definition)
    np.testing.assert_array_equal(table["y"], table["x"] ** 2 + table["seed"])
    assert sorted(zip(table["x"].tolist(), table["seed"].tolist())) == [
        (x, s) for x in (1.0, 2.0) for s in range(3)]
    path = save_table(table, tmp_path / "t.csv")
    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and float(rows[0]["y"]) == table["y"][0]
    assert list(rows[0]) == list(table.columns)


def test_store_refuses_a_folder_holding_another_config(tmp_path):
    cfg = resolve_config(get_simulation("toy"), sets=["x=1"])
    folder = run_simulation(cfg, out=tmp_path, progress=False).folder
    data = json.loads((folder / "config.json").read_text())
    data["config"]["x"] = 9.0
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="holds a different config"):
        run_simulation(cfg, out=tmp_path, progress=False)


def test_stale_temp_files_of_dead_processes_are_removed(tmp_path):
    cfg = resolve_config(get_simulation("toy"), sets=["x=1"])
    folder = run_simulation(cfg, out=tmp_path, progress=False).folder
    import socket

    # pid 2**22 + 1 is above Linux's pid_max default ceiling (4194304): never alive
    dead = folder / "cells" / f".a.json.{socket.gethostname()}.{2**22 + 1}.tmp"
    live = folder / "cells" / f".b.json.{socket.gethostname()}.{os.getpid()}.tmp"
    dead.write_text("{")
    live.write_text("{")
    run_simulation(cfg, out=tmp_path, progress=False)
    assert not dead.exists() and live.exists()
    assert len(load_results(folder)) == 1  # temp files are never read as records


def test_a_second_run_of_the_same_folder_stops_before_work(tmp_path):
    import fcntl

    cfg = resolve_config(get_simulation("toy"), sets=["x=1"], seeds=2)
    folder = run_simulation(cfg, out=tmp_path, progress=False).folder
    assert "pid" in (folder / ".lock").read_text()  # released, but says who held it last
    more = resolve_config(get_simulation("toy"), sets=["x=1"], seeds=4)
    with open(folder / ".lock", "a+") as fh:  # another run holds the lock
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ValueError, match=f"another run is writing to {folder}"):
            run_simulation(more, out=tmp_path, progress=False)
    assert len(load_results(folder)) == 2  # nothing ran
    assert run_simulation(more, out=tmp_path, progress=False).computed == 2  # lock released


def test_load_results_gives_a_typed_dataframe_with_the_config(tmp_path):
    cfg = resolve_config(get_simulation("toy"), sets=["x=2,1", "k=0,3", "mode=b"], seeds=2)
    df = load_results(run_simulation(cfg, out=tmp_path, progress=False).folder)
    assert list(df.columns) == ["seed", "x", "k", "mode", "sleep", "fail_seed", "twice_k", "y",
                                "backend", "version", "host", "seconds", "started"]
    assert str(df["seed"].dtype) == "int64" and str(df["k"].dtype) == "int64"
    assert str(df["x"].dtype) == "float64" and str(df["y"].dtype) == "float64"
    assert str(df["started"].dtype).startswith("datetime64") and str(df["started"].dt.tz) == "UTC"
    assert df.attrs["config"]["hash"] == cfg.hash and df.attrs["config"]["config"]["mode"] == "b"
    # rows follow the grid as declared (x = 2 first), seeds ascending within a point
    assert list(zip(df["x"], df["k"], df["seed"])) == [
        (x, k, s) for x in (2.0, 1.0) for k in (0, 3) for s in (0, 1)]
    assert (df["y"] == df["x"] ** 2 + df["seed"]).all()


def test_load_results_of_a_root_has_sim_and_config_hash_columns(tmp_path):
    a = resolve_config(get_simulation("toy"), sets=["x=1,2"], seeds=2)
    b = resolve_config(get_simulation("toy"), sets=["x=3"], seeds=3)
    c = resolve_config(get_simulation("lipschitz_floor"), sets=["n=8", "d=2"], seeds=2)
    for cfg in (a, b, c):
        run_simulation(cfg, out=tmp_path, progress=False)
    df = load_results(tmp_path)
    assert list(df.columns[:2]) == ["sim", "config_hash"] and len(df) == 4 + 3 + 2
    assert df.groupby("config_hash").size().to_dict() == {a.hash: 4, b.hash: 3, c.hash: 2}
    assert set(df.attrs["configs"]) == {a.hash, b.hash, c.hash}
    assert df.attrs["configs"][c.hash]["sim"] == "lipschitz_floor"
    # one simulation's folder parent loads too, and the summary keeps the configs apart
    assert len(load_results(tmp_path / "toy")) == 7
    s = summarize(df, "y")
    toy = s[s["sim"] == "toy"]
    assert toy["count"].tolist() == [2, 2, 3] and toy["mean"].tolist() == [1.5, 4.5, 10.0]
    with pytest.raises(ValueError, match="is not a results folder"):
        load_results(tmp_path / "toy" / a.hash / "cells")


def test_summarize_mean_and_standard_error_over_seeds(tmp_path):
    cfg = resolve_config(get_simulation("toy"), sets=["x=1,2", "k=0,3"], seeds=3)
    df = load_results(run_simulation(cfg, out=tmp_path, progress=False).folder)
    s = summarize(df)
    # by default: the swept fields are the grid, every measured number is reduced
    assert list(s.columns) == ["x", "k", "twice_k_mean", "twice_k_sem", "twice_k_count",
                               "y_mean", "y_sem", "y_count"]
    # y = x^2 + seed over seeds 0, 1, 2: mean x^2 + 1, s = 1, sem = 1/sqrt(3)
    assert s["y_mean"].tolist() == [2.0, 2.0, 5.0, 5.0]
    assert np.allclose(s["y_sem"], 3 ** -0.5, rtol=1e-15) and (s["y_count"] == 3).all()
    assert s["twice_k_mean"].tolist() == [0.0, 6.0, 0.0, 6.0]
    # the figures use the same helper
    assert mean_sem(df, "y", by=["x", "k"]).equals(summarize(df, "y", by=["x", "k"]))
    with pytest.raises(ValueError, match="no column 'z'"):
        summarize(df, "z")


# ---------------------------------------------------------------------------- runner


def test_rerun_skips_finished_cells_and_more_seeds_add_cells(tmp_path):
    sim = get_simulation("toy")
    seen = []
    cfg = resolve_config(sim, sets=["x=1,2"], seeds=2)
    run_simulation(cfg, out=tmp_path, progress=False, on_record=seen.append)
    assert len(seen) == 4
    again = run_simulation(cfg, out=tmp_path, progress=False, on_record=seen.append)
    assert (again.skipped, again.computed, len(seen)) == (4, 0, 4)
    more = resolve_config(sim, sets=["x=1,2"], seeds=3)
    s3 = run_simulation(more, out=tmp_path, progress=False, on_record=seen.append)
    assert (s3.skipped, s3.computed) == (4, 2) and s3.folder == again.folder
    assert sorted(r["seed"] for r in seen[4:]) == [2, 2]


def test_a_failing_cell_keeps_the_finished_ones(tmp_path):
    sim = get_simulation("toy")
    cfg = resolve_config(sim, sets=["x=1", "fail_seed=2"], seeds=4)
    with pytest.raises(CellError, match="failed at seed=2.*RuntimeError: asked to fail"):
        run_simulation(cfg, out=tmp_path, progress=False)
    assert len(load_results(tmp_path / "toy" / cfg.hash)) == 2


def test_a_cell_must_not_return_reserved_names(tmp_path):
    @_registry.register_simulation("clash", fields={"x": Field(1.0)})
    def clash(config, seed):
        return {"x": 2.0}

    cfg = resolve_config(get_simulation("clash"))
    with pytest.raises(CellError, match=r"returned key\(s\) \['x'\]"):
        run_simulation(cfg, out=tmp_path, progress=False)


@pytest.mark.slow
def test_local_cluster_with_two_workers_matches_in_process(tmp_path):
    sim = get_simulation("toy")
    cfg = resolve_config(sim, sets=["x=1,2,3"], seeds=2)
    summary = run_simulation(cfg, out=tmp_path / "dask", workers=2, progress=False)
    assert summary.computed == 6
    dask_table = load_results(summary.folder)
    workers = {json.loads(p.read_text())["meta"]["worker"]
               for p in (summary.folder / "cells").glob("*.json")}
    assert all(w.startswith("tcp://") for w in workers)
    local = load_results(run_simulation(cfg, out=tmp_path / "local", progress=False).folder)
    # the same rows in the same (grid) order, whichever worker computed them
    assert dask_table[["x", "seed", "y"]].equals(local[["x", "seed", "y"]])
    assert len(local) == 6


def test_running_scheduler_and_given_client_paths(tmp_path):
    # a threads-only cluster in this process: starts in well under a second
    from distributed import Client, LocalCluster

    sim = get_simulation("toy")
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster:
        two = resolve_config(sim, sets=["x=1,2"], seeds=2)
        s1 = run_simulation(two, out=tmp_path, scheduler=cluster.scheduler_address,
                            progress=False)
        assert s1.computed == 4
        with Client(cluster, set_as_default=False) as client:
            three = resolve_config(sim, sets=["x=1,2"], seeds=3)
            s2 = run_simulation(three, out=tmp_path, client=client, progress=False)
            assert (s2.skipped, s2.computed) == (4, 2)
            assert client.status == "running"  # a client we were given is not closed
    table = load_results(s2.folder)
    np.testing.assert_array_equal(table["y"], table["x"] ** 2 + table["seed"])
    assert len(table) == 6


@pytest.mark.slow
def test_sigkill_midway_loses_no_cell_doubles_none_and_recomputes_none(tmp_path):
    # 5 x-values x 4 seeds = 20 cells of 0.2 s: about 4 s in all
    args = [sys.executable, "-m", "noprune_theory", "sim", TOY, "--set", "x=1,2,3,4,5",
            "--set", "sleep=0.2", "--seeds", "4", "--out", str(tmp_path), "-q"]
    # cwd outside the checkout: there, ``python -m`` would import the source folder
    # noprune_theory/ (which lacks the mapped subpackage sims) instead of the installed package
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=tmp_path)
    cells = None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            found = list(tmp_path.glob("toy/*/cells/*.json"))
            if len(found) >= 5:
                cells = found[0].parent
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL and cells is not None
    before = {p.name: p.read_bytes() for p in cells.glob("*.json")}
    assert 5 <= len(before) < 20
    for text in before.values():  # every stored record is whole
        json.loads(text)
    rerun = subprocess.run(args[:-1], env=_env(), capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert f"({len(before)} already done, {20 - len(before)} computed)" in rerun.stdout
    after = {p.name: p.read_bytes() for p in cells.glob("*.json")}
    assert len(after) == 20
    # the finished cells were not recomputed: byte for byte the records of the killed run
    assert all(after[name] == text for name, text in before.items())
    table = load_results(cells.parent)
    pairs = sorted(zip(table["x"].tolist(), table["seed"].tolist()))
    assert pairs == [(float(x), s) for x in range(1, 6) for s in range(4)]  # none lost/doubled
    assert not [p for p in cells.iterdir() if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------- CLI


def test_cli_runs_resumes_exports_csv_and_plots(tmp_path, capsys):
    out = tmp_path / "res"
    code, stdout, _ = run_cli(["sim", TOY, "--preset", "quick", "--out", str(out),
                               "--csv", str(tmp_path / "t.csv")], capsys)
    assert code == 0 and "6 cells (0 already done, 6 computed)" in stdout
    with open(tmp_path / "t.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 6
    code, stdout, _ = run_cli(["sim", TOY, "--preset", "quick", "--out", str(out)], capsys)
    assert code == 0 and "6 cells (6 already done, 0 computed)" in stdout
    folder = next(out.glob("toy/*"))
    code, _, _ = run_cli(["plot", str(folder), "--out", str(tmp_path / "fig")], capsys)
    assert code == 0
    for name in ("toy.png", "toy.pdf", "config.json"):
        assert (tmp_path / "fig" / name).stat().st_size > 0
    assert (tmp_path / "fig" / "toy.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "fig" / "toy.pdf").read_bytes()[:4] == b"%PDF"
    made = json.loads((tmp_path / "fig" / "config.json").read_text())
    assert made["sim"] == "toy" and made["cells_plotted"] == 6 and made["seeds_plotted"] == [0, 1,
                                                                                          2]
    # the parent folder plots every results folder under it
    code, stdout, _ = run_cli(["plot", str(out / "toy"), "--format", "svg"], capsys)
    assert code == 0 and (folder / "figures" / "toy.svg").exists()


def test_cli_list_and_dry_run(tmp_path, capsys):
    code, stdout, _ = run_cli(["sim", "--list"], capsys)
    assert code == 0
    assert "lipschitz_floor  Best Lipschitz constant" in stdout
    assert "--preset quick" in stdout and "toy  y = x**2 + seed, for tests." in stdout
    code, stdout, _ = run_cli(["sim", "toy", "--set", "x=1,2,3", "--seeds", "5", "--dry-run",
                               "--out", str(tmp_path)], capsys)
    assert code == 0 and "15 cells (3 grid points x 5 seeds), 0 already in" in stdout
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    (["sim", "nosuch"], "Error: unknown simulation 'nosuch'; known: "),
    (["sim", "toy", "--preset", "huge"], "Error: unknown preset 'huge' for simulation 'toy'; "
                                         "presets: default, quick"),
    (["sim", "toy", "--set", "zz=1"], "Error: unknown config key 'zz' for simulation 'toy'; "
                                      "valid keys: x, k, mode, sleep, fail_seed, seeds, backend"),
    (["sim", "toy", "--set", "k=two"], "Error: k must be an integer >= 0, got 'two'"),
    (["sim", "toy", "--set", "sleep=9"], "Error: sleep must be a number in [0, 5], got '9'"),
    (["sim", "toy", "--seeds", "0"], "--seeds must be an integer >= 1, got '0'"),
    (["sim", "toy", "--workers", "0"], "--workers must be an integer >= 1, got '0'"),
    (["sim", "toy", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
     "Error: use either --workers or --scheduler, not both"),
    (["sim", "toy", "--scheduler", "localhost"], "Error: --scheduler must be an address like"),
    (["sim"], "Error: give a simulation NAME, or --list to see them"),
    (["plot", "."], "is not a results folder"),
    (["plot", ".", "--format", "gif"], "formats must be among png, pdf, svg"),
])
def test_cli_bad_input_exits_2_with_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run_cli(args, capsys)
    assert code == 2
    assert message in stderr and stderr.count("\n") == 1, stderr
    assert not (tmp_path / "results").exists()  # nothing ran, nothing was written


def test_cli_unwritable_output_folder_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, stderr = run_cli(["sim", "toy", "--out", str(blocker / "sub")], capsys)
    assert code == 2 and stderr.startswith("Error: output folder ")
    assert "is not writable: Not a directory" in stderr and stderr.count("\n") == 1


def test_cli_unreachable_scheduler_exits_2_quickly(tmp_path, capsys, monkeypatch):
    import socket

    from noprune_theory.sims import _runner

    monkeypatch.setattr(_runner, "CONNECT_TIMEOUT", 1)
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        t0 = time.monotonic()
        code, _, stderr = run_cli(["sim", "toy", "--scheduler", f"tcp://127.0.0.1:{port}",
                                   "--out", str(tmp_path)], capsys)
    assert code == 2 and time.monotonic() - t0 < 15
    assert stderr.startswith(f"Error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}")
    assert stderr.count("\n") == 1 and not list(tmp_path.iterdir())


def test_plot_of_an_empty_folder_and_of_a_sim_without_plot(tmp_path, capsys):
    @_registry.register_simulation("noplot", fields={"x": Field(1.0)})
    def noplot(config, seed):
        return {"y": 1.0}

    cfg = resolve_config(get_simulation("toy"), sets=["x=1", "fail_seed=0"])
    with pytest.raises(CellError):
        run_simulation(cfg, out=tmp_path, progress=False)
    code, _, stderr = run_cli(["plot", str(tmp_path / "toy" / cfg.hash)], capsys)
    assert code == 2 and "holds no finished cells yet" in stderr
    folder = run_simulation(resolve_config(get_simulation("noplot")), out=tmp_path,
                            progress=False).folder
    code, _, stderr = run_cli(["plot", str(folder)], capsys)
    assert code == 2 and "declares no plot(table, config, outdir)" in stderr


def test_a_sim_module_runs_as_a_script(tmp_path):
    script = REPO / "sims" / "lipschitz_floor.py"
    res = subprocess.run([sys.executable, str(script), "--set", "n=8,16", "--set", "d=2",
                          "--seeds", "2", "--out", str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "4 cells (0 already done, 4 computed)" in res.stdout
    bad = subprocess.run([sys.executable, str(script), "--set", "n=1"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr == "Error: n must be an integer >= 2, got '1'\n"


# ---------------------------------------------------------------------------- plotting


def test_mean_sem_by_hand():
    rows = [{"g": "a", "seed": 0, "v": 1.0}, {"g": "a", "seed": 1, "v": 2.0},
            {"g": "a", "seed": 2, "v": 6.0}, {"g": "b", "seed": 0, "v": 4.0}]
    stats = mean_sem(rows, "v", by="g").to_dict("records")
    # group a: mean 3; deviations -2, -1, 3 -> s^2 = 14/2 = 7; sem = sqrt(7/3)
    assert stats[0]["mean"] == 3.0 and stats[0]["count"] == 3
    assert abs(stats[0]["sem"] - (7 / 3) ** 0.5) < 1e-15
    assert stats[1]["count"] == 1 and np.isnan(stats[1]["sem"])  # undefined, stated
    with pytest.raises(ValueError, match=r"v must be a finite number in every row; got nan in "
                                         r"g='c' \(seed 0\)"):
        mean_sem(rows + [{"g": "c", "seed": 0, "v": float("nan")}], "v", by=["g"])


def test_loglog_fit_recovers_a_power_law_and_its_standard_error():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    # y = 5 x^-0.5 times exp(+-0.1) alternating: u = 0, ln2, 2ln2, 3ln2; residual pattern
    # r = (+.1, -.1, +.1, -.1) has zero mean; its covariance with u: sum (u - 1.5ln2) r
    # = ln2 (-1.5*.1 - .5*(-.1) + .5*.1 + 1.5*(-.1)) = -0.2 ln2; var sum = 5 ln2^2, so the fitted
    # slope is -0.5 - 0.2/(5 ln2) and the residuals carry the rest.
    r = np.array([0.1, -0.1, 0.1, -0.1])
    fit = loglog_fit(x, 5 * x**-0.5 * np.exp(r))
    expected = -0.5 - 0.2 / (5 * np.log(2))
    assert abs(fit.slope - expected) < 1e-12
    u = np.log(x)
    resid = np.log(5) + r - 0.5 * u - (fit.intercept + fit.slope * u)
    se = np.sqrt(resid @ resid / 2 / (5 * np.log(2) ** 2))
    assert abs(fit.slope_se - se) < 1e-12
    with pytest.raises(ValueError, match="y must hold positive finite numbers"):
        loglog_fit([1, 2], [1, 0])
    with pytest.raises(ValueError, match="two distinct x"):
        loglog_fit([2, 2], [1, 3])


# ---------------------------------------------------------------------------- lipschitz_floor


def test_lipschitz_floor_equals_brute_force_mcshane_constant():
    from noprune_theory.sims import lipschitz_floor as lf

    cfg = {"n": 40, "d": 3, "backend": "numpy"}
    x, y = lf._draw(cfg, 5)
    # McShane: the best Lipschitz constant of an interpolator is the largest slope between
    # two data points, max |y_i - y_j| / ||x_i - x_j|| over all pairs (checked pair by pair)
    best = max(abs(y[i] - y[j]) / np.linalg.norm(x[i] - x[j])
               for i in range(40) for j in range(i + 1, 40))
    rec = lf.cell(cfg, 5)
    assert abs(rec["lip_floor"] - best) < 1e-9 * best
    assert rec["n_positive"] == int((y > 0).sum())


@pytest.mark.slow
def test_lipschitz_floor_grows_as_n_to_the_2_over_d(tmp_path):
    # the minimum of m ~ n^2/4 pair distances with P(dist < r) ~ C r^d scales as m^(-1/d), so
    # E ln L* = const + (2/d) ln n for small d: slope 1 in d = 2. Seed noise: each mean of
    # ln L* over 16 seeds has s.e. ~0.15, and u = ln n spans 4 points 2 ln 2 apart
    # (sum (u - mean u)^2 = 5 (2 ln 2)^2 = 9.6), so the slope's s.e. is ~0.15 / sqrt(9.6) = 0.05;
    # the tolerance 0.1 is 2 s.e. (these seeds give 0.95). The neighbours 2/d for d = 1 or 4
    # (2 and 0.5) are 10 s.e. away.
    sim = get_simulation("lipschitz_floor")
    cfg = resolve_config(sim, sets=["n=16,64,256,1024", "d=2"], seeds=16)
    table = load_results(run_simulation(cfg, out=tmp_path, progress=False).folder)
    stats = mean_sem(table, "log_lip_floor", by=["n"])
    fit = loglog_fit(stats["n"], np.exp(stats["mean"]))
    assert abs(fit.slope - 1.0) < 0.1, fit


def test_doctests_of_the_machinery():
    for module in (_config, _registry, _store, _plotting):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__
