"""Parsers for labelled univariate series files. Each returns
(values float32 (n, length) with NaN for missing, raw labels as strings)."""

import io
import os

import numpy as np
import pandas as pd


class DataError(ValueError):
  """Bad or missing input data; the message says what is wrong and the fix."""


def _first_non_number(frame):
  """(row, column label, cell) of the first non-numeric cell, or None."""
  for c in frame:
    if not pd.api.types.is_numeric_dtype(frame[c]):
      column = frame[c]
      bad = pd.to_numeric(column, errors='coerce').isna() & column.notna()
      row = int(np.flatnonzero(bad.to_numpy())[0])
      return row, c, column.iat[row]
  return None


def _frame_to_arrays(path, frame):
  if frame.shape[1] < 2:
    raise DataError(f'{path} has a single column: expected the class label '
                    'then the values on each line.')
  values = frame.iloc[:, 1:]
  bad = _first_non_number(values)
  if bad:
    row, column, cell = bad
    raise DataError(
        f'{path}, line {row + 1}, column {column + 1}: {cell!r} is not a '
        'number. Series values must be numeric (NaN for missing values).')
  labels = frame.iloc[:, 0].astype(str).str.strip().to_numpy()
  return values.to_numpy(np.float32), labels


def read_delimited(path, sep):
  """Label-first rows: UCR 2018 .tsv (sep='\\t'), .csv (','), 2015 .txt
  (sep=None: commas or whitespace, detected from the first line)."""
  if sep is None:
    with open(path) as f:
      first = f.readline()
    sep = ',' if ',' in first else r'\s+'
  try:
    frame = pd.read_csv(path, sep=sep, header=None, dtype={0: str},
                        skipinitialspace=True)
  except pd.errors.EmptyDataError:
    raise DataError(f'{path} is empty: expected one series per line, with '
                    'the class label first.') from None
  except pd.errors.ParserError as e:
    raise DataError(
        f'{path} has rows of different lengths ({e}). Every line must hold '
        'the label then the same number of values; pad shorter series with '
        'NaN.') from None
  return _frame_to_arrays(path, frame)


def read_ts(path):
  """The sktime/aeon .ts format: @-headers, then `v1,v2,...:label` lines."""
  header, rows, line_numbers = {}, [], []
  in_data = False
  with open(path, encoding='utf-8', errors='replace') as f:
    for number, line in enumerate(f, 1):
      line = line.strip()
      if not line or line.startswith('#'):
        continue
      if not in_data:
        if not line.startswith('@'):
          raise DataError(f'{path}, line {number}: expected a @-header or '
                          f'@data before data, got {line[:40]!r}.')
        key, _, value = line[1:].partition(' ')
        key = key.lower()
        if key == 'data':
          in_data = True
        else:
          header[key] = value.strip()
        continue
      rows.append(line)
      line_numbers.append(number)
  if not in_data:
    raise DataError(f'{path} has no @data line: not a .ts file, or truncated.')
  if not rows:
    raise DataError(f'{path} is empty: its @data section has no series.')
  if header.get('univariate', 'true').lower() == 'false':
    raise DataError(f'{path} is a multivariate problem (@univariate false); '
                    'lstsaug_jax handles univariate series only.')
  class_labels = header.get('classlabel', '').split()
  if not class_labels or class_labels[0].lower() != 'true':
    raise DataError(f'{path} has no class labels (@classLabel true ...); '
                    'classification needs them.')
  allowed = set(class_labels[1:])
  series, labels = [], []
  for number, row in zip(line_numbers, rows):
    parts = row.split(':')
    if len(parts) != 2:
      raise DataError(
          f'{path}, line {number}: expected `v1,v2,...:label` (one dimension '
          f'then the label), found {len(parts) - 1} colon(s).')
    values, label = parts[0], parts[1].strip()
    if allowed and label not in allowed:
      raise DataError(f'{path}, line {number}: label {label!r} is not in the '
                      f'header\'s @classLabel list {sorted(allowed)}.')
    series.append(values.replace('?', 'NaN'))
    labels.append(label)
  lengths = [s.count(',') + 1 for s in series]
  width = max(lengths)
  declared = header.get('serieslength')
  if (header.get('equallength', '').lower() == 'true' and declared
      and any(n != int(declared) for n in lengths)):
    bad = next(i for i, n in enumerate(lengths) if n != int(declared))
    raise DataError(
        f'{path}, line {line_numbers[bad]}: {lengths[bad]} values, but the '
        f'header says @equalLength true and @seriesLength {declared}.')
  # Pad unequal lengths with trailing NaN, as the tsv archive does.
  text = '\n'.join(s + ',NaN' * (width - n) for s, n in zip(series, lengths))
  frame = pd.read_csv(io.StringIO(text), header=None)
  bad = _first_non_number(frame)
  if bad:
    row, _, cell = bad
    raise DataError(f'{path}, line {line_numbers[row]}: {cell!r} is not a '
                    'number.')
  return frame.to_numpy(np.float32), np.array(labels)


def read_npz(path):
  """A user's arrays: X_train, y_train, X_test, y_test."""
  try:
    with np.load(path, allow_pickle=False) as f:
      arrays = {k: f[k] for k in f.files}
  except (OSError, ValueError) as e:
    raise DataError(f'{path} is not a readable .npz file ({e}).') from None
  missing = [k for k in ('X_train', 'y_train', 'X_test', 'y_test')
             if k not in arrays]
  if missing:
    raise DataError(f'{path} lacks the arrays {missing}; it must hold '
                    'X_train, y_train, X_test, y_test.')
  out = {}
  for split in ('train', 'test'):
    x, y = arrays[f'X_{split}'], arrays[f'y_{split}']
    if x.ndim == 3 and x.shape[1] == 1:
      x = x[:, 0]  # (n, 1, length), aeon's univariate layout
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
      raise DataError(
          f'{path}: X_{split} has shape {x.shape} and y_{split} {y.shape}; '
          f'expected X_{split} (n, length) and y_{split} (n,).')
    try:
      x = x.astype(np.float32)
    except ValueError:
      raise DataError(f'{path}: X_{split} is not numeric.') from None
    out[split] = (x, np.array([str(v).strip() for v in y]))
  return out['train'], out['test']


READERS = {
    '.tsv': lambda p: read_delimited(p, '\t'),
    '.csv': lambda p: read_delimited(p, ','),
    '.txt': lambda p: read_delimited(p, None),
    '.ts': read_ts,
}


def read_split(path):
  return READERS[os.path.splitext(path)[1].lower()](path)


def write_tsv(path, values, labels):
  """Writes the UCR 2018 layout (label first, tab separated)."""
  frame = pd.DataFrame(values.astype(np.float64))
  frame.insert(0, 'label', labels)
  frame.to_csv(path, sep='\t', header=False, index=False, na_rep='NaN',
               float_format='%.8g')

