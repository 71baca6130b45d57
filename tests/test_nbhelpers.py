"""nbhelpers, the notebooks' shared plumbing, each checked against an independent reference.

The Gaussian-mixture log-density and score are what the diffusion and flow
notebooks grade their models against, so they are held to autograd, to SciPy
and to a numerical integral; seeding and device choice to the libraries' own
generators and to KB_DEVICE.
"""
from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from nbhelpers import pick_device, seed_everything
from nbhelpers.data import (
    digits, gaussian_mixture_params, gmm_noised_log_prob, gmm_noised_score, sample_gaussian_mixture, two_moons,
)
from nbhelpers.plot import density_grid

MEANS, STD, WEIGHTS = gaussian_mixture_params()  # 8 means on a circle of radius 4, std 0.5
SKEWED = np.array([0.3, 0.05, 0.2, 0.05, 0.15, 0.05, 0.1, 0.1])
# Near the modes, between them, at the centre, and far out, where every
# component's density underflows float64 and only a log-space formula survives.
POINTS = np.array([[0.0, 0.0], [4.0, 0.0], [2.9, 2.7], [-1.3, 3.1], [0.4, -5.2], [6.0, 6.0],
                   [40.0, -30.0], [-200.0, 150.0], [1e3, 0.0], [-7e2, -7e2]])
NOISE = [(1.0, 0.0), (0.6, 0.8), (0.05, 1.0), (1.3, 0.2)]  # (a, b): x = a * x0 + b * eps


def scipy_log_prob(x, means, std, weights, a, b):
    """log sum_k w_k N(x; a mu_k, (a^2 std^2 + b^2) I), from SciPy's Gaussian."""
    var = a ** 2 * std ** 2 + b ** 2
    comp = np.stack([multivariate_normal(mean=a * np.asarray(m, np.float64), cov=var * np.eye(2)).logpdf(x)
                     for m in means], -1)
    return logsumexp(comp + np.log(weights), axis=-1)


# ----------------------------------------------------------- mixture
def test_mixture_parameters_put_equal_weights_on_a_circle():
    means, std, weights = gaussian_mixture_params(k=6, radius=3.0, std=0.25)
    assert means.shape == (6, 2) and means.dtype == np.float32 and std == np.float32(0.25)
    assert np.allclose(np.linalg.norm(means, axis=1), 3.0, atol=1e-6)
    angles = np.sort(np.mod(np.arctan2(means[:, 1], means[:, 0]), 2 * math.pi))
    assert np.allclose(np.diff(angles), 2 * math.pi / 6, atol=1e-6)
    assert np.allclose(weights, 1 / 6) and weights.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("weights", [None, SKEWED], ids=["equal", "skewed"])
@pytest.mark.parametrize("a,b", NOISE)
def test_log_density_equals_scipy_mixture_of_gaussians(weights, a, b):
    w = np.full(8, 1 / 8) if weights is None else weights
    ours = gmm_noised_log_prob(torch.tensor(POINTS), MEANS, STD, weights, a, b).numpy()
    theirs = scipy_log_prob(POINTS, MEANS, float(STD), w, a, b)
    assert np.isfinite(ours).all()
    assert ours == pytest.approx(theirs, rel=1e-10, abs=1e-9)


