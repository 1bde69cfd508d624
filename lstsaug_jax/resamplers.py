"""The class-imbalance baselines a reviewer asks for, as methods: a
class-weighted loss (`class_weight`), random oversampling (`ros`) and
aeon's SMOTE and ADASYN (`smote`, `adasyn`; Chawla et al. 2002, He et al.
2008, in aeon's time-series implementations). Each brings every class up to
the largest's size (imbalanced-learn's 'auto'), on the host, once per seed;
class_weight adds no series and weighs each original by n / (C n_c).

aeon is an optional dependency (pyproject's `interop` extra): imported
when one of these runs, with a clear error if it is missing.
"""

import dataclasses

from absl import logging
import numpy as np

from lstsaug_jax.errors import ConfigError


def balanced_class_weights(y, num_classes):
  """n / (C n_c) per series (scikit-learn's class_weight='balanced'): each
  class's weights sum to n / C."""
  counts = np.bincount(y, minlength=num_classes)
  return (len(y) / (np.count_nonzero(counts) * counts[y])).astype(np.float32)


def _aeon_imbalance():
  try:
    from aeon.transformations.collection import imbalance  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConfigError(
        'The methods ros, smote and adasyn run aeon\'s resamplers, and aeon '
        'is not installed: pip install "lstsaug-jax[interop]" (or pip '
        'install aeon).') from None
  return imbalance


@dataclasses.dataclass(frozen=True)
class Resampler:
  """A baseline that balances the classes (not an augmentation of every
  series): host side, one draw per seed."""

  needs_vae = False
  host = True
  num_samples = 1
  traced = ()
  # The strategy setting it takes: the classes up to the largest's size.
  strategies = ('auto',)

  def synthetic_count(self, counts):
    counts = [int(c) for c in counts]
    return sum(max(counts) - c for c in counts)

  def resample(self, x, y, seed):
    """(x_new (m, channels, length), y_new (m,) class indices)."""
    raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class ClassWeight(Resampler):
  """No new series: each original's loss weight is n / (C n_c) (ResNet), or
  the ridge's class_weight='balanced' (MiniRocket)."""

  def synthetic_count(self, counts):
    return 0

  def resample(self, x, y, seed):
    return x[:0], y[:0]


@dataclasses.dataclass(frozen=True)
class RandomOverSampling(Resampler):
  """Copies of randomly chosen series of each smaller class (aeon's
  RandomOverSampler)."""

  def resample(self, x, y, seed):
    sampler = _aeon_imbalance().RandomOverSampler(random_state=seed)
    return _new(sampler, x, y)


@dataclasses.dataclass(frozen=True)
class Smote(Resampler):
  """aeon's SMOTE: a point on the segment between a series and one of its
  n_neighbors nearest of its class (Euclidean). A class with fewer series
  than n_neighbors + 1 uses all it has."""

  n_neighbors: int = 5

  def resample(self, x, y, seed):
    def draw(x, y):
      k = _neighbours(self.n_neighbors, y)
      return _new(_aeon_imbalance().SMOTE(n_neighbors=k, random_state=seed),
                  x, y)
    return _with_single_series_classes(draw, x, y, 'smote')


@dataclasses.dataclass(frozen=True)
class Adasyn(Resampler):
  """aeon's ADASYN: SMOTE with more new series near the series whose
  neighbours are mostly of other classes."""

  n_neighbors: int = 5

  def resample(self, x, y, seed):
    def draw(x, y):
      k = _neighbours(self.n_neighbors, y)
      sampler = _aeon_imbalance().ADASYN(n_neighbors=k, random_state=seed)
      try:
        return _new(sampler, x, y)
      except (RuntimeError, ValueError) as e:
        if not ('Not any neighbours' in str(e)
                or 'No samples will be generated' in str(e)):
          raise
      # No series of a small class has a neighbour of another class (its
      # weights are 0/0), or its rounding leaves nothing to draw: the
      # limit is SMOTE's uniform choice.
      logging.warning('adasyn: its weights are undefined or round to no '
                      'series (the classes are apart); drawing as SMOTE '
                      'does.')
      return Smote(self.n_neighbors).resample(x, y, seed)
    return _with_single_series_classes(draw, x, y, 'adasyn')


def _neighbours(n_neighbors, y):
  counts = np.bincount(y)
  return min(n_neighbors, int(counts[counts > 0].min()) - 1)


def _with_single_series_classes(draw, x, y, name):
  """draw(x, y) on the classes of two series or more; a class of one
  series (nothing to interpolate with: the segment is a point) gets copies
  of it, with a warning. The new series of both, class by class."""
  counts = np.bincount(y)
  single = np.flatnonzero(counts == 1)
  if not len(single):
    return draw(x, y)
  logging.warning('%s: class(es) %s have one training series; their new '
                  'series are copies of it (SMOTE has no neighbour to '
                  'interpolate with).', name, single.tolist())
  rest = ~np.isin(y, single)
  x_new, y_new = draw(x[rest], y[rest]) if len(
      np.unique(y[rest])) > 1 else (x[:0], y[:0])
  copies = [(np.repeat(x[y == c], counts.max() - 1, axis=0),
             np.full(counts.max() - 1, c, np.int32)) for c in single]
  return (np.concatenate([x_new] + [c[0] for c in copies]).astype(np.float32),
          np.concatenate([y_new] + [c[1] for c in copies]).astype(np.int32))


def _new(sampler, x, y):
  if x.shape[1] != 1:
    raise ConfigError(
        f'{type(sampler).__name__} (aeon) takes univariate series; these '
        f'have {x.shape[1]} channels. Use ros or class_weight.')
  x_res, y_res = sampler.fit_transform(x.astype(np.float64), y)
  n = len(x)
  return np.asarray(x_res[n:], np.float32), np.asarray(y_res[n:], np.int32)


METHODS = {'class_weight': ClassWeight, 'ros': RandomOverSampling,
           'smote': Smote, 'adasyn': Adasyn}
