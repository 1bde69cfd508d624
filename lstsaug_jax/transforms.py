"""Classic time-series augmentations as pure JAX functions of (key, x).

x is a batch of series, (n, channels, length) (or (n, length) for one
channel); each series gets its own random draw from `key`. Everything is
jittable and vmapped over series: no Python loop over series. Defaults are
the usual settings of the literature, as collected by Iwana and Uchida
(2021), "An empirical survey of data augmentation for time series
classification with neural networks", PLOS ONE 16(7): e0254841:

- jitter: add N(0, 0.03^2) noise;
- scaling: multiply each channel by one N(1, 0.1^2) factor;
- magnitude_warp: multiply by a smooth curve, a cubic spline through 4 + 2
  evenly spaced knots drawn from N(1, 0.2^2);
- time_warp: resample along a smooth time warp, the same spline of knots
  t_k * N(1, 0.2^2), rescaled to end at the last step;
- window_slice: a random window of 90% of the length, stretched back;
- window_warp: a random window of 10% of the length sped up or slowed down
  (scale 0.5 or 2, drawn per series), the whole resampled to the length;
- mixup (Zhang et al. 2018): a convex combination of two series and of
  their one-hot (or soft) labels, lambda ~ Beta(0.2, 0.2).

Warps interpolate linearly between time steps (as numpy.interp does in
Iwana and Uchida's code).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np


def _batched(fn):
  """fn(key, series (channels, length), **settings) -> a function of a
  batch, (n, channels, length) or (n, length), one key per series."""
  @functools.wraps(fn)
  def batch(key, x, **settings):
    x = jnp.asarray(x)
    one_channel = x.ndim == 2
    if one_channel:
      x = x[:, None, :]
    if x.ndim != 3:
      raise ValueError(f'{fn.__name__}: x must be (n, length) or (n, '
                       f'channels, length); got shape {x.shape}.')
    keys = jax.random.split(key, x.shape[0])
    out = jax.vmap(lambda k, s: fn(k, s, **settings))(keys, x)
    return out[:, 0] if one_channel else out
  return batch


@functools.lru_cache(maxsize=64)
def spline_basis(length, num_knots):
  """(length, num_knots + 2) matrix B: a natural cubic spline through
  values v at num_knots + 2 evenly spaced positions over [0, length - 1],
  evaluated at every step, is B @ v (a spline is linear in its values)."""
  from scipy import interpolate  # pylint: disable=g-import-not-at-top
  positions = np.linspace(0.0, length - 1.0, num_knots + 2)
  identity = np.eye(num_knots + 2)
  spline = interpolate.CubicSpline(positions, identity, axis=0,
                                   bc_type='natural')
  return np.asarray(spline(np.arange(length)), np.float32)


@_batched
def jitter(key, x, sigma=0.03):
  return x + sigma * jax.random.normal(key, x.shape, x.dtype)


@_batched
def scaling(key, x, sigma=0.1):
  factors = 1.0 + sigma * jax.random.normal(key, (x.shape[0], 1), x.dtype)
  return x * factors


@_batched
def magnitude_warp(key, x, sigma=0.2, knots=4):
  basis = jnp.asarray(spline_basis(x.shape[-1], knots))
  values = 1.0 + sigma * jax.random.normal(key, (x.shape[0], knots + 2),
                                           x.dtype)
  return x * (values @ basis.T)


def _resample_at(series, positions):
  """series (length,) read at fractional positions, linearly."""
  return jnp.interp(positions, jnp.arange(series.shape[-1],
                                          dtype=positions.dtype), series)


@_batched
def time_warp(key, x, sigma=0.2, knots=4):
  length = x.shape[-1]
  basis = jnp.asarray(spline_basis(length, knots))
  knot_steps = jnp.linspace(0.0, length - 1.0, knots + 2)
  factors = 1.0 + sigma * jax.random.normal(key, (x.shape[0], knots + 2),
                                            x.dtype)
  warp = (knot_steps * factors) @ basis.T  # (channels, length)
  warp = jnp.clip(warp * (length - 1.0) / warp[:, -1:], 0.0, length - 1.0)
  steps = jnp.arange(length, dtype=x.dtype)
  # As numpy.interp(steps, warp, series): the series sits at the warped
  # times, read back at the original ones.
  return jax.vmap(lambda w, s: jnp.interp(steps, w, s))(warp, x)


@_batched
def window_slice(key, x, reduce_ratio=0.9):
  length = x.shape[-1]
  size = int(np.ceil(reduce_ratio * length))
  if size >= length:
    return x
  start = jax.random.randint(key, (), 0, length - size + 1)
  positions = start + jnp.linspace(0.0, size - 1.0, length)
  return jax.vmap(lambda s: _resample_at(s, positions))(x)


@_batched
def window_warp(key, x, window_ratio=0.1, scales=(0.5, 2.0)):
  """The window [a, a + w) is stretched to w * scale steps; the warped
  series (length M = L - w + w * scale) is resampled to L steps."""
  length = x.shape[-1]
  w = int(np.ceil(window_ratio * length))
  scale_key, start_key = jax.random.split(key)
  scale = jax.random.choice(scale_key, jnp.asarray(scales, x.dtype))
  start = jax.random.randint(start_key, (), 1, max(2, length - w - 1))
  stretched = w * scale
  total = length - w + stretched
  # Each output step's position in the warped series, then in the original.
  p = jnp.linspace(0.0, total - 1.0, length)
  inside = (p - start) * (w - 1.0) / jnp.maximum(stretched - 1.0, 1e-6)
  original = jnp.where(p < start, p,
                       jnp.where(p < start + stretched, start + inside,
                                 p - stretched + w))
  original = jnp.clip(original, 0.0, length - 1.0)
  return jax.vmap(lambda s: _resample_at(s, original))(x)


def mixup(key, x, y, alpha=0.2):
  """Each series mixed with another of the batch (a random pairing):
  lambda x_i + (1 - lambda) x_j and the same of the labels y, (n, classes)
  probabilities (one-hot for hard labels), lambda ~ Beta(alpha, alpha) per
  series."""
  x, y = jnp.asarray(x), jnp.asarray(y)
  perm_key, beta_key = jax.random.split(key)
  partner = jax.random.permutation(perm_key, x.shape[0])
  lam = jax.random.beta(beta_key, alpha, alpha, (x.shape[0],), x.dtype)
  lam_x = lam.reshape((-1,) + (1,) * (x.ndim - 1))
  return (lam_x * x + (1 - lam_x) * x[partner],
          lam[:, None] * y + (1 - lam[:, None]) * y[partner])


# Transforms of (key, x) by name, with the settings each takes.
TRANSFORMS = {
    'jitter': jitter, 'scaling': scaling, 'magnitude_warp': magnitude_warp,
    'time_warp': time_warp, 'window_slice': window_slice,
    'window_warp': window_warp,
}
