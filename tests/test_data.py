import os
import re

import numpy as np
import pytest

from lstsaug_jax import data
from lstsaug_jax import preprocess
from lstsaug_jax import synthetic
from tests.conftest import SHARED_DATA
from tests.conftest import require_archive
from tests.conftest import write_pair


def archive_table():
  """The table in the archive folder's README.md: name -> (train, test,
  length, classes); empty without the archive."""
  if SHARED_DATA is None:
    return {}
  with open(os.path.join(SHARED_DATA, 'README.md')) as f:
    rows = re.findall(r'^\| (\w+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$',
                      f.read(), re.M)
  return {r[0]: tuple(int(v) for v in r[1:]) for r in rows}


TABLE = archive_table()


def test_table_lists_every_shared_dataset(shared_data):
  # Whatever the archive's size: its table and its folders agree.
  assert TABLE, 'the archive README has no table of datasets'
  assert set(TABLE) == set(os.listdir(os.path.join(shared_data,
                                                   'UCRArchive_2018')))


# Without the archive, one case stands for all: it skips (or fails under CI).
@pytest.mark.parametrize('name', sorted(TABLE) or ['(archive missing)'])
def test_every_shared_dataset_loads_with_published_shape(name):
  d = data.load_dataset(require_archive(), name)
  n_train, n_test, length, classes = TABLE[name]
  assert d.x_train.shape == (n_train, 1, length)
  assert d.x_test.shape == (n_test, 1, length)
  assert d.num_classes == classes
  assert set(np.unique(d.y_train)) == set(range(classes))
  assert d.x_train.dtype == np.float32
  assert not np.isnan(d.x_train).any() and not np.isnan(d.x_test).any()
  np.testing.assert_allclose(d.x_train.mean(axis=-1), 0, atol=1e-4)
  np.testing.assert_allclose(d.x_train.std(axis=-1), 1, atol=1e-3)


@pytest.mark.parametrize('name, shape, classes', [
    ('BasicMotions', (40, 6, 100), ('Badminton', 'Running', 'Standing',
                                    'Walking')),
    ('JapaneseVowels', (270, 12, 26), tuple(str(i) for i in range(1, 10))),
])
def test_multivariate_archive_datasets(shared_data, name, shape, classes):
  d = data.load_dataset(shared_data, name)
  assert d.x_train.shape == shape and d.class_names == classes
  assert d.num_channels == shape[1] and d.series_length == shape[2]
  # Per channel, every series is z-normalised.
  np.testing.assert_allclose(d.x_train.mean(axis=-1), 0, atol=1e-4)
  np.testing.assert_allclose(d.x_train.std(axis=-1), 1, atol=1e-3)
  if name == 'JapaneseVowels':  # lengths 7-26 (test 7-29), no padding
    assert d.provenance['resampled']['train'] > 0
    assert d.x_test.shape == (370, 12, 26)  # at the training length


def test_archive_quirks_are_handled_by_policy(shared_data):
  dodger = data.load_dataset(shared_data, 'DodgerLoopGame')
  assert dodger.provenance['interpolated']['train'] > 0
  pickup = data.load_dataset(shared_data, 'PickupGestureWiimoteZ')
  assert pickup.provenance['resampled']['train'] > 0
  strict = data.Options(missing_values='error', variable_length='error')
  with pytest.raises(data.DataError, match='missing_values=interpolate'):
    data.load_dataset(shared_data, 'DodgerLoopGame', strict)
  with pytest.raises(data.DataError, match='variable_length=resample'):
    data.load_dataset(shared_data, 'PickupGestureWiimoteZ', strict)


RAW = data.Options(normalisation='none')


def test_interpolation_and_resampling_values(tmp_path):
  root = write_pair(tmp_path, 'Q', '1\t0\tNaN\t2\t3\n2\t0\t2\tNaN\tNaN\n',
                    '1\t1\t1\t1\t1\n')
  d = data.load_dataset(root, 'Q', RAW)
  np.testing.assert_allclose(d.x_train[0, 0], [0, 1, 2, 3])  # gap filled
  np.testing.assert_allclose(d.x_train[1, 0], [0, 2 / 3, 4 / 3, 2])
  assert d.provenance['interpolated'] == dict(train=1, test=0)
  assert d.provenance['resampled'] == dict(train=1, test=0)


