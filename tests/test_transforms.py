"""The classic transforms against hand-computed examples."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstsaug_jax import transforms

KEY = jax.random.PRNGKey(0)


def ramp(n=3, channels=2, length=16):
  return jnp.broadcast_to(jnp.arange(length, dtype=jnp.float32),
                          (n, channels, length))


@pytest.mark.parametrize('name, settings', [
    ('jitter', dict(sigma=0.0)), ('scaling', dict(sigma=0.0)),
    ('magnitude_warp', dict(sigma=0.0)), ('time_warp', dict(sigma=0.0)),
    ('window_slice', dict(reduce_ratio=1.0)),
    ('window_warp', dict(scales=(1.0,))),
])
def test_at_zero_strength_every_transform_is_the_identity(name, settings):
  x = jax.random.normal(KEY, (4, 2, 20))
  out = transforms.TRANSFORMS[name](jax.random.PRNGKey(1), x, **settings)
  np.testing.assert_allclose(out, x, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('name', sorted(transforms.TRANSFORMS))
def test_shapes_keys_and_per_series_draws(name):
  fn = transforms.TRANSFORMS[name]
  x = jnp.tile(jnp.sin(jnp.linspace(0, 6, 40)), (5, 3, 1))
  a, b = fn(KEY, x), fn(KEY, x)
  np.testing.assert_array_equal(a, b)  # the same key, the same series
  assert a.shape == x.shape and np.isfinite(a).all()
  assert not np.allclose(a, fn(jax.random.PRNGKey(9), x))
  assert not np.allclose(a[0], a[1])  # each series its own draw
  assert fn(KEY, x[:, 0]).shape == (5, 40)  # (n, length) in, out


def test_jitter_and_scaling_statistics():
  x = jnp.ones((2000, 1, 50))
  noise = transforms.jitter(KEY, x, sigma=0.03) - x
  assert abs(float(noise.std()) - 0.03) < 0.001
  scaled = transforms.scaling(KEY, jnp.ones((4000, 2, 10)), sigma=0.1)
  # One factor per series and channel, constant along time.
  np.testing.assert_allclose(scaled, scaled[..., :1] * jnp.ones(10), rtol=1e-6)
  assert abs(float(scaled[..., 0].std()) - 0.1) < 0.005
  assert not np.allclose(scaled[:, 0, 0], scaled[:, 1, 0])


def test_spline_basis_interpolates_its_knots():
  # length 16, 4 knots: 6 positions at 0, 3, 6, 9, 12, 15.
  basis = transforms.spline_basis(16, 4)
  np.testing.assert_allclose(basis[[0, 3, 6, 9, 12, 15]], np.eye(6),
                             atol=1e-6)
  np.testing.assert_allclose(basis.sum(axis=1), 1.0, atol=1e-6)
  # A natural cubic spline through linear values is that line.
  np.testing.assert_allclose(basis @ np.arange(0, 16, 3.0),
                             np.arange(16.0), atol=1e-5)


def test_magnitude_warp_is_a_smooth_positive_curve_times_the_series():
  x = jnp.full((200, 1, 30), 2.0)
  out = transforms.magnitude_warp(KEY, x, sigma=0.2, knots=4) / 2.0
  steps = jnp.diff(out, axis=-1)
  # Smooth: second differences far below those of N(1, 0.2^2) noise (~0.5).
  assert float(jnp.abs(jnp.diff(steps, axis=-1)).max()) < 0.2
  assert abs(float(out[..., 0].std()) - 0.2) < 0.03  # knots ~ N(1, 0.2^2)


def test_time_warp_keeps_the_ends_and_the_values_of_a_ramp():
  # A gentle warp is monotonic: the ramp keeps its ends and its range.
  out = transforms.time_warp(KEY, ramp(50, 1, 30), sigma=0.05)
  np.testing.assert_allclose(out[..., 0], 0.0, atol=1e-4)
  np.testing.assert_allclose(out[..., -1], 29.0, atol=1e-3)
  assert not np.allclose(out, ramp(50, 1, 30), atol=0.05)
  assert (np.diff(np.asarray(out), axis=-1) >= -1e-4).all()
  strong = transforms.time_warp(KEY, ramp(50, 1, 30), sigma=0.2)
  assert float(strong.min()) >= 0 and float(strong.max()) <= 29 + 1e-4


def test_window_slice_stretches_a_window_of_the_ramp():
  out = np.asarray(transforms.window_slice(KEY, ramp(20, 1, 21),
                                           reduce_ratio=0.5))
  size = int(np.ceil(0.5 * 21))  # 11 steps, stretched over 21
  for series in out[:, 0]:
    start = series[0]
    assert start == int(start) and 0 <= start <= 21 - size
    np.testing.assert_allclose(series, start + np.linspace(0, size - 1, 21),
                               atol=1e-4)


def test_window_warp_by_hand():
  # length 20, window 10% = 2 steps from a, scale 2: the warped series has
  # 22 points; output step t reads warped position p = t * 21 / 19.
  x = ramp(1, 1, 20)
  out = np.asarray(transforms.window_warp(KEY, x, window_ratio=0.1,
                                          scales=(2.0,)))[0, 0]
  p = np.linspace(0, 21, 20)
  for a in range(1, 18):  # the start the key drew is one of these
    inside = a + (p - a) * (2 - 1) / (4 - 1)
    expected = np.where(p < a, p, np.where(p < a + 4, inside, p - 4 + 2))
    if np.allclose(out, np.clip(expected, 0, 19), atol=1e-4):
      break
  else:
    raise AssertionError(f'no window start gives {out}')
  assert out[0] == 0 and abs(out[-1] - 19) < 1e-4
  assert (np.diff(out) >= -1e-6).all()


def test_mixup_mixes_series_and_labels_with_one_lambda():
  x = jnp.stack([jnp.full((1, 4), 0.0), jnp.full((1, 4), 10.0)] * 50)
  y = jax.nn.one_hot(jnp.arange(100) % 2, 2)
  xm, ym = transforms.mixup(KEY, x, y, alpha=0.2)
  np.testing.assert_allclose(ym.sum(-1), 1.0, rtol=1e-6)
  # Series i's value is 10 * (its weight on class 1): one lambda for both.
  np.testing.assert_allclose(xm[:, 0, 0], 10 * ym[:, 1], rtol=1e-5,
                             atol=1e-5)
  lam = np.maximum(ym[:, 0], ym[:, 1])
  assert (lam >= 0.5 - 1e-6).all() and (lam < 1 - 1e-3).any()
