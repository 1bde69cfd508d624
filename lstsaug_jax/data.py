"""Datasets by name: the UCR archive (local or downloaded), a user's own
files, or a built-in generator; missing values and unequal lengths handled
by policy; labels mapped to 0..C-1.

Inspect one: `python -m lstsaug_jax.data --data_dir=DIR --dataset=NAME`.
"""

import dataclasses
import difflib
import hashlib
import json
import os
import re
import sys
import urllib.error

import numpy as np

from lstsaug_jax import download as download_lib
from lstsaug_jax import formats
from lstsaug_jax import limits
from lstsaug_jax import preprocess
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
  download: bool = True  # an archive dataset absent from data_dir
  download_url: str = download_lib.DEFAULT_URL
  download_timeout: float = 60.0
  synthetic_train_size: int = 30
  synthetic_test_size: int = 900
  synthetic_seed: int = 0
  # > 0: evaluate on a stratified held-out part of the training set instead
  # of the test set (for tuning; see validation_indices).
  validation_fraction: float = 0.0
  validation_seed: int = 0
  # A smaller training set (preprocess.subsample_indices): a seeded half
  # of the classes cut to 1/imbalance_ratio of the largest class, or
  # `shots` series per class; subsample_seed picks which.
  imbalance_ratio: float = 0.0
  shots: int = 0
  subsample_seed: int = 0
  progress: bool = True


def options_from_config(config):
  """The data fields of a config; subsample_seed -1 is the run's seed."""
  options = {f.name: getattr(config, f.name)
             for f in dataclasses.fields(Options)}
  if options['subsample_seed'] == -1:
    options['subsample_seed'] = config.seed
  return Options(**options)


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


def prepare(name, train, test, options):
  """Raw train and test RawSplits -> a clean Dataset."""
  for split in (train, test):
    if split.values.shape[0] == 0:
      raise DataError(f'{split.path} holds no series.')
  filled, interpolated = zip(*(preprocess.fill_missing(s, options.missing_values)
                               for s in (train, test)))
  (x_train, x_test), resampled = preprocess.to_common_length(
      filled, (train, test), options.variable_length)
  y_train, y_test, class_names = preprocess.index_labels(train.labels, test.labels,
                                              train.path, test.path)
  constant = dict(train=preprocess.check_not_constant(x_train, train.path),
                  test=preprocess.check_not_constant(x_test, test.path, training=False))
  evaluation = {}
  if options.imbalance_ratio or options.shots:
    keep, evaluation['subsample'] = preprocess.subsample_indices(
        y_train, len(class_names), options.imbalance_ratio, options.shots,
        options.subsample_seed)
    x_train, y_train = x_train[keep], y_train[keep]
  if options.validation_fraction:
    # Split before normalising: statistics of the training set (channel
    # normalisation) never include the held-out series.
    keep, held_out = preprocess.validation_indices(y_train, len(class_names),
                                        options.validation_fraction,
                                        options.validation_seed)
    evaluation.update(evaluation=preprocess.evaluation_note(
        len(held_out), len(y_train), options.validation_fraction,
        options.validation_seed))
    x_test, y_test = x_train[held_out], y_train[held_out]
    x_train, y_train = x_train[keep], y_train[keep]
  if options.normalisation == 'series':
    x_train, x_test = preprocess.znormalise(x_train), preprocess.znormalise(x_test)
  elif options.normalisation == 'channel':
    x_train, x_test = (preprocess.normalise_channels(x_train, x_train),
                       preprocess.normalise_channels(x_test, x_train))
  else:
    x_train, x_test = preprocess.to_float32(x_train, train), preprocess.to_float32(x_test, test)
  provenance = dict(
      source=train.path if train.path == test.path else [train.path,
                                                          test.path],
      normalisation=options.normalisation,
      interpolated=dict(train=interpolated[0], test=interpolated[1]),
      resampled=dict(train=resampled[0], test=resampled[1]),
      constant=constant, **evaluation)
  return Dataset(name, x_train, y_train, x_test, y_test, class_names,
                 provenance)


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
