"""Parsers for labelled series files.

Each returns a `RawSplit`: values as float64 (n, channels, length) with NaN
for missing values and for the padding of shorter series, labels as text (never parsed
as numbers here: two long integer labels must not become one float), and
the line each series came from, for error messages. A file that cannot be
read as it is meant (a non-numeric or infinite value, a missing label, a
truncated row, bytes that are not text) is a DataError naming the file, the
line and the fix.
"""

import csv
import dataclasses
import os
import zipfile
import zlib

import numpy as np
import pandas as pd

from lstsaug_jax import files
from lstsaug_jax.errors import DataError

# Label cells that mean "no label".
MISSING_LABELS = frozenset(('', 'nan', 'na', 'n/a', 'null', 'none', '?'))


@dataclasses.dataclass(frozen=True)
class RawSplit:
  """One split as read from its file, before any cleaning."""

  path: str
  values: np.ndarray  # float64 (n, channels, length); NaN: missing, padding
  labels: np.ndarray  # str (n,)
  lines: np.ndarray  # int (n,): the line (or array row) of each series
  unit: str = 'line'  # what `lines` counts: 'line' (text) or 'row' (arrays)

  def where(self, i):
    """'PATH, line N' for series i, for messages."""
    return f'{self.path}, {self.unit} {self.lines[i]}'


def read_text(path):
  """The file's text; a DataError naming it if it cannot be read or is not
  UTF-8."""
  try:
    with open(path, 'rb') as f:
      raw = f.read()
  except IsADirectoryError:
    raise DataError(f'{path} is a directory, not a file. Put the split\'s '
                    'file there (or remove the directory).') from None
  except PermissionError:
    raise DataError(f'{path} cannot be read: permission denied. Make it '
                    'readable (chmod u+r) or copy it somewhere you can '
                    'read.') from None
  except OSError as e:
    raise DataError(f'{path} cannot be read ({e.strerror or e}).') from None
  try:
    return raw.decode('utf-8-sig')
  except UnicodeDecodeError as e:
    line = raw[:e.start].count(b'\n') + 1
    raise DataError(
        f'{path}, line {line}: byte 0x{raw[e.start]:02x} is not UTF-8 text. '
        'Series files must be text: save it as UTF-8 (or plain ASCII); if it '
        'is an archive or a binary file, extract or convert it first.'
    ) from None


def check_labels(labels, where):
  """where(i): the location of series i, for the message."""
  for i, label in enumerate(labels):
    if label.lower() in MISSING_LABELS:
      raise DataError(
          f'{where(i)}: the class label is missing ({str(label)!r}). Every series '
          'needs a label; fill it in or remove the series.')


def to_numbers(path, cells, lines, first_column=2):
  """Rows of equally many value cells (str) -> float64 (n, length).

  NaN / nan / ? are missing values; anything else that is not a finite
  number is an error naming its line and column.
  """
  try:
    values = np.array(cells, dtype=np.float64)
  except ValueError:
    for row, line in zip(cells, lines):
      for j, cell in enumerate(row):
        try:
          float(cell)
        except ValueError:
          hint = (' Complex values are not supported.' if 'j' in cell.lower()
                  and cell.strip() else '')
          raise DataError(
              f'{path}, line {line}, column {j + first_column}: {cell!r} is '
              'not a number. Series values must be numeric (NaN for missing '
              f'values).{hint}') from None
    raise
  infinite = np.argwhere(np.isinf(values))
  if len(infinite):
    i, j = infinite[0]
    raise DataError(
        f'{path}, line {lines[i]}, column {j + first_column}: '
        f'{cells[i][j].strip()!r} is infinite. Series values must be finite '
        '(NaN marks a missing value): replace it, or remove the line.')
  return values


def _split_fields(text, sep):
  """(fields per non-blank line, their line numbers)."""
  rows, lines = [], []
  physical = text.split('\n')
  if sep == ',':
    parsed = csv.reader(physical)
  elif sep is None:
    parsed = (l.split() for l in physical)
  else:
    parsed = (l.rstrip('\r').split(sep) for l in physical)
  for number, fields in enumerate(parsed, 1):
    if fields and any(f.strip() for f in fields):
      rows.append(fields)
      lines.append(number)
  return rows, lines


