"""Results as pandas tables, and results that are checked before they are trusted.

Covers the results store on reopening (corrupt records moved aside and recomputed, a corrupt
config.json refused, also by --dry-run), the exports (--csv, --parquet, checked before the run),
``sim NAME --help`` and ``--list NAME``, ``--preset default``, bare words in ``--set`` lists,
and ``plot`` on a results root.
"""
import json
import os
import re
from pathlib import Path

import pandas as pd
import pytest
import sims_fixtures.toy_sims  # noqa: F401  (registers the "toy" simulation)

from noprune_theory.cli import main
from noprune_theory.sims import (
    get_simulation,
    load_results,
    resolve_config,
    run_simulation,
    save_table,
    summarize,
)
from noprune_theory.sims._store import CorruptCellsWarning, ResultStore

TOY = "sims_fixtures.toy_sims:toy"


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return info.value.code, out, err


def _one_error_line(code, stderr):
    assert code == 2, stderr
    assert stderr.startswith("Error: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr


def _quick(tmp_path):
    cfg = resolve_config(get_simulation("toy"), preset="quick")
    return cfg, run_simulation(cfg, out=tmp_path, progress=False).folder


# --------------------------------------------------------------- records checked on resume

def _damage(cells):
    """Damage four records in four different ways; return their names."""
    files = sorted(cells.glob("*.json"))
    files[0].write_text("")                                       # emptied
    files[1].write_text(files[1].read_text()[:40])                # truncated
    rec = json.loads(files[2].read_text())
    rec["config"]["x"] = 2.0                                      # another cell's config
    files[2].write_text(json.dumps(rec))
    rec = json.loads(files[3].read_text())
    del rec["values"]                                             # no measurements
    files[3].write_text(json.dumps(rec))
    return [f.name for f in files[:4]]


def test_corrupt_records_are_moved_aside_and_recomputed_by_the_cli(tmp_path, capsys):
    out = tmp_path / "res"
    code, stdout, _ = run_cli(["sim", TOY, "--preset", "quick", "--out", str(out)], capsys)
    assert code == 0
    folder = next(out.glob("toy/*"))
    before = {p.name: json.loads(p.read_text())["values"] for p in (folder / "cells").iterdir()}
    names = _damage(folder / "cells")
    code, stdout, stderr = run_cli(["sim", TOY, "--preset", "quick", "--out", str(out)], capsys)
    assert code == 0
    assert "6 cells (2 already done, 4 computed)" in stdout
    assert "4 corrupt cell record(s) moved aside as *.json.corrupt" in stderr
    for name in names:  # kept for inspection, never deleted, and the cell is back
        assert (folder / "cells" / (name + ".corrupt")).exists()
        assert json.loads((folder / "cells" / name).read_text())["values"] == before[name]
    assert len(load_results(folder)) == 6


def test_the_api_run_also_checks_records_and_warns(tmp_path):
    cfg, folder = _quick(tmp_path)
    (folder / "cells" / sorted(os.listdir(folder / "cells"))[0]).write_text("{")
    with pytest.warns(CorruptCellsWarning, match="1 corrupt cell record"):
        summary = run_simulation(cfg, out=tmp_path, progress=False)
    assert (summary.skipped, summary.computed) == (5, 1)
    # a second corruption of the same cell never overwrites the first one kept aside
    name = sorted(p.name for p in (folder / "cells").glob("*.json"))[0]
    (folder / "cells" / name).write_text("")
    with pytest.warns(CorruptCellsWarning):
        run_simulation(cfg, out=tmp_path, progress=False)
    assert len(list((folder / "cells").glob("*.corrupt*"))) == 2


def test_a_record_of_the_wrong_type_is_caught_with_the_fields(tmp_path):
    _, folder = _quick(tmp_path)
    path = min((folder / "cells").glob("*.json"))
    rec = json.loads(path.read_text())
    rec["seed"] = "0"
    path.write_text(json.dumps(rec))
    bad = ResultStore(folder).check_cells(move=False, fields=get_simulation("toy").fields)
    assert [(p.name, why) for p, why in bad] == [(path.name, "seed '0' is not an integer >= 0")]
    assert path.exists()  # move=False only reports
    with pytest.raises(ValueError, match="cannot read record .*rerun `noprune-theory sim`"):
        load_results(folder)


def test_dry_run_reports_corrupt_records_without_moving_them(tmp_path, capsys):
    _, folder = _quick(tmp_path)
    names = _damage(folder / "cells")
    code, stdout, _ = run_cli(["sim", "toy", "--preset", "quick", "--out", str(tmp_path),
                               "--dry-run"], capsys)
    assert code == 0
    assert "6 cells (2 grid points x 3 seeds), 2 already in" in stdout
    assert "4 stored record(s) are corrupt and would be moved aside" in stdout
    assert all((folder / "cells" / n).exists() for n in names)
    assert not list((folder / "cells").glob("*.corrupt"))


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '{"sim": "toy"}',
                                  '{"sim": "toy", "hash": "x", "config": [1]}'])