def test_labels_are_reindexed_from_training_set(tmp_path):
  root = write_pair(tmp_path, 'T', '-1\t1\t2\n1\t3\t4\n-1\t0\t5\n',
                    '1\t1\t1\n-1\t2\t2\n')
  d = data.load_dataset(root, 'T', RAW)
  assert d.class_names == ('-1', '1')
  np.testing.assert_array_equal(d.y_train, [0, 1, 0])
  np.testing.assert_array_equal(d.y_test, [1, 0])


def test_string_labels_in_a_flat_csv_layout(tmp_path):
  root = write_pair(tmp_path, 'S', 'cat,1,2\ndog,2,3\n', 'dog,0,0\n',
                    ext='.csv', flat=True)
  d = data.load_dataset(root, 'S', RAW)
  assert d.class_names == ('cat', 'dog')
  np.testing.assert_array_equal(d.y_test, [1])


def test_2015_style_txt_with_whitespace(tmp_path):
  root = write_pair(tmp_path, 'W', '  1.0000000e+00  1.5  2.5\n  2.0  3.0  4.0\n',
                    '1,0.5,0.5\n', ext='.txt')
  d = data.load_dataset(root, 'W', RAW)
  np.testing.assert_allclose(d.x_train[:, 0], [[1.5, 2.5], [3, 4]])
  np.testing.assert_allclose(d.x_test[:, 0], [[0.5, 0.5]])
  # 1.0000000e+00 in one file and 1 in the other are the same class.
  assert d.class_names == ('1', '2')
  np.testing.assert_array_equal(d.y_test, [0])


TS_TRAIN = """# a comment
@problemName Toy
@timeStamps false
@missing true
@univariate true
@equalLength true
@seriesLength 3
@classLabel true up down
@data
1,2,3:up
# another comment
3,?,1:down
"""


def test_ts_parser_with_comments_missing_values_and_string_labels(tmp_path):
  root = write_pair(tmp_path, 'Toy', TS_TRAIN,
                    TS_TRAIN.replace('1,2,3:up', '0,0,1:up'), ext='.ts')
  d = data.load_dataset(root, 'Toy', RAW)
  assert d.class_names == ('down', 'up')
  np.testing.assert_array_equal(d.y_train, [1, 0])
  np.testing.assert_allclose(d.x_train[:, 0], [[1, 2, 3], [3, 2, 1]])


@pytest.mark.parametrize('bad, expected', [
    (TS_TRAIN.replace('@seriesLength 3', '@seriesLength 4'),
     r'line 10: 3 values, but the header says .*@seriesLength 4'),
    (TS_TRAIN.replace('3,?,1:down', '3,2,1:left'),
     r"line 12: label 'left' is not in the header's @classLabel"),
    (TS_TRAIN.replace('3,?,1:down', '3,2,1'), r'line 12: expected 1 channel'),
    (TS_TRAIN.replace('@data\n', ''), 'line 9: expected a @-header or @data'),
    (TS_TRAIN.replace('3,?,1:down', '3,x,1:down'), r"line 12, column 2: 'x' is not a number"),
])
def test_ts_header_that_does_not_match_its_data(tmp_path, bad, expected):
  root = write_pair(tmp_path, 'Toy', bad, TS_TRAIN, ext='.ts')
  with pytest.raises(data.DataError, match=expected) as e:
    data.load_dataset(root, 'Toy', RAW)
  assert 'Toy_TRAIN.ts' in str(e.value)


def test_npz(tmp_path):
  path = tmp_path / 'Mine.npz'
  np.savez(path, X_train=np.arange(12.).reshape(4, 3), y_train=[3, 5, 3, 5],
           X_test=np.ones((2, 1, 3)), y_test=[5, 3])
  d = data.load_dataset(str(tmp_path), 'Mine', RAW)
  assert d.x_train.shape == (4, 1, 3) and d.x_test.shape == (2, 1, 3)
  np.testing.assert_array_equal(d.y_test, [1, 0])
  np.savez(path, X_train=np.ones((4, 3)), y_train=[1, 2, 1, 2])
  with pytest.raises(data.DataError, match=r"lacks the arrays \['X_test'"):
    data.load_dataset(str(tmp_path), 'Mine', RAW)


def test_missing_dataset_error_names_paths_and_fix(tmp_path):
  with pytest.raises(data.DataError) as e:
    data.load_dataset(str(tmp_path), 'GunPoint',
                      data.Options(download=False))
  message = str(e.value)
  assert os.path.join('UCRArchive_2018', 'GunPoint', 'GunPoint_TRAIN.tsv') in message
  assert 'Downloads are off' in message
  assert 'GunPoint_TRAIN.tsv and GunPoint_TEST.tsv in' in message