def read_delimited(path, sep):
  """Label-first rows: UCR 2018 .tsv (sep='\\t'), .csv (','), 2015 .txt
  (sep=None: commas or whitespace, detected from the first line).

  Every row holds the same number of fields: series of different lengths are
  padded with NaN (the archive's convention), so a shorter row is a
  truncated line, not a shorter series.
  """
  text = read_text(path)
  if sep is None:
    first = next((l for l in text.split('\n') if l.strip()), '')
    sep = ',' if ',' in first else None
  rows, lines = _split_fields(text, sep)
  if not rows:
    raise DataError(f'{path} is empty: expected one series per line, with '
                    'the class label first.')
  counts = np.array([len(r) for r in rows])
  width = int(np.max(counts))
  if width < 2:
    raise DataError(f'{path} has a single column: expected the class label '
                    'then the values on each line.')
  if np.any(counts != width):
    i = int(np.flatnonzero(counts != width)[0])
    longest = lines[int(np.argmax(counts))]
    raise DataError(
        f'{path}, line {lines[i]}: {counts[i] - 1} values, but line {longest} '
        f'has {width - 1} (rows of different lengths: a truncated or '
        'damaged line?). Every line must hold the label then the same number '
        'of values; pad shorter series with NaN.')
  labels = np.array([r[0].strip() for r in rows])
  check_labels(labels, lambda i: f'{path}, line {lines[i]}')
  values = to_numbers(path, [[c.strip() or 'nan' for c in r[1:]]
                             for r in rows], lines)
  return RawSplit(path, values[:, None, :], labels, np.array(lines))


def _ts_sections(path):
  """A .ts file's @-headers ({key: value}, keys lower-case) and its data
  lines with their line numbers."""
  header, rows, line_numbers = {}, [], []
  in_data = False
  for number, line in enumerate(read_text(path).split('\n'), 1):
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
  return header, rows, line_numbers


def _ts_layout(path, header):
  """(channels, the @classLabel list or an empty set) from the headers."""
  if header.get('timestamps', 'false').lower() == 'true':
    raise DataError(f'{path} has @timeStamps true: (time, value) pairs are '
                    'not supported; write the values only, evenly sampled.')
  univariate = header.get('univariate', 'true').lower() != 'false'
  try:
    channels = 1 if univariate else int(header.get('dimensions', 0))
  except ValueError:
    channels = 0
  if channels < 1:
    raise DataError(f'{path} is multivariate (@univariate false) but its '
                    '@dimensions header is missing or not a positive number.')
  class_labels = header.get('classlabel', '').split()
  if not class_labels or class_labels[0].lower() != 'true':
    raise DataError(f'{path} has no class labels (@classLabel true ...); '
                    'classification needs them.')
  return channels, set(class_labels[1:])


def _ts_series(path, rows, line_numbers, channels, allowed):
  """Each data line as (channels' value cells, label)."""
  series, labels = [], []
  for number, row in zip(line_numbers, rows):
    parts = row.split(':')
    if len(parts) != channels + 1:
      raise DataError(
          f'{path}, line {number}: expected {channels} channel(s) then the '
          f'label, separated by ":" (`v1,v2,...:label` per channel), found '
          f'{len(parts) - 1} colon(s).')
    label = parts[-1].strip()
    check_labels([label], lambda _: f'{path}, line {number}')
    if allowed and label not in allowed:
      raise DataError(f'{path}, line {number}: label {label!r} is not in the '
                      f'header\'s @classLabel list {sorted(allowed)}.')
    values = [[v.strip() for v in p.split(',')] for p in parts[:-1]]
    if len({len(v) for v in values}) > 1:
      raise DataError(
          f'{path}, line {number}: its channels have different lengths '
          f'({", ".join(str(len(v)) for v in values)} values); each series '
          'needs one length for all its channels.')
    series.append(values)
    labels.append(label)
  return series, labels


