"""Loading labelled univariate time series (UCR archive layout)."""

import dataclasses
import os

import numpy as np
import pandas as pd


class DataError(ValueError):
  """Bad or missing input data; the message says what is wrong and the fix."""


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A train/test split. Labels are 0..C-1, mapped from `class_names`."""

  name: str
  x_train: np.ndarray  # float32 (n_train, length)
  y_train: np.ndarray  # int32 (n_train,)
  x_test: np.ndarray
  y_test: np.ndarray
  class_names: tuple  # the original label of each class index

  @property
  def num_classes(self):
    return len(self.class_names)

  @property
  def series_length(self):
    return self.x_train.shape[1]


def ucr_paths(data_dir, name):
  root = os.path.join(data_dir, 'UCRArchive_2018', name)
  return (os.path.join(root, f'{name}_TRAIN.tsv'),
          os.path.join(root, f'{name}_TEST.tsv'))


def read_labelled_tsv(path):
  """Reads one series per row, label first; returns (values, raw labels)."""
  try:
    frame = pd.read_csv(path, sep='\t', header=None, dtype={0: str})
  except pd.errors.EmptyDataError:
    raise DataError(f'{path} is empty: expected one series per line, tab '
                    'separated, with the class label first.') from None
  except pd.errors.ParserError as e:
    raise DataError(
        f'{path} has rows of different lengths ({e}). Every line must hold '
        'the label then the same number of values; pad shorter series with '
        'NaN.') from None
  if frame.shape[1] < 2:
    raise DataError(f'{path} has a single column: expected the class label '
                    'then the values on each line, tab separated.')
  values = frame.iloc[:, 1:]
  not_numeric = [c for c in values if not pd.api.types.is_numeric_dtype(values[c])]
  if not_numeric:
    column = values[not_numeric[0]]
    bad = pd.to_numeric(column, errors='coerce').isna() & column.notna()
    row = int(np.flatnonzero(bad.to_numpy())[0])
    raise DataError(
        f'{path}, line {row + 1}, column {not_numeric[0] + 1}: '
        f'{column.iat[row]!r} is not a number. Series values must be numeric '
        '(NaN for missing values).')
  labels = frame.iloc[:, 0].str.strip().to_numpy()
  return values.to_numpy(np.float32), labels


def index_labels(train_labels, test_labels, test_path):
  """Maps labels to 0..C-1 from the training set; numeric labels sort as numbers."""
  try:
    names = sorted(set(train_labels), key=float)
  except ValueError:
    names = sorted(set(train_labels))
  index = {name: i for i, name in enumerate(names)}
  unseen = sorted(set(test_labels) - set(index))
  if unseen:
    raise DataError(
        f'{test_path} has labels never seen in training: {unseen[:10]}. A '
        'classifier cannot predict them; check that TRAIN and TEST belong to '
        'the same dataset.')
  y_train = np.array([index[l] for l in train_labels], np.int32)
  y_test = np.array([index[l] for l in test_labels], np.int32)
  return y_train, y_test, tuple(names)


def znormalise(x, eps=1e-8):
  mean = x.mean(axis=1, keepdims=True)
  std = x.std(axis=1, keepdims=True)
  return ((x - mean) / np.maximum(std, eps)).astype(np.float32)


def load_ucr(data_dir, name, *, normalise=True):
  """Loads `{data_dir}/UCRArchive_2018/{name}/{name}_{TRAIN,TEST}.tsv`."""
  train_path, test_path = ucr_paths(data_dir, name)
  missing = [p for p in (train_path, test_path) if not os.path.isfile(p)]
  if missing:
    raise DataError(
        f'Dataset {name!r} not found: missing {", ".join(missing)}. Put the '
        f'UCR 2018 archive under {os.path.abspath(data_dir)} (layout '
        f'UCRArchive_2018/{name}/{name}_TRAIN.tsv and _TEST.tsv) or point '
        '--config.data_dir at the folder that holds UCRArchive_2018.')
  x_train, train_labels = read_labelled_tsv(train_path)
  x_test, test_labels = read_labelled_tsv(test_path)
  if x_train.shape[1] != x_test.shape[1]:
    raise DataError(
        f'{train_path} holds series of length {x_train.shape[1]} but '
        f'{test_path} of length {x_test.shape[1]}; both splits must share one '
        'length.')
  for path, x in ((train_path, x_train), (test_path, x_test)):
    if np.isnan(x).any():
      row = int(np.argwhere(np.isnan(x).any(axis=1))[0, 0])
      raise DataError(
          f'{path}, line {row + 1}: missing values (NaN). Fill or interpolate '
          'them before training: no NaN may reach a model.')
  y_train, y_test, class_names = index_labels(train_labels, test_labels,
                                              test_path)
  if len(class_names) < 2:
    raise DataError(f'{train_path} has one class only ({class_names[0]!r}); '
                    'classification needs at least two.')
  if normalise:
    x_train, x_test = znormalise(x_train), znormalise(x_test)
  return Dataset(name, x_train, y_train, x_test, y_test, class_names)


def load(config):
  """The dataset named by `config`."""
  return load_ucr(config.data_dir, config.dataset,
                  normalise=config.znormalise)
