"""layer_densities: every scheme against hand-worked examples (arithmetic in the comments)."""
import math

import numpy as np
import pytest

from noprune_theory.pruning import DENSITY_SCHEMES, layer_densities

# The reference MLP of docs/pruning.md: d = 30, two hidden layers of 100, one output.
# Layers: 30x100 (N_1 = 3000), 100x100 (N_2 = 10000), 100x1 (N_3 = 100); N = 13100.
REF = (30, 100, 100, 1)


def test_erk_reference_mlp_caps_output_layer():
    # density 0.1: budget p N = 1310. raw_l = (n_in + n_out) / (n_in n_out):
    #   130/3000, 200/10000 = 0.02, 101/100 = 1.01
    # eps = 1310 / (130 + 200 + 101) = 3.039...; p_3 = 1.01 eps = 3.07 > 1 -> dense.
    # Re-solve: eps = (1310 - 100) / (130 + 200) = 1210/330 = 11/3
    #   p_1 = 11/3 * 130/3000 = 143/900, p_2 = 11/3 * 0.02 = 11/150, p_3 = 1.
    got = layer_densities(REF, 0.1, "erk")
    np.testing.assert_allclose(got, [143 / 900, 11 / 150, 1.0], rtol=1e-13)
    # the weighted mean is the target: 3000 * 143/900 + 10000 * 11/150 + 100 = 1310
    assert math.isclose(float(got @ [3000, 10000, 100]), 1310.0, rel_tol=1e-13)


def test_erk_without_capping():
    # widths (4, 10, 5): N = 40, 50 (N = 90); density 0.5 -> budget 45.
    # raw = 14/40 = 0.35, 15/50 = 0.3; eps = 45 / (40*0.35 + 50*0.3) = 45/29.
    # p = 0.35*45/29 = 15.75/29, 0.3*45/29 = 13.5/29 (both < 1, no capping).
    np.testing.assert_allclose(
        layer_densities((4, 10, 5), 0.5, "erk"), [15.75 / 29, 13.5 / 29], rtol=1e-13
    )


def test_er_and_erk_differ_only_through_kernel_dims():
    # shapes (2, 4, 3, 3) (N = 72) and (4, 8) (N = 32); density 0.5 -> budget 52.
    # ER:  raw = (2+4)/(2*4) = 0.75, (4+8)/32 = 0.375; eps = 52/(72*0.75 + 32*0.375) = 52/66
    #      p = 0.75*52/66 = 39/66, 0.375*52/66 = 19.5/66.
    # ERK: raw = (2+4+3+3)/72 = 1/6, 12/32 = 0.375; eps = 52/(12 + 12) = 13/6
    #      p = 13/36, 0.375*13/6 = 0.8125.
    shapes = [(2, 4, 3, 3), (4, 8)]
    np.testing.assert_allclose(layer_densities(shapes, 0.5, "er"), [39 / 66, 19.5 / 66], rtol=1e-13)
    np.testing.assert_allclose(layer_densities(shapes, 0.5, "erk"), [13 / 36, 0.8125], rtol=1e-13)
    # fully connected layers: ER == ERK
    np.testing.assert_allclose(layer_densities(REF, 0.1, "er"), layer_densities(REF, 0.1, "erk"))


def test_balanced():
    # widths (4, 10, 5): N = 40, 50; density 0.5: p N / L = 45/2 = 22.5 weights per layer:
    # p = 22.5/40 = 0.5625, 22.5/50 = 0.45.
    np.testing.assert_allclose(layer_densities((4, 10, 5), 0.5, "balanced"), [0.5625, 0.45])
    # reference MLP at 0.1: 1310/3 = 436.7 > N_3 = 100 -> output layer dense; the other two
    # share 1310 - 100 = 1210 equally: 605/3000, 605/10000.
    np.testing.assert_allclose(
        layer_densities(REF, 0.1, "balanced"), [605 / 3000, 605 / 10000, 1.0], rtol=1e-13
    )


def test_pyramidal():
    # widths (4, 10, 5): 40 r + 50 r^2 = 0.5 * 90 = 45
    # -> r = (-40 + sqrt(40^2 + 4*50*45)) / (2*50) = (-40 + sqrt(10600)) / 100 = 0.62956...
    r = (-40 + math.sqrt(10600)) / 100
    np.testing.assert_allclose(layer_densities((4, 10, 5), 0.5, "pyramidal"), [r, r * r],
                               rtol=1e-12)


def test_uniform_and_dense():
    np.testing.assert_array_equal(layer_densities(REF, 0.25, "uniform"), [0.25] * 3)
    for scheme in DENSITY_SCHEMES:
        np.testing.assert_allclose(layer_densities(REF, 1.0, scheme), [1.0] * 3)


@pytest.mark.parametrize("scheme", DENSITY_SCHEMES)
@pytest.mark.parametrize("density", [0.01, 0.1, 0.5, 0.9])
def test_every_scheme_keeps_the_budget(scheme, density):
    # sum_l N_l p_l = p N for every scheme, with every p_l in [0, 1]
    got = layer_densities(REF, density, scheme)
    assert np.all((got >= 0) & (got <= 1))
    assert math.isclose(float(got @ [3000, 10000, 100]), density * 13100, rel_tol=1e-10)


@pytest.mark.parametrize(
    "args, match",
    [
        ((REF, 0.0, "erk"), "density must be a number in \\(0, 1\\], got 0"),
        ((REF, 1.5, "erk"), "density must be a number in \\(0, 1\\], got 1.5"),
        ((REF, 0.1, "rigl"), "scheme must be one of 'uniform', 'er', 'erk'"),
        (((30,), 0.1, "erk"), "at least 2 entries"),
        (((30, 0, 1), 0.1, "erk"), "integers >= 1"),
        (([(3,)], 0.1, "erk"), ">= 2 positive entries"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        layer_densities(*args)


# ----------------------------------------------------------------------------- issue 14, item 5
@pytest.mark.parametrize("sizes", [
    "ab",                  # a string iterates as characters
    b"ab",
    ["ab", "cd"],
    [(3.7, 4)],            # int() would truncate 3.7 silently
    [("3", "4")],          # int() would read the text
    [(3, 4), (4, True)],
    [3.0, 4],
    [(3, 4), 5],
])
def test_malformed_layer_sizes_name_the_argument(sizes):
    with pytest.raises(ValueError, match="^layer_sizes must be"):
        layer_densities(sizes, 0.5)


def test_layer_sizes_as_a_string_is_a_type_error():
    with pytest.raises(TypeError, match="^layer_sizes must be .* got the string 'ab'"):
        layer_densities("ab", 0.5)


def test_density_given_as_text_is_refused():
    with pytest.raises(TypeError, match="^density must be"):
        layer_densities((30, 100, 1), "0.5")


def test_numpy_integer_sizes_still_work():
    np.testing.assert_array_equal(layer_densities((np.int64(30), np.int32(10), 1), 0.5),
                                  layer_densities((30, 10, 1), 0.5))