def _check_ts_lengths(path, header, lengths, line_numbers):
  declared = header.get('serieslength')
  if declared is not None and not declared.strip().isdigit():
    raise DataError(
        f'{path}: the header says @seriesLength {declared!r}, which is not a '
        'whole number. Write the length as digits (e.g. @seriesLength 128), '
        'or remove the line.')
  width = max(lengths)
  equal = header.get('equallength', '').lower() == 'true'
  expected = int(declared) if (equal and declared) else (width if equal
                                                         else None)
  if expected is not None and any(n != expected for n in lengths):
    bad = next(i for i, n in enumerate(lengths) if n != expected)
    raise DataError(
        f'{path}, line {line_numbers[bad]}: {lengths[bad]} values, but the '
        'header says @equalLength true'
        + (f' and @seriesLength {declared}.' if declared else
           f' and line {line_numbers[lengths.index(width)]} has {width}.'))


def read_ts(path):
  """The sktime/aeon .ts format: @-headers, then one series per line, its
  channels separated by ':' and the label last (`v1,v2,...:w1,w2,...:label`).
  Univariate and multivariate (@univariate false, @dimensions D); series of
  different lengths are padded with trailing NaN."""
  header, rows, line_numbers = _ts_sections(path)
  channels, allowed = _ts_layout(path, header)
  series, labels = _ts_series(path, rows, line_numbers, channels, allowed)
  lengths = [len(s[0]) for s in series]
  _check_ts_lengths(path, header, lengths, line_numbers)
  width = max(lengths)
  # Pad unequal lengths with trailing NaN, as the tsv archive does; cells
  # are (series x channel) rows of `width` values.
  cells = [[('nan' if v in ('?', '') else v) for v in channel]
           + ['nan'] * (width - n)
           for s, n in zip(series, lengths) for channel in s]
  cell_lines = np.repeat(line_numbers, channels)
  values = to_numbers(path, cells, cell_lines, first_column=1)
  return RawSplit(path, values.reshape(len(series), channels, width),
                  np.array(labels), np.array(line_numbers))


def write_ts(f, values, labels, problem_name):
  """Writes the .ts format (univariate or multivariate), NaN as '?', to the
  text file object f."""
  values = np.asarray(values, np.float64)
  channels, length = values.shape[1:]
  names = sorted({str(l) for l in labels})
  lines = [f'@problemName {problem_name}', '@timeStamps false',
           f'@missing {"true" if np.isnan(values).any() else "false"}',
           f'@univariate {"true" if channels == 1 else "false"}']
  if channels > 1:
    lines.append(f'@dimensions {channels}')
  lines += ['@equalLength true', f'@seriesLength {length}',
            '@classLabel true ' + ' '.join(names), '@data']
  for series, label in zip(values, labels):
    lines.append(':'.join(','.join('?' if np.isnan(v) else f'{v:.8g}'
                                   for v in channel) for channel in series)
                 + f':{label}')
  f.write('\n'.join(lines) + '\n')


ARRAY_NAMES = ('X_train', 'y_train', 'X_test', 'y_test')


def _npz_array(path, npz, name):
  try:
    return npz[name]
  except ValueError as e:
    if 'allow_pickle' not in str(e):
      raise DataError(f'{path}: the array {name} is damaged ({e}).') from None
    raise DataError(
        f'{path}: the array {name} is stored with dtype object (Python '
        'objects, read only by unpickling, and a file is never unpickled '
        'here). Save it with a plain dtype, e.g. np.savez(..., '
        f'{name}=np.asarray({name}, dtype=str)) for labels.') from None
  except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
    raise DataError(f'{path}: the array {name} is damaged or truncated '
                    f'({type(e).__name__}: {e}). Write the file again.'
                    ) from None