def test_unknown_name_lists_closest_archive_names(tmp_path):
  with pytest.raises(data.DataError, match=r'closest: GunPoint'):
    data.load_dataset(str(tmp_path), 'GunPont', data.Options(download=True))


@pytest.mark.parametrize('train, expected', [
    ('', 'is empty'),
    ('1\t0.5\tabc\n2\t1\t2\n', "line 1, column 3: 'abc' is not a number"),
    ('1\t0.5\t1\n2\t1\t2\t3\t4\n', 'rows of different lengths'),
    ('1\t0.5\t1\n1\t1\t2\n', 'one class only'),
    ('1\tNaN\tNaN\n2\t1\t2\n', 'line 1: the series has no values'),
])
def test_bad_files_give_clear_errors(tmp_path, train, expected):
  root = write_pair(tmp_path, 'B', train, '1\t1\t1\n')
  with pytest.raises(data.DataError, match=expected) as e:
    data.load_dataset(root, 'B')
  assert 'B_TRAIN.tsv' in str(e.value)


def test_one_split_missing(tmp_path):
  root = write_pair(tmp_path, 'H', '1\t1\t2\n2\t2\t3\n', '')
  os.remove(os.path.join(root, 'UCRArchive_2018', 'H', 'H_TEST.tsv'))
  with pytest.raises(data.DataError, match='H_TEST.tsv is missing'):
    data.load_dataset(root, 'H')


def test_unseen_test_label_is_an_error(tmp_path):
  root = write_pair(tmp_path, 'U', '1\t1\t2\n2\t2\t3\n', '3\t1\t1\n')
  with pytest.raises(data.DataError, match=r"never seen in training: \['3'\]"):
    data.load_dataset(root, 'U')


def test_cbf_generator_shapes_balance_and_determinism():
  x_train, y_train, x_test, y_test = synthetic.make_cbf(30, 90, seed=1)
  assert x_train.shape == (30, 128) and x_test.shape == (90, 128)
  assert np.bincount(y_train).tolist() == [10, 10, 10]
  assert np.bincount(y_test).tolist() == [30, 30, 30]
  again = synthetic.make_cbf(30, 90, seed=1)
  np.testing.assert_array_equal(x_train, again[0])
  other = synthetic.make_cbf(30, 90, seed=2)
  assert not np.allclose(x_train, other[0])
  # t = 33..48 lies inside [a, b] for every series (a <= 32, b >= a + 32):
  # there a cylinder sits at 6 + eta, a bell has barely risen, a funnel has
  # barely fallen; before t = 16 every series is noise around 0.
  x, y = synthetic.cbf(3000, np.random.default_rng(0))
  inside, before = x[:, 32:48].mean(axis=1), x[:, :15].mean(axis=1)
  assert 5.5 < inside[y == 0].mean() < 6.5
  assert inside[y == 2].mean() - inside[y == 1].mean() > 2
  assert abs(before.mean()) < 0.05


def test_synthetic_dataset_by_name():
  d = data.load_dataset('unused', 'synthetic:cbf',
                        data.Options(synthetic_train_size=12,
                                     synthetic_test_size=6))
  assert d.x_train.shape == (12, 1, 128) and d.num_classes == 3
  assert d.class_names == ('bell', 'cylinder', 'funnel')


def test_validation_split_holds_out_part_of_train_and_drops_test():
  def load(**kwargs):
    return data.load_dataset('unused', 'synthetic:cbf', data.Options(
        synthetic_train_size=30, synthetic_test_size=30, **kwargs))
  full = load()
  options = dict(validation_fraction=0.2, validation_seed=3)
  split = load(**options)
  # 30 training series, 10 per class; 2 of each are held out.
  assert split.x_train.shape == (24, 1, 128)
  assert split.x_test.shape == (6, 1, 128)
  assert np.bincount(split.y_test).tolist() == [2, 2, 2]
  rows = {r.tobytes() for r in full.x_train}
  train_rows = {r.tobytes() for r in split.x_train}
  held_out = {r.tobytes() for r in split.x_test}
  assert train_rows | held_out == rows and not train_rows & held_out
  assert not held_out & {r.tobytes() for r in full.x_test}
  assert 'test set not used' in split.provenance['evaluation']
  again = load(**options)
  np.testing.assert_array_equal(again.x_test, split.x_test)
  other = load(validation_fraction=0.2, validation_seed=4)
  assert not np.array_equal(other.x_test, split.x_test)
  # A class with a single series stays in training.
  keep, held_out = preprocess.validation_indices(np.array([0, 0, 0, 1, 2]), 3, 0.5,
                                           0)
  assert [0, 0, 0, 1, 2][held_out[0]] == 0 and len(held_out) == 2
  assert sorted(np.array([0, 0, 0, 1, 2])[keep].tolist()) == [0, 1, 2]
  with pytest.raises(data.DataError, match='validation_fraction'):
    preprocess.validation_indices(full.y_train, 3, 1.0, 0)