@pytest.mark.parametrize("weights", [None, SKEWED], ids=["equal", "skewed"])
@pytest.mark.parametrize("a,b", NOISE)
def test_score_equals_the_autograd_gradient_of_the_log_density(weights, a, b):
    x = torch.tensor(POINTS, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(gmm_noised_log_prob(x, MEANS, STD, weights, a, b).sum(), x)
    score = gmm_noised_score(x.detach(), MEANS, STD, weights, a, b)
    assert score.dtype == torch.float64 and torch.isfinite(score).all()
    torch.testing.assert_close(score, grad, rtol=1e-10, atol=1e-10)


def test_far_from_every_mode_the_score_points_back_at_the_nearest_one():
    a, b = 0.6, 0.8
    var = a ** 2 * float(STD) ** 2 + b ** 2
    far = POINTS[6:]
    nearest = a * MEANS[np.argmin(((far[:, None, :] - a * MEANS[None].astype(np.float64)) ** 2).sum(-1), 1)]
    score = gmm_noised_score(torch.tensor(far), MEANS, STD, None, a, b).numpy()
    assert score == pytest.approx(-(far - nearest) / var, rel=1e-6)


def test_the_uniform_circle_mixture_has_zero_score_at_its_centre():
    assert torch.allclose(gmm_noised_score(torch.zeros(1, 2, dtype=torch.float64), MEANS, STD),
                          torch.zeros(1, 2, dtype=torch.float64), atol=1e-12)


def test_per_row_noise_levels_equal_one_call_per_row():
    x = torch.tensor(POINTS[:6])
    a = torch.tensor([1.0, 0.9, 0.7, 0.5, 0.3, 0.1], dtype=torch.float64)
    b = torch.sqrt(1 - a ** 2) + 0.01
    for a_, b_ in ((a, b), (a[:, None], b[:, None]), (a, b[:, None])):
        lp = gmm_noised_log_prob(x, MEANS, STD, SKEWED, a_, b_)
        sc = gmm_noised_score(x, MEANS, STD, SKEWED, a_, b_)
        assert lp.shape == (6,) and sc.shape == (6, 2)
        for i in range(6):
            ai, bi = float(a[i]), float(b[i])
            assert lp[i].item() == pytest.approx(gmm_noised_log_prob(x[i:i + 1], MEANS, STD, SKEWED, ai, bi).item(),
                                                 rel=1e-12)
            torch.testing.assert_close(sc[i:i + 1], gmm_noised_score(x[i:i + 1], MEANS, STD, SKEWED, ai, bi))


@pytest.mark.parametrize("a,b", [(1.0, 0.0), (0.6, 0.8)])
def test_the_density_integrates_to_one_on_a_grid(a, b):
    # Midpoint sums of a smooth, fast-decaying density converge far faster than h^2.
    lim, n = 9.0, 361
    h = 2 * lim / n
    xs = -lim + h * (np.arange(n) + 0.5)
    xx, yy = np.meshgrid(xs, xs)
    pts = torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1))
    for weights in (None, SKEWED):
        mass = torch.exp(gmm_noised_log_prob(pts, MEANS, STD, weights, a, b)).sum().item() * h * h
        assert mass == pytest.approx(1.0, abs=1e-6)


def test_density_grid_is_laid_out_like_meshgrid():
    # One Gaussian at (2, -1): its peak must be at column x = 2, row y = -1.
    mean = np.array([[2.0, -1.0]], np.float32)
    xx, yy, p = density_grid(lambda pts: gmm_noised_log_prob(torch.as_tensor(pts), mean, 0.5), lim=4.0, n=81)
    r, c = np.unravel_index(np.argmax(p), p.shape)
    assert (xx[r, c], yy[r, c]) == pytest.approx((2.0, -1.0), abs=1e-6)
    assert p.sum() * (8 / 80) ** 2 == pytest.approx(1.0, abs=1e-3)


def test_samples_follow_the_mixture_weights_and_spread():
    x = sample_gaussian_mixture(40000, MEANS, float(STD), SKEWED, seed=3)
    assert x.shape == (40000, 2) and x.dtype == np.float32
    nearest = np.argmin(((x[:, None, :] - MEANS[None]) ** 2).sum(-1), 1)  # modes are 6 std apart
    freq = np.bincount(nearest, minlength=8) / len(x)
    assert freq == pytest.approx(SKEWED, abs=0.01)
    own = x - MEANS[nearest]
    assert own.std(0) == pytest.approx([STD, STD], rel=0.03)
    assert np.abs(own.mean(0)).max() < 0.02
    assert np.array_equal(x, sample_gaussian_mixture(40000, MEANS, float(STD), SKEWED, seed=3))
    assert not np.array_equal(x[:100], sample_gaussian_mixture(100, MEANS, float(STD), SKEWED, seed=4))


