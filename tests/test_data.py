import os

import numpy as np
import pytest

from lstsaug_jax import data
from tests.conftest import SHARED_DATA

# From ../shared/data/README.md: train, test, length, classes.
ARCHIVE = {
    'Chinatown': (20, 345, 24, 2), 'GunPoint': (50, 150, 150, 2),
    'ECG200': (100, 100, 96, 2), 'Beef': (30, 30, 470, 5),
    'SyntheticControl': (300, 300, 60, 6), 'Lightning7': (70, 73, 319, 7),
}


@pytest.mark.parametrize('name', sorted(ARCHIVE))
def test_archive_datasets_load_with_published_shapes(name):
  d = data.load_ucr(SHARED_DATA, name)
  n_train, n_test, length, classes = ARCHIVE[name]
  assert d.x_train.shape == (n_train, length)
  assert d.x_test.shape == (n_test, length)
  assert d.num_classes == classes
  assert d.x_train.dtype == np.float32
  assert set(np.unique(d.y_train)) == set(range(classes))
  np.testing.assert_allclose(d.x_train.mean(axis=1), 0, atol=1e-5)
  np.testing.assert_allclose(d.x_train.std(axis=1), 1, atol=1e-4)


def write_dataset(root, name, train, test):
  folder = os.path.join(root, 'UCRArchive_2018', name)
  os.makedirs(folder)
  for split, text in (('TRAIN', train), ('TEST', test)):
    with open(os.path.join(folder, f'{name}_{split}.tsv'), 'w') as f:
      f.write(text)
  return str(root)


def test_labels_are_reindexed_from_training_set(tmp_path):
  root = write_dataset(tmp_path, 'T', '-1\t1\t2\n1\t3\t4\n-1\t0\t5\n',
                       '1\t1\t1\n-1\t2\t2\n')
  d = data.load_ucr(root, 'T', normalise=False)
  assert d.class_names == ('-1', '1')
  np.testing.assert_array_equal(d.y_train, [0, 1, 0])
  np.testing.assert_array_equal(d.y_test, [1, 0])
  np.testing.assert_array_equal(d.x_train[1], [3, 4])


def test_missing_files_error_names_paths_and_fix(tmp_path):
  with pytest.raises(data.DataError) as e:
    data.load_ucr(str(tmp_path), 'Nope')
  message = str(e.value)
  assert 'Nope_TRAIN.tsv' in message and 'Nope_TEST.tsv' in message
  assert '--config.data_dir' in message


@pytest.mark.parametrize('train, expected', [
    ('', 'is empty'),
    ('1\t0.5\tabc\n2\t1\t2\n', 'line 1, column 3: \'abc\' is not a number'),
    ('1\t0.5\t1\n2\t1\t2\t3\t4\n', 'rows of different lengths'),
    ('1\t0.5\tNaN\n2\t1\t2\n', 'line 1: missing values'),
    ('1\t0.5\t1\n1\t1\t2\n', 'one class only'),
])
def test_bad_files_give_clear_errors(tmp_path, train, expected):
  root = write_dataset(tmp_path, 'B', train, '1\t1\t1\n')
  with pytest.raises(data.DataError, match=expected):
    data.load_ucr(root, 'B')


def test_unseen_test_label_is_an_error(tmp_path):
  root = write_dataset(tmp_path, 'U', '1\t1\t2\n2\t2\t3\n', '3\t1\t1\n')
  with pytest.raises(data.DataError, match=r"never seen in training: \['3'\]"):
    data.load_ucr(root, 'U')
