"""Cylinder-Bell-Funnel (Saito, 1994): a dataset that needs no files.

For t = 1..128, with a ~ U{16..32}, b - a ~ U{32..96}, eta, eps(t) ~ N(0, 1)
and chi the indicator of [a, b]:
  cylinder: (6 + eta) chi(t)                     + eps(t)
  bell:     (6 + eta) chi(t) (t - a) / (b - a)   + eps(t)
  funnel:   (6 + eta) chi(t) (b - t) / (b - a)   + eps(t)
"""

import numpy as np

CBF_CLASSES = ('cylinder', 'bell', 'funnel')
CBF_LENGTH = 128


def cbf(n, rng):
  """n series, classes balanced (cycled), from a numpy Generator."""
  labels = np.arange(n) % 3
  t = np.arange(1, CBF_LENGTH + 1)[None, :]
  a = rng.integers(16, 33, size=(n, 1))
  b = a + rng.integers(32, 97, size=(n, 1))
  eta = rng.standard_normal((n, 1))
  eps = rng.standard_normal((n, CBF_LENGTH))
  chi = ((t >= a) & (t <= b)).astype(np.float64)
  shape = np.select(
      [labels[:, None] == 0, labels[:, None] == 1],
      [np.ones_like(chi), (t - a) / (b - a)], (b - t) / (b - a))
  x = (6 + eta) * chi * shape + eps
  return x.astype(np.float32), labels.astype(np.int32)


def make_cbf(train_size, test_size, seed):
  """(x_train, y_train, x_test, y_test); the same seed, the same data."""
  rng = np.random.default_rng(seed)
  x_train, y_train = cbf(train_size, rng)
  x_test, y_test = cbf(test_size, rng)
  return x_train, y_train, x_test, y_test