@pytest.mark.parametrize("dry", [True, False])
def test_a_corrupt_config_json_is_one_error_line(text, dry, tmp_path, capsys):
    _, folder = _quick(tmp_path)
    (folder / "config.json").write_text(text)
    args = ["sim", "toy", "--preset", "quick", "--out", str(tmp_path)] + (["--dry-run"] * dry)
    code, stdout, stderr = run_cli(args, capsys)
    _one_error_line(code, stderr)
    assert "config.json" in stderr and stdout == ""
    code, _, stderr = run_cli(["plot", str(folder)], capsys)
    _one_error_line(code, stderr)
    code, _, stderr = run_cli(["plot", str(tmp_path)], capsys)  # also found from the root
    _one_error_line(code, stderr)


# --------------------------------------------------------------- exports

@pytest.mark.parametrize("option", ["--csv", "--parquet"])
@pytest.mark.parametrize("where", ["missing", "readonly", "folder", "empty"])
def test_an_export_that_cannot_be_written_fails_before_the_run(option, where, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    target = {"missing": str(tmp_path / "nope" / "t.out"), "readonly": str(ro / "t.out"),
              "folder": str(tmp_path), "empty": ""}[where]
    if where == "readonly" and os.access(ro, os.W_OK):
        pytest.skip("running as root: permissions are not enforced")
    code, _, stderr = run_cli(["sim", "toy", "--out", str(tmp_path / "res"), option, target],
                              capsys)
    _one_error_line(code, stderr)
    assert option in stderr
    assert not (tmp_path / "res").exists()  # refused before any cell ran


def test_csv_and_parquet_exports_read_back_to_the_table(tmp_path, capsys):
    out = tmp_path / "res"
    code, stdout, _ = run_cli(["sim", TOY, "--preset", "quick", "--out", str(out),
                               "--csv", str(tmp_path / "t.csv"),
                               "--parquet", str(tmp_path / "t.parquet")], capsys)
    assert code == 0 and stdout.count("table written to") == 2
    df = load_results(next(out.glob("toy/*")))
    back = pd.read_csv(tmp_path / "t.csv")
    assert list(back.columns) == list(df.columns)
    assert back["y"].tolist() == df["y"].tolist() and back["seed"].tolist() == df["seed"].tolist()
    pq = pd.read_parquet(tmp_path / "t.parquet")
    assert pq.drop(columns="started").equals(df.drop(columns="started"))
    assert pq.attrs["config"]["hash"] == df.attrs["config"]["hash"]


# --------------------------------------------------------------- sim NAME --help and --list NAME

def test_sim_name_help_documents_every_key_and_preset(capsys):
    code, stdout, _ = run_cli(["sim", "toy", "--help"], capsys)
    assert code == 0
    assert "Keys of toy" in stdout and "Presets of toy" in stdout
    flat = " ".join(stdout.split())
    sim = get_simulation("toy")
    for key, field in sim.fields.items():
        assert f"{key} {field.help}. Type {field.kind.__name__}, default" in flat, key
        assert field.describe() in flat
    assert ("x input (units). Type float, default [1.0, 2.0] (a list: swept); allowed: a number "
            "in [-10, 10].") in flat
    assert "seeds " in flat and "backend " in flat
    assert "quick two x values, 3 seeds" in flat
    assert "default the field defaults, what runs without --preset (2 grid points x 1 seed)" \
        in flat
    # the generic help stays as it was without NAME
    code, plain, _ = run_cli(["sim", "--help"], capsys)
    assert code == 0 and "Keys of" not in plain and "--parquet" in plain
    # no section about a simulation that was not named (click 8.3+ passes a sentinel object
    # for a missing argument)
    assert "Simulation" not in plain and "Sentinel" not in plain


def test_every_packaged_simulation_documents_its_keys():
    from noprune_theory.sims import list_simulations

    packaged = [s for s in list_simulations() if s.module.startswith("noprune_theory.sims.")]
    assert len(packaged) >= 7
    for sim in packaged:
        for key, field in sim.fields.items():
            assert field.help.strip(), f"{sim.name}.{key} has no one-line meaning"


def test_list_name_shows_only_that_simulation_and_unknown_names_fail(capsys):
    code, stdout, _ = run_cli(["sim", "--list", "toy"], capsys)
    assert code == 0
    assert stdout.startswith("toy  y = x**2 + seed, for tests.")
    assert "lipschitz_floor" not in stdout and "--preset default" in stdout
    assert "sleep" in stdout and "seconds each cell sleeps" in stdout
    code, _, stderr = run_cli(["sim", "--list", "nosuch"], capsys)
    _one_error_line(code, stderr)
    assert "unknown simulation 'nosuch'" in stderr


def test_the_default_preset_is_listed_and_runs_the_defaults(tmp_path, capsys):
    code, stdout, _ = run_cli(["sim", "--list"], capsys)
    assert code == 0 and "--preset default" in stdout
    sim = get_simulation("toy")
    assert resolve_config(sim, preset="default") == resolve_config(sim)


# --------------------------------------------------------------- bad input: one Error line

@pytest.mark.parametrize("args", [
    ["sim", "toy", "--out", ""],
    ["sim", "toy", "--out", "  "],
    ["sim", "toy", "--config", ""],
    ["plot", ""],
    ["plot", "{res}", "--out", ""],
    ["plot", "{res}", "--format", "png,png"],
    ["plot", "{res}", "--format", "pdf,svg,PDF"],
    ["plot", "{res}", "--format", "png,"],
    ["sim", "toy", "--list", "--preset", "quick"],
    ["sim", "--list", "--set", "x=1"],
    ["sim", "toy", "--list", "--out", "elsewhere"],
    ["sim", "toy", "--set", "x=1", "--set", "x=2"],
    ["sim", "toy", "--csv", "t.out", "--parquet", "./t.out"],
    ["sim", "toy", "--set", "mode=[a, [b]]"],
    ["sim", "toy", "--set", "mode=[a,,b]"],
])
def test_refused_inputs_exit_2_with_one_line(args, tmp_path, capsys, monkeypatch):
    # a real results folder (in the root, from where `plot ''` would plot it), so that only
    # the option under test can be refused
    monkeypatch.chdir(tmp_path)
    _, folder = _quick(tmp_path)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, _, stderr = run_cli([a.replace("{res}", str(folder)) for a in args], capsys)
    _one_error_line(code, stderr)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == made  # no output


@pytest.mark.parametrize("text, expected", [
    ("[a, b]", ["a", "b"]),
    ("[a,b]", ["a", "b"]),
    ("['a', b]", ["a", "b"]),
    ('["a", "b"]', ["a", "b"]),
    ("a,b", ["a", "b"]),
    ("[b]", "b"),
])
def test_bare_words_in_a_set_list(text, expected):
    cfg = resolve_config(get_simulation("toy"), sets=[f"mode={text}"])
    assert cfg.values["mode"] == expected


# --------------------------------------------------------------- plot a results root

def test_plot_a_results_root_plots_every_simulation(tmp_path, capsys):
    root = tmp_path / "results"
    a = resolve_config(get_simulation("toy"), sets=["x=1,2"], seeds=2)
    b = resolve_config(get_simulation("lipschitz_floor"), sets=["n=8,16", "d=2"], seeds=2)
    for cfg in (a, b):
        run_simulation(cfg, out=root, progress=False)
    code, _, stderr = run_cli(["plot", str(root), "--format", "png",
                               "--out", str(tmp_path / "figs")], capsys)
    assert code == 0, stderr
    assert (tmp_path / "figs" / "toy" / a.hash / "toy.png").stat().st_size > 0
    assert (tmp_path / "figs" / "lipschitz_floor" / b.hash / "lipschitz_floor.png").exists()
    code, _, _ = run_cli(["plot", str(root), "--format", "svg"], capsys)
    assert code == 0
    assert (root / "toy" / a.hash / "figures" / "toy.svg").exists()
    assert (root / "lipschitz_floor" / b.hash / "figures" / "lipschitz_floor.svg").exists()
    # the figures' own config.json (beside them, inside the results folder) is no results
    # folder: plotting or loading again from one simulation's folder finds only the runs
    code, _, stderr = run_cli(["plot", str(root / "toy"), "--format", "svg"], capsys)
    assert code == 0 and stderr == ""
    assert list(load_results(root / "toy")["config_hash"].unique()) == [a.hash]


def test_plot_a_root_skips_folders_without_cells_with_a_note(tmp_path, capsys):
    root = tmp_path / "results"
    a = resolve_config(get_simulation("toy"), sets=["x=1,2"], seeds=2)
    run_simulation(a, out=root, progress=False)
    empty = root / "toy" / "000000000000"
    (empty / "cells").mkdir(parents=True)
    cfg = json.loads((root / "toy" / a.hash / "config.json").read_text())
    (empty / "config.json").write_text(json.dumps(dict(cfg, hash="000000000000")))
    code, _, stderr = run_cli(["plot", str(root), "--format", "png"], capsys)
    assert code == 0 and "skipped: " in stderr and "holds no finished cells" in stderr
    code, _, stderr = run_cli(["plot", str(empty)], capsys)
    _one_error_line(code, stderr)
    assert Path(stderr.split("Error: ")[1].split(" holds")[0]) == empty


def test_parquet_without_pyarrow_is_one_error_line_before_the_run(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pyarrow", None)  # import fails
    code, _, stderr = run_cli(["sim", "toy", "--out", str(tmp_path / "res"), "--parquet",
                               str(tmp_path / "t.parquet")], capsys)
    _one_error_line(code, stderr)
    assert 'pip install "noprune-theory[analysis]"' in stderr
    assert not (tmp_path / "res").exists()


def test_a_missing_pandas_is_named_with_the_install_line(tmp_path, monkeypatch):
    _, folder = _quick(tmp_path)
    monkeypatch.setitem(__import__("sys").modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        load_results(folder)


@pytest.mark.parametrize("call, exc, message", [
    (lambda: load_results(None), TypeError, "path must be a str or path, got NoneType"),
    (lambda: load_results(""), ValueError, "path must not be empty"),
    (lambda: summarize(42), TypeError, "df must be a pandas.DataFrame or rows"),
    (lambda: summarize([1, 2], by="k"), TypeError, "a row is not a dict"),
    (lambda: summarize(pd.DataFrame({"k": [1], "v": ["a"]}), "v", by="k"), ValueError,
     "v must be a finite number in every row; got 'a' in k=1"),
    (lambda: summarize(pd.DataFrame({"k": [1], "v": [1.0]})), ValueError,
     "cannot tell the grid columns"),
    (lambda: save_table([{"a": 1}], "t.csv"), TypeError, "df must be a pandas.DataFrame"),
    (lambda: save_table(pd.DataFrame({"a": [1]}), "t.csv", format="xls"), ValueError,
     "format must be 'csv' or 'parquet'"),
])
def test_api_errors_name_the_argument(call, exc, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(exc, match=re.escape(message)):
        call()


def test_plot_into_an_unwritable_place_is_one_error_line(tmp_path, capsys, monkeypatch):
    _, folder = _quick(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, stderr = run_cli(["plot", str(folder), "--out", str(blocker / "figs")], capsys)
    _one_error_line(code, stderr)
    assert "cannot write figures to" in stderr

    # a folder that exists but refuses writes (simulated: permissions do not bind root)
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "write_text", refuse)
    code, _, stderr = run_cli(["plot", str(folder), "--out", str(tmp_path / "ro")], capsys)
    _one_error_line(code, stderr)
    assert "cannot write figures to" in stderr and "Permission denied" in stderr
