"""Class labels of any type (str, int, float, bool, bytes), mapped to
indices 0..C-1 and kept with their type through a checkpoint."""

import numpy as np

from lstsaug_jax.errors import DataError

# How each kind of label is written to JSON and read back.
_TO_JSON = {'bool': bool, 'int': int, 'float': float, 'str': str,
            'bytes': lambda v: v.hex()}
_FROM_JSON = {'bool': bool, 'int': int, 'float': float, 'str': str,
              'bytes': bytes.fromhex}


def _kind_of_values(values):
  """The label kind of a list of Python values (an object array's)."""
  kinds = set()
  for v in values:
    if isinstance(v, (bool, np.bool_)):
      kinds.add('bool')
    elif isinstance(v, (int, np.integer)):
      kinds.add('int')
    elif isinstance(v, (float, np.floating)):
      kinds.add('float')
    elif isinstance(v, str):
      kinds.add('str')
    elif isinstance(v, bytes):
      kinds.add('bytes')
    else:
      raise DataError(f'y holds a label of type {type(v).__name__} ({v!r}); '
                      'labels must be str, int, float, bool or bytes.')
  if kinds == {'int', 'float'}:
    return 'float'
  if len(kinds) > 1:
    raise DataError(f'y mixes labels of types {sorted(kinds)}; give every '
                    'label the same type (e.g. all str).')
  return kinds.pop() if kinds else 'str'


def kind(y):
  """'bool', 'int', 'float', 'str' or 'bytes': what y's labels are."""
  y = np.asarray(y)
  by_dtype = {'b': 'bool', 'i': 'int', 'u': 'int', 'f': 'float', 'U': 'str',
              'S': 'bytes'}
  if y.dtype.kind in by_dtype:
    return by_dtype[y.dtype.kind]
  if y.dtype.kind == 'O':
    return _kind_of_values(y.tolist())
  raise DataError(f'y has dtype {y.dtype}; labels must be str, int, float, '
                  'bool or bytes.')


def as_array(values, label_kind):
  """Labels as a NumPy array of their kind."""
  dtype = {'bool': bool, 'int': np.int64, 'float': np.float64, 'str': str,
           'bytes': bytes}[label_kind]
  if label_kind == 'int':
    return np.array([int(v) for v in values], dtype)
  return np.array(list(values), dtype)


def check(y, n):
  """y as a 1-D array of one kind, n labels long, none missing."""
  y = np.asarray(y)
  if y.ndim != 1 or len(y) != n:
    raise DataError(f'y must be one label per series: shape ({n},); got '
                    f'{y.shape}.')
  label_kind = kind(y)
  y = as_array(y.tolist(), label_kind)
  if label_kind == 'float' and np.isnan(y).any():
    raise DataError(f'y[{int(np.flatnonzero(np.isnan(y))[0])}] is NaN: '
                    'every series needs a label.')
  return y


def to_indices(y, classes=None):
  """(class indices int32, the classes in order): classes default to the
  sorted distinct labels of y; a label outside `classes` is an error."""
  y = check(y, len(np.asarray(y)))
  if classes is None:
    classes = np.unique(y)
  index = {c: i for i, c in enumerate(classes.tolist())}
  unknown = [v for v in y.tolist() if v not in index]
  if unknown:
    raise DataError(f'y holds labels the VAE was not trained with: '
                    f'{sorted(set(map(repr, unknown)))[:10]}; it knows '
                    f'{classes.tolist()}.')
  return np.array([index[v] for v in y.tolist()], np.int32), classes


def encode(classes):
  """The classes as JSON: {'type': kind, 'values': [...]}."""
  label_kind = kind(classes)
  return dict(type=label_kind,
              values=[_TO_JSON[label_kind](v) for v in classes.tolist()])


def decode(record):
  """encode's inverse."""
  label_kind = record['type']
  return as_array([_FROM_JSON[label_kind](v) for v in record['values']],
                  label_kind)


def text(value):
  """A label as the text a file holds (bytes decoded as UTF-8)."""
  if isinstance(value, (bytes, np.bytes_)):
    return bytes(value).decode('utf-8', errors='backslashreplace')
  return str(value)
