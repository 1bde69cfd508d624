"""The class-imbalance baselines (class_weight, ros, smote, adasyn) and
strategy='auto' fixed sets: balanced counts, originals first, what each
new series is, and the specs they refuse."""

import itertools

import numpy as np
import pytest

from lstsaug_jax import pipeline
from lstsaug_jax import resamplers
from lstsaug_jax import specs
from lstsaug_jax.errors import ConfigError

pytest.importorskip('aeon')


def two_classes(n=(20, 6), length=16, seed=0, shift=0.3):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(sum(n), 1, length)).astype(np.float32)
  x[n[0]:] += shift  # the classes overlap: ADASYN finds hard series
  return x, np.repeat(np.arange(2), n).astype(np.int32)


def on_a_segment(row, members):
  """Distance from row to the nearest segment between two of `members`."""
  best = np.inf
  for a, b in itertools.combinations(members, 2):
    d = b - a
    u = np.clip(np.dot(row - a, d) / max(np.dot(d, d), 1e-12), 0, 1)
    best = min(best, np.linalg.norm(row - (a + u * d)))
  return best


@pytest.mark.parametrize('name', ['ros', 'smote', 'adasyn'])
def test_each_resampler_brings_the_small_class_up_from_its_own_series(name):
  x, y = two_classes()
  method = specs.make_augmentation(name).method
  x_new, y_new = method.resample(x, y, 7)
  assert method.synthetic_count([20, 6]) == 14
  # ADASYN rounds each series' share of the 14, so its total may miss by 1.
  assert len(x_new) == 14 or (name == 'adasyn' and abs(len(x_new) - 14) <= 1)
  assert set(y_new) == {1}
  again, _ = method.resample(x, y, 7)
  other, _ = method.resample(x, y, 8)
  np.testing.assert_array_equal(x_new, again)
  assert not np.array_equal(x_new, other)
  small = x[y == 1, 0]
  for row in x_new[:, 0]:
    if name == 'ros':  # a copy of one of the class's series
      assert (small == row).all(axis=1).any()
    else:  # on the segment between two of the class's series
      assert on_a_segment(row, small) < 1e-4


def test_adasyn_on_classes_apart_draws_as_smote_does():
  x, y = two_classes(shift=10.0)
  np.testing.assert_array_equal(resamplers.Adasyn().resample(x, y, 3)[0],
                                resamplers.Smote().resample(x, y, 3)[0])


def test_smote_on_a_class_of_two_uses_its_one_neighbour():
  x, y = two_classes(n=(10, 2))
  x_new, _ = resamplers.Smote().resample(x, y, 0)
  assert len(x_new) == 8
  assert all(on_a_segment(r, x[y == 1, 0]) < 1e-4 for r in x_new[:, 0])
  # A class of one series: nothing to interpolate with, so copies of it.
  x, y = two_classes(n=(10, 1))
  y = np.concatenate([y, [2, 2, 2]]).astype(np.int32)
  x = np.concatenate([x, x[:3] + 5.0])
  for method in (resamplers.Smote(), resamplers.Adasyn()):
    x_new, y_new = method.resample(x, y, 0)
    assert np.bincount(y_new).tolist() == [0, 9, 7]
    np.testing.assert_array_equal(x_new[y_new == 1],
                                  np.repeat(x[y == 1], 9, axis=0))
    assert all(on_a_segment(r, x[y == 2, 0]) < 1e-4
               for r in x_new[y_new == 2][:, 0])


def test_balanced_class_weights_give_each_class_the_same_total():
  y = np.array([0] * 6 + [1] * 2 + [2] * 4)
  w = resamplers.balanced_class_weights(y, 3)
  totals = [w[y == c].sum() for c in range(3)]
  np.testing.assert_allclose(totals, len(y) / 3)
  assert w.mean() == pytest.approx(1.0)


def test_the_baselines_take_only_what_they_can_do():
  assert specs.make_augmentation('smote').strategy == 'auto'
  assert specs.make_augmentation('smote').label == 'smote'
  for spec in ('smote(mode=online)', "ros(strategy='per_original')"):
    with pytest.raises(ConfigError, match='class-imbalance baseline'):
      specs.make_augmentation(spec)
  with pytest.raises(ConfigError, match="imbalanced-learn's or aeon's own"):
    specs.generator('adasyn')
  with pytest.raises(ConfigError, match='n_neighbors=0 must be a whole'):
    specs.make_augmentation('smote(n_neighbors=0)')
  # strategy is a setting added later: at its default, keys do not change.
  assert 'strategy' not in specs.make_augmentation('latent').key
  assert "strategy='auto'" in specs.make_augmentation(
      'latent(strategy=auto)').key


@pytest.mark.parametrize('spec', ['class_weight', 'smote',
                                  'window_warp(strategy=auto)'])
def test_a_balanced_fixed_set_in_a_run(tiny_config, spec):
  c = tiny_config
  c.baseline, c.test_augment, c.num_seeds = False, True, 2
  c.synthetic_train_size, c.imbalance_ratio, c.subsample_seed = 60, 4.0, 0
  c.augment.method = spec
  run = pipeline.run(c)
  x, y, w = run.augmented
  counts = np.bincount(run.dataset.y_train)
  n = len(run.dataset.y_train)
  assert sorted(counts) == [5, 20, 20]  # CBF: 20 per class, one cut to 5
  np.testing.assert_array_equal(x[:, :n], np.stack([run.dataset.x_train] * 2))
  classes = y.argmax(-1)
  if spec == 'class_weight':
    assert x.shape[1] == n
    np.testing.assert_allclose(w[0], resamplers.balanced_class_weights(
        run.dataset.y_train, 3))
  else:
    assert x.shape[1] == 60 and (np.bincount(classes[0]) == 20).all()
    np.testing.assert_array_equal(w, 1.0)
    assert not np.array_equal(x[0, n:], x[1, n:])  # each seed its own draw
  assert run.results['augmented_train_size'] == x.shape[1]