def test_channel_statistics_never_include_the_validation_series():
  options = data.Options(synthetic_train_size=30, synthetic_test_size=30,
                         normalisation='channel', validation_fraction=0.3,
                         validation_seed=1)
  split = data.load_dataset('unused', 'synthetic:cbf', options)
  # Normalised with the kept training series' own statistics: exactly mean
  # 0 and deviation 1 over them (with the held-out ones in the statistics,
  # as before, they would not be).
  np.testing.assert_allclose(split.x_train.mean(axis=(0, 2)), 0, atol=1e-6)
  np.testing.assert_allclose(split.x_train.std(axis=(0, 2)), 1, atol=1e-5)
  assert abs(float(split.x_test.mean())) > 1e-3


TS_MULTI = """@problemName M
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true a b
@data
1,2,3,4:10,20,30,40:a
4,?,2:40,30,20:b
5,6,7,8:1,2,3,4:a
"""


def test_multivariate_ts_with_lengths_and_missing_values(tmp_path):
  root = write_pair(tmp_path, 'M', TS_MULTI, TS_MULTI, ext='.ts')
  d = data.load_dataset(root, 'M', RAW)
  assert d.x_train.shape == (3, 2, 4) and d.num_channels == 2
  np.testing.assert_allclose(d.x_train[0], [[1, 2, 3, 4], [10, 20, 30, 40]])
  # Line 10: 3 values with a gap, interpolated, then resampled to 4.
  np.testing.assert_allclose(d.x_train[1, 0], [4, 10 / 3, 8 / 3, 2])
  np.testing.assert_allclose(d.x_train[1, 1], [40, 100 / 3, 80 / 3, 20])
  assert d.provenance['interpolated']['train'] == 1
  assert d.provenance['resampled']['train'] == 1
  z = data.load_dataset(root, 'M')
  np.testing.assert_allclose(z.x_train.std(axis=-1), 1, atol=1e-5)


@pytest.mark.parametrize('bad, expected', [
    (TS_MULTI.replace('5,6,7,8:1,2,3,4:a', '5,6,7,8:a'),
     r'line 11: expected 2 channel\(s\) then the label'),
    (TS_MULTI.replace('5,6,7,8:1,2,3,4:a', '5,6,7,8:1,2,3:a'),
     r'line 11: its channels have different lengths \(4, 3 values\)'),
    (TS_MULTI.replace('@dimensions 2\n', ''), '@dimensions header is missing'),
    (TS_MULTI.replace('@timeStamps false', '@timeStamps true'),
     'time, value'),
    (TS_MULTI.replace('5,6,7,8:1,2,3,4:a', '5,6,x,8:1,2,3,4:a'),
     r"line 11, column 3: 'x' is not a number"),
])
def test_bad_multivariate_ts_files(tmp_path, bad, expected):
  root = write_pair(tmp_path, 'M', bad, TS_MULTI, ext='.ts')
  with pytest.raises(data.DataError, match=expected):
    data.load_dataset(root, 'M')


def test_npz_with_channels(tmp_path):
  rng = np.random.default_rng(0)
  np.savez(tmp_path / 'C.npz', X_train=rng.normal(size=(4, 3, 10)),
           y_train=np.array(['u', 'v', 'u', 'v']),
           X_test=rng.normal(size=(2, 3, 10)), y_test=np.array(['v', 'u']))
  d = data.load_dataset(str(tmp_path), 'C')
  assert d.x_train.shape == (4, 3, 10) and d.class_names == ('u', 'v')
  np.testing.assert_array_equal(d.y_test, [1, 0])


def test_multivariate_names_and_where_they_go():
  assert len(data.multivariate_names()) == 30
  assert len(data.univariate_names()) == 128
  assert 'JapaneseVowels' in data.multivariate_names()
  pairs, _ = data.candidate_paths('D', 'JapaneseVowels')
  assert ('D/Multivariate_ts/JapaneseVowels/JapaneseVowels_TRAIN.ts',
          'D/Multivariate_ts/JapaneseVowels/JapaneseVowels_TEST.ts') in pairs


