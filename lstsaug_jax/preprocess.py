"""Cleaning raw splits by policy: missing values, unequal lengths, labels
mapped to 0..C-1, constant series, the validation split, normalisation.
Pure functions of arrays; data.prepare puts them together."""

import decimal

from absl import logging
import numpy as np

from lstsaug_jax.errors import DataError


def _interpolate(channel):
  valid = np.flatnonzero(~np.isnan(channel))
  return np.interp(np.arange(channel.size), valid, channel[valid])


def fill_missing(split, policy):
  """Interpolates NaN gaps; returns (series list, each (channels, length)
  trimmed of trailing NaN padding, number of series with interior gaps)."""
  series, interpolated = [], 0
  nan_rows = np.isnan(split.values).any(axis=(1, 2))
  for i, row in enumerate(split.values):
    if not nan_rows[i]:
      trimmed = row
    else:
      present = ~np.isnan(row)
      steps = np.flatnonzero(present.any(axis=0))
      if steps.size == 0:
        raise DataError(f'{split.where(i)}: the series has no values (all '
                        'NaN). Remove it.')
      trimmed = row[:, :steps[-1] + 1]
    if trimmed.shape[-1] < 2:
      raise DataError(
          f'{split.where(i)}: the series has {trimmed.shape[-1]} value; a '
          'series needs at least 2 (it cannot be normalised or convolved). '
          'Remove it, or check the file\'s layout (label first, then the '
          'values).')
    if nan_rows[i] and np.isnan(trimmed).any():  # a gap
      empty = np.flatnonzero(np.isnan(trimmed).all(axis=1))
      if empty.size:
        raise DataError(f'{split.where(i)}: channel {empty[0]} has no values '
                        '(all NaN). Remove the series or fill that channel.')
      if policy == 'error':
        raise DataError(
            f'{split.where(i)}: missing values (NaN) inside the series. Set '
            '--config.missing_values=interpolate to fill them linearly, or '
            'fix the file.')
      trimmed = np.stack([_interpolate(c) for c in trimmed])
      interpolated += 1
    series.append(trimmed)
  return series, interpolated


def resample(series, length):
  """(channels, n) -> (channels, length), linearly."""
  if series.shape[-1] == length:
    return series
  points = np.linspace(0, series.shape[-1] - 1, length)
  return np.stack([np.interp(points, np.arange(series.shape[-1]), c)
                   for c in series])


def to_common_length(series_by_split, splits, policy):
  """Stacks each split at the training set's longest length."""
  length = max(s.shape[-1] for s in series_by_split[0])
  out, counts = [], []
  for series, split in zip(series_by_split, splits):
    short = [i for i, s in enumerate(series) if s.shape[-1] != length]
    if short and policy == 'error':
      i = short[0]
      raise DataError(
          f'{split.where(i)}: the series has {series[i].shape[-1]} values, '
          f'others {length} (variable-length series). Set '
          '--config.variable_length=resample to resample every series to '
          f'{length} values.')
    out.append(np.stack([resample(s, length) for s in series]))
    counts.append(len(short))
  return out, counts


def _number(label):
  """The label as an exact decimal number, or None if it is not one."""
  try:
    value = decimal.Decimal(label)
  except decimal.InvalidOperation:
    return None
  return value if value.is_finite() else None


def canonical_labels(labels):
  """Numeric labels as numbers ('1.0000000e+00' and '1' are one class),
  compared exactly: labels are read as text, so 17-digit integers stay
  distinct."""
  numbers = [_number(l) for l in labels]
  if any(n is None for n in numbers):
    return labels
  return np.array([str(int(n)) if n == n.to_integral_value()
                   else str(n.normalize()) for n in numbers])


def index_labels(train_labels, test_labels, train_path, test_path):
  """Maps labels to 0..C-1 from the training set; numeric ones sort as numbers."""
  train_labels = canonical_labels(np.asarray(train_labels))
  test_labels = canonical_labels(np.asarray(test_labels))
  names = sorted(set(train_labels.tolist()))
  if all(_number(n) is not None for n in names):
    names = sorted(names, key=decimal.Decimal)
  if len(names) < 2:
    raise DataError(f'{train_path} has one class only ({names[0]!r}); '
                    'classification needs at least two.')
  unseen = sorted(set(test_labels.tolist()) - set(names))
  if unseen:
    raise DataError(
        f'{test_path} has labels never seen in training: {unseen[:10]}. A '
        'classifier cannot predict them; check that TRAIN and TEST belong to '
        'the same dataset.')
  index = {name: i for i, name in enumerate(names)}
  y_train = np.array([index[l] for l in train_labels], np.int32)
  y_test = np.array([index[l] for l in test_labels], np.int32)
  return y_train, y_test, tuple(names)


