"""Datasets by name: the UCR archive (local or downloaded), a user's own
files, or a built-in generator; missing values and unequal lengths handled
by policy; labels mapped to 0..C-1.

Inspect one: `python -m lstsaug_jax.data --data_dir=DIR --dataset=NAME`.
"""

import dataclasses
import decimal
import difflib
import hashlib
import json
import os
import re
import sys
import urllib.error

from absl import logging
import numpy as np

from lstsaug_jax import download as download_lib
from lstsaug_jax import formats
from lstsaug_jax import limits
from lstsaug_jax import synthetic
from lstsaug_jax.errors import DataError

SPLIT_FORMATS = ('.tsv', '.ts', '.txt', '.csv')
DATASET_NAME = re.compile(r'^[A-Za-z0-9_\-]+$')
SYNTHETIC_PREFIX = 'synthetic:'


def file_name(name):
  """A dataset name as a file or folder name ('synthetic:cbf' ->
  'synthetic_cbf')."""
  return name.replace(':', '_').replace('/', '_')


def _names(file):
  with open(os.path.join(os.path.dirname(__file__), file)) as f:
    return tuple(line.strip() for line in f if line.strip())


def archive_names():
  """The 128 univariate UCR and 30 multivariate UEA archive datasets."""
  return univariate_names() + multivariate_names()


def univariate_names():
  return _names('ucr_univariate_names.txt')


