"""Exact count-based selection and mask shuffling, on every array namespace (xp fixture)."""
import numpy as np
import pytest

from noprune_theory.backend import to_numpy
from noprune_theory.pruning import (
    apportion_counts,
    keep_count,
    mask_counts,
    select_masks,
    shuffle_masks,
)

SHAPES = [(3, 30, 10), (3, 10, 10), (3, 10, 1)]  # B = 3 networks, N_l = 300, 100, 10; P = 410


def _scores(xp, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    out = []
    for s in SHAPES:
        a = rng.integers(0, 3, size=s).astype(np.float64) if ties else rng.random(s)
        out.append(xp.asarray(a))
    return out


def test_keep_count_rounds_to_nearest():
    # (1 - 0.9) * 13100 = 1309.9999999999998 in floating point: a floor would keep 1309.
    assert keep_count(1 - 0.9, 13100) == 1310
    assert keep_count(0.5, 5) == 3  # 2.5 -> 3 (halves up)
    assert keep_count(0.0, 10) == 0 and keep_count(1.0, 10) == 10


def test_apportion_largest_remainder():
    # targets 1.5, 2.5, 3.0: floors 1, 2, 3 (sum 6); total 7 -> one extra to the largest
    # remainder, a tie 0.5 / 0.5 resolved towards the earlier layer -> 2, 2, 3.
    assert apportion_counts([1.5, 2.5, 3.0], [10, 10, 10], 7) == [2, 2, 3]
    # ERK at 0.1 on the reference MLP: 476.67, 733.33, 100 -> floors 476, 733, 100 (1309);
    # total round(1310) = 1310 -> +1 to the layer with remainder 0.67.
    assert apportion_counts([3000 * 143 / 900, 10000 * 11 / 150, 100.0],
                            [3000, 10000, 100], 1310) == [477, 733, 100]


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.9, 0.99, 0.999])
@pytest.mark.parametrize("ties", [False, True])
def test_global_selection_is_exact(xp, sparsity, ties):
    scores = _scores(xp, ties=ties)
    masks = select_masks(scores, density=1 - sparsity, scope="global", seed=1)
    counts = mask_counts(masks)
    # every network keeps exactly round((1 - s) * 410)
    np.testing.assert_array_equal(counts.sum(axis=1), [keep_count(1 - sparsity, 410)] * 3)
    # and keeps the top scores: every kept score >= every dropped score, network by network
    s_np = [np.asarray(to_numpy(s)) for s in scores]
    m_np = [np.asarray(to_numpy(m)) for m in masks]
    for b in range(3):
        flat_s = np.concatenate([s[b].ravel() for s in s_np])
        flat_m = np.concatenate([m[b].ravel() for m in m_np])
        if 0 < flat_m.sum() < flat_m.size:
            assert flat_s[flat_m].min() >= flat_s[~flat_m].max()


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.95])
def test_layer_selection_is_exact(xp, sparsity):
    masks = select_masks(_scores(xp, ties=True), density=1 - sparsity, scope="layer", seed=2)
    sizes = [300, 100, 10]
    expected = apportion_counts([(1 - sparsity) * n for n in sizes], sizes,
                                keep_count(1 - sparsity, 410))
    np.testing.assert_array_equal(mask_counts(masks), [expected] * 3)
    # each layer within one weight of its real target
    assert all(abs(k - (1 - sparsity) * n) < 1 for k, n in zip(expected, sizes))


def test_density_table(xp):
    masks = select_masks(_scores(xp), densities=[0.1, 0.5, 1.0], seed=0)
    # 30, 50, 10 weights: the real targets are integers
    np.testing.assert_array_equal(mask_counts(masks), [[30, 50, 10]] * 3)


def test_ties_broken_by_seeded_random_key(xp):
    # all scores equal: the kept set is a uniformly random k-subset, fixed by the seed
    flat = [xp.zeros((2000, 1, 10), dtype=xp.float64)]
    a = mask_counts(select_masks(flat, density=0.3, seed=5))
    np.testing.assert_array_equal(a, [[3]] * 2000)
    m1 = np.asarray(to_numpy(select_masks(flat, density=0.3, seed=5)[0]))
    m2 = np.asarray(to_numpy(select_masks(flat, density=0.3, seed=5)[0]))
    m3 = np.asarray(to_numpy(select_masks(flat, density=0.3, seed=6)[0]))
    np.testing.assert_array_equal(m1, m2)
    assert (m1 != m3).any()
    # each position is kept with probability 3/10; 2000 independent networks give a standard
    # error sqrt(0.21/2000) = 0.0102, and 5 standard errors is 0.051
    freq = m1[:, 0, :].mean(axis=0)
    assert np.all(np.abs(freq - 0.3) < 0.051), freq


def test_current_mask_never_revived(xp):
    scores = _scores(xp)
    first = select_masks(scores, density=0.5, seed=0)
    # new scores that prefer the pruned weights: they must stay pruned
    inverted = [-s for s in scores]
    second = select_masks(inverted, density=0.2, seed=0, current=first)
    for a, b in zip(first, second):
        a_np, b_np = np.asarray(to_numpy(a)), np.asarray(to_numpy(b))
        assert not (b_np & ~a_np).any()
    np.testing.assert_array_equal(mask_counts(second).sum(axis=1), [82] * 3)  # 0.2 * 410
    with pytest.raises(ValueError, match="never revives"):
        select_masks(scores, density=0.6, seed=0, current=first)


def test_shuffle_keeps_per_layer_counts(xp):
    masks = select_masks(_scores(xp), density=0.2, seed=0)
    shuffled = shuffle_masks(masks, seed=3)
    np.testing.assert_array_equal(mask_counts(shuffled), mask_counts(masks))
    changed = [bool(np.any(np.asarray(to_numpy(a)) != np.asarray(to_numpy(b))))
               for a, b in zip(masks, shuffled)]
    assert changed[0] and changed[1]  # 300 and 100 entries: a shuffle moves some of them
    again = shuffle_masks(masks, seed=3)
    for a, b in zip(shuffled, again):
        np.testing.assert_array_equal(np.asarray(to_numpy(a)), np.asarray(to_numpy(b)))


def test_shuffle_bad_input():
    with pytest.raises(ValueError, match="masks must be a non-empty list"):
        shuffle_masks([])
    with pytest.raises(ValueError, match="masks\\[0\\] must be a boolean array"):
        shuffle_masks([np.zeros((1, 2, 2))])
    with pytest.raises(ValueError, match="seed must be an integer >= 0 or a numpy.random."
                                         "Generator, got -1"):
        shuffle_masks([np.ones((1, 2, 2), dtype=bool)], seed=-1)