def _standardise(x, axes, reference=None, eps=1e-8):
  """(x - mean) / std with mean and std over `axes` of `reference` (x
  itself by default), in float64 after dividing by the largest magnitude,
  so values near the float limits (1e30, 1e300) normalise as small ones
  do; a constant slice becomes zeros."""
  x = np.asarray(x, np.float64)
  reference = x if reference is None else np.asarray(reference, np.float64)
  scale = np.max(np.abs(reference), axis=axes, keepdims=True)
  scale = np.where(scale > 0, scale, 1.0)
  mean = (reference / scale).mean(axis=axes, keepdims=True)
  std = (reference / scale).std(axis=axes, keepdims=True)
  return ((x / scale - mean) / np.maximum(std, eps)).astype(np.float32)


def znormalise(x):
  """Each channel of each series to mean 0 and standard deviation 1."""
  return _standardise(x, axes=-1)


def normalise_channels(x, reference):
  """Each channel shifted and scaled by its mean and standard deviation
  over every series and time step of `reference` (the training set)."""
  return _standardise(x, axes=(0, 2), reference=reference)


def to_float32(x, split):
  """x as float32; values beyond float32's range are an error."""
  too_large = np.argwhere(np.abs(x) > np.finfo(np.float32).max)
  if len(too_large):
    i, c, j = too_large[0]
    raise DataError(
        f'{split.where(i)}: {x[i, c, j]:g} is beyond the float32 range the '
        'models compute in. Set --config.normalisation=series (the default) '
        'or channel, or '
        'rescale the data.')
  return x.astype(np.float32)


def constant_series(x):
  """Indices of the series (n, channels, length) whose every channel is
  constant."""
  x = np.asarray(x)
  return np.flatnonzero((x.max(axis=-1) == x.min(axis=-1)).all(axis=-1))


def check_not_constant(x, what, training=True):
  """A DataError if every series of a training set x is constant (nothing
  to learn, and z-normalised they are all zeros); a logged warning naming
  how many if some are (or, for an evaluation set, all). Returns their
  number."""
  constant = constant_series(x)
  if training and len(constant) == len(x):
    raise DataError(
        f'{what}: all {len(x)} series are constant (each channel a single '
        'value), so there is nothing to learn: z-normalised they would all '
        'be zeros, and no model fitted to them could be judged. Check that '
        'the right columns were read as values.')
  if len(constant):
    logging.warning(
        '%s: %d of %d series are constant (the first is number %d); '
        'z-normalisation (normalisation=series) makes them all zeros.', what,
        len(constant), len(x), constant[0])
  return len(constant)


def validation_indices(y, num_classes, fraction, seed):
  """(kept, held out) indices of a stratified split of labels y: a
  `fraction` of each class (at least one series of each class that has
  two or more, rounded half up) is held out."""
  if not 0.0 < fraction < 1.0:
    raise DataError(f'validation_fraction={fraction} must be in (0, 1), or '
                    '0 to evaluate on the test set.')
  rng = np.random.RandomState(seed)
  held_out = []
  for c in range(num_classes):
    members = rng.permutation(np.flatnonzero(y == c))
    if len(members) >= 2:
      size = int(np.floor(fraction * len(members) + 0.5))  # half up
      held_out.extend(members[:min(len(members) - 1, max(1, size))])
  if not held_out:
    raise DataError('No class has two training series, so no validation '
                    'split can be held out.')
  held_out = np.sort(np.array(held_out))
  return np.setdiff1d(np.arange(len(y)), held_out), held_out


def subsample_indices(y, num_classes, imbalance_ratio, shots, seed):
  """(kept indices, what was done) of a smaller training set, seeded.

  imbalance_ratio > 1: a random half of the classes (at least one; the
  others untouched) is cut to max(2, round(largest class / ratio)) series,
  so the largest over the smallest class is about `ratio` (a class already
  smaller keeps all it has). shots > 0: `shots` series of each class (all
  of a smaller class). The series kept are a seeded random choice.
  """
  rng = np.random.RandomState(seed)
  counts = np.bincount(y, minlength=num_classes)
  if shots:
    target = np.minimum(counts, shots)
    what = dict(shots=int(shots))
  else:
    cut = rng.permutation(num_classes)[:max(1, num_classes // 2)]
    target = counts.copy()
    target[cut] = np.minimum(counts[cut], max(
        2, int(np.floor(counts.max() / imbalance_ratio + 0.5))))
    what = dict(imbalance_ratio=float(imbalance_ratio),
                reduced_classes=sorted(int(c) for c in cut))
  keep = np.sort(np.concatenate([
      rng.permutation(np.flatnonzero(y == c))[:target[c]]
      for c in range(num_classes)]))
  return keep, dict(what, seed=int(seed), class_counts=target.tolist(),
                    of=counts.tolist())


def evaluation_note(held_out, total, fraction, seed):
  return (f'validation: {held_out} of {total} training series held out '
          f'(fraction {fraction}, seed {seed}); test set not used')