def read_npz(path):
  """A user's arrays: X_train, y_train, X_test, y_test. Returns the train
  and test RawSplits."""
  if os.path.isdir(path):
    raise DataError(f'{path} is a directory, not an .npz file.')
  try:
    loaded = np.load(path, allow_pickle=False)
  except PermissionError:
    raise DataError(f'{path} cannot be read: permission denied.') from None
  except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile,
          zlib.error) as e:
    raise DataError(
        f'{path} is not a readable .npz file ({type(e).__name__}: {e}): it is '
        'damaged or truncated, or not an .npz. Write it again with '
        'np.savez(path, X_train=..., y_train=..., X_test=..., '
        'y_test=...).') from None
  if not isinstance(loaded, np.lib.npyio.NpzFile):
    raise DataError(
        f'{path} holds a single array (an .npy file named .npz), not the '
        'four arrays of a dataset. Write it with np.savez(path, X_train=..., '
        'y_train=..., X_test=..., y_test=...).')
  with loaded as f:
    arrays = {k: _npz_array(path, f, k) for k in f.files}
  missing = [k for k in ARRAY_NAMES if k not in arrays]
  if missing:
    raise DataError(f'{path} lacks the arrays {missing}; it must hold '
                    'X_train, y_train, X_test, y_test.')
  out = []
  for split in ('train', 'test'):
    x, y = arrays[f'X_{split}'], arrays[f'y_{split}']
    shape = x.shape
    if x.ndim == 2:
      x = x[:, None, :]  # univariate (n, length)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
      raise DataError(
          f'{path}: X_{split} has shape {shape} and y_{split} {y.shape}; '
          f'expected X_{split} (n, length) or (n, channels, length) and '
          f'y_{split} (n,).')
    if np.iscomplexobj(x):
      raise DataError(f'{path}: X_{split} holds complex values; series must '
                      'be real (take .real or np.abs first).')
    try:
      x = x.astype(np.float64)
    except (ValueError, TypeError):
      raise DataError(f'{path}: X_{split} is not numeric '
                      f'(dtype {x.dtype}).') from None
    where = f'{path}: X_{split}'
    rows = np.arange(len(x))
    infinite = np.argwhere(np.isinf(x))
    if len(infinite):
      i, c, j = infinite[0]
      raise DataError(f'{where}[{i}, {c}, {j}] is {x[i, c, j]}: series '
                      'values must be finite (NaN marks a missing value).')
    labels = np.array([str(v).strip() for v in y.tolist()])
    check_labels(labels, lambda i: f'{path}: y_{split}[{i}]')
    out.append(RawSplit(where, x, labels, rows, unit='row'))
  return tuple(out)


READERS = {
    '.tsv': lambda p: read_delimited(p, '\t'),
    '.csv': lambda p: read_delimited(p, ','),
    '.txt': lambda p: read_delimited(p, None),
    '.ts': read_ts,
}


def read_split(path):
  return READERS[os.path.splitext(path)[1].lower()](path)


def write_tsv(f, values, labels):
  """Writes the UCR 2018 layout (label first, tab separated) of univariate
  series, (n, length) or (n, 1, length), to the text file object f."""
  values = np.asarray(values, np.float64)
  if values.ndim == 3:
    values = values[:, 0]
  frame = pd.DataFrame(values)
  frame.insert(0, 'label', labels)
  frame.to_csv(f, sep='\t', header=False, index=False, na_rep='NaN',
               float_format='%.8g', lineterminator='\n')


def writable_labels(labels):
  """The labels as the text a split file holds (bytes decoded as UTF-8);
  a DataError for one that the readers could not read back (a label is
  one field: no whitespace, tab, comma or colon, and not a missing-value
  mark)."""
  out = []
  for i, label in enumerate(labels):
    text = (bytes(label).decode('utf-8', errors='backslashreplace')
            if isinstance(label, (bytes, np.bytes_)) else str(label))
    bad = [c for c in text if c.isspace() or c in ',:']
    if bad or text.strip().lower() in MISSING_LABELS:
      why = (f'holds {bad[0]!r}' if bad else 'reads as a missing label')
      raise DataError(
          f'Label {label!r} (series {i}) {why}, so the file could not be read '
          'back: in the archive formats a label is one field, with no '
          'whitespace, comma or colon. Map the labels first (e.g. replace '
          '" " with "_", or use integer codes).')
    out.append(text)
  return np.array(out)


def write_split(directory, name, split, values, labels):
  """{directory}/{name}_{split}.tsv for one channel, .ts for several (the
  archives' formats), written whole or not at all (files.replacing);
  returns the path. Labels must read back (writable_labels)."""
  labels = writable_labels(labels)
  values = np.asarray(values)
  os.makedirs(directory, exist_ok=True)
  ext = '.tsv' if values.shape[1] == 1 else '.ts'
  path = os.path.join(directory, f'{name}_{split}{ext}')
  with files.replacing(path, newline='') as f:
    if ext == '.tsv':
      write_tsv(f, values, labels)
    else:
      write_ts(f, values, labels, name)
  return path