def test_channel_normalisation_uses_the_training_sets_statistics(tmp_path):
  rng = np.random.default_rng(0)
  x_train = rng.normal(size=(5, 2, 8)) * [[3.0], [0.1]] + [[10.0], [-2.0]]
  x_test = rng.normal(size=(3, 2, 8)) + 50.0
  np.savez(tmp_path / 'N.npz', X_train=x_train, y_train=[0, 1, 0, 1, 0],
           X_test=x_test, y_test=[1, 0, 1])
  d = data.load_dataset(str(tmp_path), 'N',
                        data.Options(normalisation='channel'))
  np.testing.assert_allclose(d.x_train.mean(axis=(0, 2)), 0, atol=1e-5)
  np.testing.assert_allclose(d.x_train.std(axis=(0, 2)), 1, atol=1e-5)
  # Series keep their differences in level; the test set is scaled by the
  # training set's numbers, not its own.
  assert not np.allclose(d.x_train.mean(axis=2), 0, atol=0.05)
  mean, std = x_train.mean(axis=(0, 2)), x_train.std(axis=(0, 2))
  np.testing.assert_allclose(
      d.x_test, (x_test - mean[:, None]) / std[:, None], rtol=1e-4)


def test_imbalance_cuts_a_seeded_half_of_the_classes_to_the_ratio():
  y = np.repeat(np.arange(4), [40, 30, 40, 20])
  keep, what = preprocess.subsample_indices(y, 4, 4.0, 0, seed=3)
  counts = np.bincount(y[keep], minlength=4)
  cut = what['reduced_classes']
  assert len(cut) == 2 and counts.tolist() == what['class_counts']
  assert all(counts[c] == 10 for c in cut)  # round(40 / 4)
  assert all(counts[c] == [40, 30, 40, 20][c] for c in set(range(4)) - set(cut))
  assert counts.max() / counts.min() >= 3
  again, _ = preprocess.subsample_indices(y, 4, 4.0, 0, seed=3)
  other, other_what = preprocess.subsample_indices(y, 4, 4.0, 0, seed=4)
  np.testing.assert_array_equal(keep, again)
  assert not np.array_equal(keep, other) or cut != other_what[
      'reduced_classes']
  # A tiny ratio's target never drops below two series per class.
  keep, _ = preprocess.subsample_indices(y, 4, 1000.0, 0, seed=0)
  assert np.bincount(y[keep], minlength=4).min() == 2
  # Two classes: one is cut.
  keep, what = preprocess.subsample_indices(np.repeat([0, 1], 16), 2, 16.0, 0,
                                            seed=0)
  assert sorted(what['class_counts']) == [2, 16]


def test_shots_keep_k_series_per_class():
  y = np.repeat(np.arange(3), [10, 3, 7])
  keep, what = preprocess.subsample_indices(y, 3, 0.0, 4, seed=0)
  assert np.bincount(y[keep]).tolist() == [4, 3, 4] == what['class_counts']
  assert what['shots'] == 4 and what['of'] == [10, 3, 7]
  assert len(set(keep)) == len(keep)


def test_a_subsampled_training_set_leaves_the_test_set_untouched():
  base = dict(synthetic_train_size=60, synthetic_test_size=30,
              download=False)
  whole = data.load_dataset('data', 'synthetic:cbf', data.Options(**base))
  few = data.load_dataset('data', 'synthetic:cbf', data.Options(
      shots=4, subsample_seed=1, **base))
  rare = data.load_dataset('data', 'synthetic:cbf', data.Options(
      imbalance_ratio=5.0, subsample_seed=1, **base))
  for d in (few, rare):
    np.testing.assert_array_equal(d.x_test, whole.x_test)
    np.testing.assert_array_equal(d.y_test, whole.y_test)
    # Every training series kept is one of the whole set's, label and all.
    for x, y in zip(d.x_train, d.y_train):
      match = np.flatnonzero((whole.x_train == x).all(axis=(1, 2)))
      assert len(match) == 1 and whole.y_train[match[0]] == y
  assert np.bincount(few.y_train).tolist() == [4, 4, 4]
  assert few.provenance['subsample']['shots'] == 4
  counts = np.bincount(rare.y_train, minlength=3)
  assert sorted(counts)[0] == 4 and counts.max() == 20  # CBF: 20 per class
  assert rare.provenance['subsample']['seed'] == 1