def multivariate_names():
  return _names('uea_multivariate_names.txt')


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A train/test split. Labels are 0..C-1, mapped from `class_names`."""

  name: str
  x_train: np.ndarray  # float32 (n_train, channels, length)
  y_train: np.ndarray  # int32 (n_train,)
  x_test: np.ndarray
  y_test: np.ndarray
  class_names: tuple  # the original label of each class index
  # What was done to the data: source, normalisation, and per split the
  # number of series interpolated and resampled.
  provenance: dict = dataclasses.field(default_factory=dict)

  @property
  def num_classes(self):
    return len(self.class_names)

  @property
  def series_length(self):
    return self.x_train.shape[-1]

  @property
  def num_channels(self):
    return self.x_train.shape[1]

  @property
  def fingerprint(self):
    """A digest of the training series, labels and class names: what a
    model trained on this split has seen."""
    h = hashlib.sha256()
    for a in (self.x_train, self.y_train):
      h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps(list(self.class_names)).encode())
    return h.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Options:
  """How to find and clean a dataset (the data fields of the config)."""

  normalisation: str = 'series'  # 'series', 'channel' or 'none'
  missing_values: str = 'interpolate'  # or 'error'
  variable_length: str = 'resample'  # or 'error'
  download: bool = False
  download_url: str = download_lib.DEFAULT_URL
  download_timeout: float = 60.0
  synthetic_train_size: int = 30
  synthetic_test_size: int = 900
  synthetic_seed: int = 0
  # > 0: evaluate on a stratified held-out part of the training set instead
  # of the test set (for tuning; see validation_indices).
  validation_fraction: float = 0.0
  validation_seed: int = 0
  progress: bool = True


def options_from_config(config):
  return Options(**{f.name: getattr(config, f.name)
                    for f in dataclasses.fields(Options)})


# --- Finding files -----------------------------------------------------------


def candidate_paths(data_dir, name):
  """Every (train, test) pair or .npz file we look for, in order."""
  pairs = []
  for root, formats_there in (
      (os.path.join(data_dir, 'UCRArchive_2018', name), SPLIT_FORMATS),
      (os.path.join(data_dir, 'Multivariate_ts', name), ('.ts',)),
      (os.path.join(data_dir, name), SPLIT_FORMATS)):
    for ext in formats_there:
      pairs.append((os.path.join(root, f'{name}_TRAIN{ext}'),
                    os.path.join(root, f'{name}_TEST{ext}')))
  npz = [os.path.join(data_dir, f'{name}.npz'),
         os.path.join(data_dir, name, f'{name}.npz')]
  return pairs, npz


def _check_pair(train_path, test_path):
  for p, other in ((train_path, test_path), (test_path, train_path)):
    if os.path.isdir(p):
      raise DataError(f'{p} is a directory, but the split must be a file '
                      f'(beside {os.path.basename(other)}). Remove or rename '
                      'that directory and put the file there.')
    if not os.path.isfile(p):
      raise DataError(f'{p} is missing, though {other} is there: both splits '
                      'are needed.')


def read_local(data_dir, name):
  """(train RawSplit, test RawSplit, source paths) or None if nothing is
  there."""
  pairs, npz = candidate_paths(data_dir, name)
  for train_path, test_path in pairs:
    if os.path.lexists(train_path) or os.path.lexists(test_path):
      _check_pair(train_path, test_path)
      return (formats.read_split(train_path), formats.read_split(test_path),
              (train_path, test_path))
  for path in npz:
    if os.path.lexists(path):
      train, test = formats.read_npz(path)
      return train, test, (path, path)
  return None


def not_found_error(data_dir, name, options, reason):
  pairs, npz = candidate_paths(data_dir, name)
  looked = [p for pair in pairs for p in pair[:1]] + npz
  names = archive_names()
  if name in names:
    url = f'{options.download_url.rstrip("/")}/{name}.zip'
    how = (f'{reason} URL tried: {url}.' if options.download else
           'Downloads are off (config.download=False).')
    if name in multivariate_names():
      how += (f' To place the files by hand, download {url} (or the UEA '
              f'multivariate archive) and put {name}_TRAIN.ts and '
              f'{name}_TEST.ts in '
              f'{os.path.join(data_dir, "Multivariate_ts", name)}.')
    else:
      how += (f' To place the files by hand, download {url} (or the UCR '
              f'2018 archive) and put {name}_TRAIN.tsv and {name}_TEST.tsv '
              f'in {os.path.join(data_dir, "UCRArchive_2018", name)}.')
  else:
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    how = (f'{name!r} is not one of the archives\' 128 univariate or 30 '
           'multivariate datasets'
           + (f' (closest: {", ".join(close)})' if close else '')
           + '; for your own data see README "Your own data".')
  return DataError(
      f'Dataset {name!r} not found under {os.path.abspath(data_dir)}. '
      f'Looked for {", ".join(looked)} (and the _TEST files beside them). '
      + how)


# --- Cleaning ----------------------------------------------------------------


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


def prepare(name, train, test, options):
  """Raw train and test RawSplits -> a clean Dataset."""
  for split in (train, test):
    if split.values.shape[0] == 0:
      raise DataError(f'{split.path} holds no series.')
  filled, interpolated = zip(*(fill_missing(s, options.missing_values)
                               for s in (train, test)))
  (x_train, x_test), resampled = to_common_length(
      filled, (train, test), options.variable_length)
  y_train, y_test, class_names = index_labels(train.labels, test.labels,
                                              train.path, test.path)
  constant = dict(train=check_not_constant(x_train, train.path),
                  test=check_not_constant(x_test, test.path, training=False))
  evaluation = {}
  if options.validation_fraction:
    # Split before normalising: statistics of the training set (channel
    # normalisation) never include the held-out series.
    keep, held_out = validation_indices(y_train, len(class_names),
                                        options.validation_fraction,
                                        options.validation_seed)
    evaluation = dict(evaluation=_evaluation(
        len(held_out), len(y_train), options.validation_fraction,
        options.validation_seed))
    x_test, y_test = x_train[held_out], y_train[held_out]
    x_train, y_train = x_train[keep], y_train[keep]
  if options.normalisation == 'series':
    x_train, x_test = znormalise(x_train), znormalise(x_test)
  elif options.normalisation == 'channel':
    x_train, x_test = (normalise_channels(x_train, x_train),
                       normalise_channels(x_test, x_train))
  else:
    x_train, x_test = to_float32(x_train, train), to_float32(x_test, test)
  provenance = dict(
      source=train.path if train.path == test.path else [train.path,
                                                          test.path],
      normalisation=options.normalisation,
      interpolated=dict(train=interpolated[0], test=interpolated[1]),
      resampled=dict(train=resampled[0], test=resampled[1]),
      constant=constant, **evaluation)
  return Dataset(name, x_train, y_train, x_test, y_test, class_names,
                 provenance)


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


def _evaluation(held_out, total, fraction, seed):
  return (f'validation: {held_out} of {total} training series held out '
          f'(fraction {fraction}, seed {seed}); test set not used')


# --- Entry points ------------------------------------------------------------


def _load_train_test(data_dir, name, options):
  if name.startswith(SYNTHETIC_PREFIX):
    kind = name[len(SYNTHETIC_PREFIX):]
    if kind != 'cbf':
      raise DataError(f'Unknown synthetic dataset {name!r}; the built-in one '
                      f'is {SYNTHETIC_PREFIX}cbf.')
    limits.check_memory(
        f'{name} ({options.synthetic_train_size:,} training and '
        f'{options.synthetic_test_size:,} test series of {synthetic.CBF_LENGTH})',
        limits.series_bytes(options.synthetic_train_size
                            + options.synthetic_test_size, 1,
                            synthetic.CBF_LENGTH, copies=6, itemsize=8),
        'Lower synthetic_train_size or synthetic_test_size.')
    x_train, y_train, x_test, y_test = synthetic.make_cbf(
        options.synthetic_train_size, options.synthetic_test_size,
        options.synthetic_seed)
    names = np.array(synthetic.CBF_CLASSES)
    source = f'{name} (seed {options.synthetic_seed})'
    return prepare(name, *(
        formats.RawSplit(source, x.astype(np.float64)[:, None, :], names[y],
                         np.arange(len(x)), unit='row')
        for x, y in ((x_train, y_train), (x_test, y_test))), options)
  if not DATASET_NAME.match(name):
    raise DataError(f'{name!r} is not a dataset name: use letters, digits, '
                    '"_" and "-" only (the name of its files).')
  found = read_local(data_dir, name)
  if found is None:
    if not (options.download and name in archive_names()):
      raise not_found_error(data_dir, name, options, '')
    try:
      download_lib.download_dataset(
          name, data_dir, options.download_url,
          timeout=options.download_timeout, progress=options.progress,
          multivariate=name in multivariate_names())
    except (urllib.error.URLError, OSError, TimeoutError) as e:
      raise not_found_error(data_dir, name, options,
                            f'The download failed: {e}.') from None
    found = read_local(data_dir, name)
  train, test, _ = found
  return prepare(name, train, test, options)


def load_dataset(data_dir, name, options=Options()):
  """A dataset by name: local files, else a download, else a clear error;
  with `validation_fraction`, a stratified part of the training set held
  out in place of the test set (validation_indices), split off before the
  data are normalised."""
  return _load_train_test(data_dir, name, options)


def load(config):
  """The dataset named by `config`."""
  return load_dataset(config.data_dir, config.dataset,
                      options_from_config(config))


def describe(dataset):
  """One line per split, for the inspection command."""
  p = dataset.provenance
  lines = [f'{dataset.name}: {dataset.num_classes} classes '
           f'{list(dataset.class_names)}; source {p.get("source")}']
  for split, y, x in (('train', dataset.y_train, dataset.x_train),
                      ('test', dataset.y_test, dataset.x_test)):
    counts = np.bincount(y, minlength=dataset.num_classes)
    lines.append(
        f'{split}: {x.shape[0]} series, {x.shape[1]} channel'
        f'{"s" if x.shape[1] > 1 else ""}, length {x.shape[2]}, '
        f'{dataset.num_classes} classes, class counts {counts.tolist()}, '
        f'normalisation {p["normalisation"]}, interpolated '
        f'{p["interpolated"][split]}, resampled {p["resampled"][split]}')
  return '\n'.join(lines)


def _main(argv):
  del argv
  flags = _FLAGS
  options = Options(
      normalisation=flags.normalisation,
      missing_values=flags.missing_values,
      variable_length=flags.variable_length, download=flags.download,
      download_url=flags.download_url)
  try:
    print(describe(load_dataset(flags.data_dir, flags.dataset, options)))
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
  from absl import app  # pylint: disable=g-import-not-at-top
  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top
  absl_flags.DEFINE_string('data_dir', 'data', 'Folder holding the data.')
  absl_flags.DEFINE_string('dataset', None, 'Dataset name.', required=True)
  absl_flags.DEFINE_enum('normalisation', 'series',
                         ['series', 'channel', 'none'],
                         'Per series and channel, per channel, or none.')
  absl_flags.DEFINE_enum('missing_values', 'interpolate',
                         ['interpolate', 'error'], 'NaN gaps policy.')
  absl_flags.DEFINE_enum('variable_length', 'resample', ['resample', 'error'],
                         'Unequal lengths policy.')
  absl_flags.DEFINE_bool('download', True, 'Download if absent.')
  absl_flags.DEFINE_string('download_url', download_lib.DEFAULT_URL,
                           'Base URL of the per-dataset zips.')
  _FLAGS = absl_flags.FLAGS
  app.run(_main)
