"""A toy simulation registered with the decorator, for the runner tests.

``y = x**2 + seed`` is known exactly, so a test can check every stored value; ``sleep`` makes a
cell slow enough to kill a run in the middle; ``fail_seed`` makes one seed raise.
"""
import time

from noprune_theory.sims import Field, preset, register_simulation


def plot(table, config, outdir):
    from noprune_theory.sims import errorbar_lines, new_figure

    fig, ax = new_figure()
    errorbar_lines(ax, table, "x", "y", label="toy")
    ax.set_xlabel("x (units)")
    ax.set_ylabel("y (units^2)")
    return fig


@register_simulation(
    "toy",
    fields={
        "x": Field([1.0, 2.0], "input (units)", low=-10, high=10),
        "k": Field(1, "an integer >= 0", low=0),
        "mode": Field("a", "a choice", choices=("a", "b")),
        "sleep": Field(0.0, "seconds each cell sleeps", low=0, high=5),
        "fail_seed": Field(-1, "seed that raises (-1: none)", low=-1),
    },
    presets={"quick": preset("two x values, 3 seeds", x=[1.0, 3.0], seeds=3)},
    description="y = x**2 + seed, for tests.",
    plot=plot,
)
def toy(config, seed):
    if seed == config["fail_seed"]:
        raise RuntimeError("asked to fail")
    time.sleep(config["sleep"])
    return {"y": config["x"] ** 2 + seed, "twice_k": 2 * config["k"]}