# ------------------------------------------------------------ datasets
def test_two_moons_is_sklearns_standardised():
    from sklearn.datasets import make_moons

    raw = two_moons(n=500, noise=0.1, seed=2, standardize=False)
    ref, _ = make_moons(n_samples=500, noise=0.1, random_state=2)
    assert raw.dtype == np.float32 and np.allclose(raw, ref, atol=1e-6)
    z = two_moons(n=500, noise=0.1, seed=2)
    assert np.allclose(z.mean(0), 0, atol=1e-5) and np.allclose(z.std(0), 1, atol=1e-5)
    assert np.allclose(z, (raw - raw.mean(0)) / raw.std(0), atol=1e-5)


def test_digits_are_sklearns_images_with_their_own_labels_shuffled():
    from sklearn.datasets import load_digits

    ref = load_digits()
    x, y = digits(seed=1)
    assert x.shape == (1797, 64) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    pairs = Counter((row.tobytes(), int(label)) for row, label in zip(x, y))
    want = Counter(((row / 16.0).astype(np.float32).tobytes(), int(label)) for row, label in zip(ref.data, ref.target))
    assert pairs == want  # the same image-label pairs: shuffled together
    assert not np.array_equal(y, ref.target)
    x2, y2 = digits(seed=1)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    xb, _ = digits(binarize=True, seed=1)
    assert set(np.unique(xb)) == {0.0, 1.0} and np.array_equal(xb, (x > 0.5).astype(np.float32))


# ------------------------------------------------------- seeds, devices
@pytest.fixture
def restore_rngs():
    state = random.getstate(), np.random.get_state(), torch.random.get_rng_state()
    yield
    random.setstate(state[0])
    np.random.set_state(state[1])
    torch.random.set_rng_state(state[2])


def draws():
    return random.random(), np.random.rand(4), torch.rand(4)


def test_seed_everything_seeds_python_numpy_and_torch(restore_rngs):
    seed_everything(7)
    py, npy, th = draws()
    assert py == random.Random(7).random()
    assert np.array_equal(npy, np.random.RandomState(7).rand(4))
    assert torch.equal(th, torch.rand(4, generator=torch.Generator().manual_seed(7)))
    seed_everything(7)
    again = draws()
    assert again[0] == py and np.array_equal(again[1], npy) and torch.equal(again[2], th)
    seed_everything(8)
    other = draws()
    assert other[0] != py and not np.array_equal(other[1], npy) and not torch.equal(other[2], th)


@pytest.mark.parametrize("cuda", [True, False])
def test_kb_device_cpu_forces_the_cpu_even_with_a_gpu(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setenv("KB_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")


def test_pick_device_takes_the_gpu_when_there_is_one_and_nothing_is_forced(monkeypatch):
    monkeypatch.delenv("KB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    monkeypatch.setenv("KB_DEVICE", "")  # set but empty: the automatic choice
    assert pick_device() == torch.device("cpu")


def test_an_explicit_device_wins_over_kb_device(monkeypatch):
    monkeypatch.setenv("KB_DEVICE", "cuda")
    assert pick_device("cpu") == torch.device("cpu")


def test_time_mlp_takes_t_as_a_vector_or_a_column():
    from nbhelpers.nets import time_mlp

    torch.manual_seed(0)
    net = time_mlp(dim=2, hidden=16, depth=2, n_freq=3)
    x, t = torch.randn(5, 2), torch.linspace(0, 1, 5)
    out = net(x, t)
    assert out.shape == (5, 2)
    torch.testing.assert_close(out, net(x, t[:, None]))
    assert not torch.allclose(net(x, t), net(x, torch.zeros(5)))  # t is really an input
