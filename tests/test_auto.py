"""auto: the augmentation chosen by cross-validation on the training set,
never on the test set."""

import dataclasses
import json

import numpy as np
import pytest

from lstsaug_jax import auto
from lstsaug_jax import data
from lstsaug_jax import parallel
from lstsaug_jax import pipeline
from lstsaug_jax import reporting
from lstsaug_jax import stages
from lstsaug_jax.errors import ConfigError
from lstsaug_jax.experiments import results
from lstsaug_jax.experiments import runner


def toy_dataset(n=12, classes=3):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(n, 1, 8)).astype(np.float32)
  y = (np.arange(n) % classes).astype(np.int32)
  return data.Dataset('toy', x, y, x[:3] + 100.0, y[:3], ('a', 'b', 'c'))


def test_folds_are_stratified_disjoint_and_cover_the_training_set():
  y = np.array([0] * 7 + [1] * 5)
  parts = auto.folds(y, 3, seed=1)
  assert sorted(np.concatenate(parts).tolist()) == list(range(12))
  for part in parts:
    assert 2 <= np.sum(y[part] == 0) <= 3 and 1 <= np.sum(y[part] == 1) <= 2
  again = auto.folds(y, 3, seed=1)
  assert all((a == b).all() for a, b in zip(parts, again))


def scripted(accuracies):
  """A train_with that reports scripted accuracies per option label, and
  records the datasets it was given."""
  seen = []
  def train_with(fold, aug, vae_params, stage):
    seen.append(fold)
    return [accuracies['none' if aug is None else aug.label]] * 2
  return train_with, seen


@pytest.mark.parametrize('scores, chosen', [
    (dict(none=0.80, window_warp=0.85, jitter=0.70), 'window_warp'),
    (dict(none=0.80, window_warp=0.805, jitter=0.70), None),  # within margin
    (dict(none=0.90, window_warp=0.85, jitter=0.70), None),
])
def test_choose_takes_the_best_only_if_it_beats_none_by_the_margin(scores,
                                                                   chosen):
  choice = auto.Auto(candidates=('window_warp', 'jitter'), folds=3,
                     margin=0.01)
  train_with, seen = scripted(scores)
  dataset = toy_dataset()
  winner, cv, problem = auto.choose(choice, dataset, train_with)
  assert problem is None
  assert (winner.label if winner else None) == chosen
  assert cv == pytest.approx(scores)
  assert len(seen) == 9  # 3 folds x (none + 2 candidates)
  # Each fold evaluates on held-out training series, never the test set.
  train_rows = {r.tobytes() for r in dataset.x_train}
  for fold in seen:
    assert {r.tobytes() for r in fold.x_test} <= train_rows
    assert not {r.tobytes() for r in fold.x_test} & {
        r.tobytes() for r in fold.x_train}
    assert len(fold.x_train) + len(fold.x_test) == 12


def test_the_choice_never_reads_the_test_set(tiny_config, monkeypatch):
  """With the real training, the same choice and scores whether the test
  set is there or replaced by something unreadable."""
  tiny_config.classifier.num_epochs = 1
  dataset = data.load(tiny_config)
  choice = auto.parse("auto(candidates=('jitter(sigma=0.5)',), folds=2)")
  ctx = pipeline.context(tiny_config, dataset, reporting.NullLogger(), [42],
                         parallel.Placement())

  def train_with(fold, aug, vae_params, stage):
    scores, _ = stages.train_with(ctx.replace(dataset=fold), aug, None, stage)
    return scores['accuracy']

  with_test = auto.choose(choice, dataset, train_with)
  poisoned = dataclasses.replace(dataset, x_test=_Unreadable(),
                                 y_test=_Unreadable())
  without_test = auto.choose(choice, poisoned, train_with)
  assert with_test[1] == without_test[1]


class _Unreadable:
  """Any use of it fails the test."""

  def __getattr__(self, name):
    raise AssertionError('the test set was read')

  def __getitem__(self, item):
    raise AssertionError('the test set was read')

  def __len__(self):
    raise AssertionError('the test set was read')


def test_auto_in_a_sweep_trains_the_arm_it_chose_exactly(tiny_config,
                                                         tmp_path):
  config = tiny_config
  config.num_seeds = 1
  config.sweep.datasets = ('synthetic:cbf',)
  config.sweep.augmentations = ('jitter', "auto(candidates=('jitter',), "
                                'folds=2, margin=0.0)')
  config.sweep.results_csv = str(tmp_path / 'auto.csv')
  config.sweep.summarize = False
  runner.run_sweep(config)
  rows = {r['method']: r for r in results.read_rows(config.sweep.results_csv)}
  row = rows['auto']
  assert results.method_label(row['method'], row['settings']) == (
      "auto(candidates=('jitter',), folds=2, margin=0.0)")
  details = json.loads(row['details'])
  cv = details['cross_validated']
  assert set(cv) == {'none', 'jitter'}
  # The choice follows its own scores (margin 0), and auto then trains
  # that arm exactly as the sweep's own row of it: the same accuracy.
  chosen = 'jitter' if cv['jitter'] > cv['none'] else 'none'
  assert details['chosen'] == chosen
  arm = rows['baseline' if chosen == 'none' else 'jitter']
  assert row['accuracy'] == arm['accuracy']
  assert row['weighted_f1'] == arm['weighted_f1']


def test_folds_that_cannot_score_say_so_and_choose_none(monkeypatch):
  dataset = toy_dataset(n=6, classes=6)  # one series per class
  choice = auto.Auto(candidates=('jitter',), folds=3)
  train_with, seen = scripted(dict(none=0.0, jitter=0.0))
  winner, cv, problem = auto.choose(choice, dataset, train_with)
  assert winner is None and cv == {} and not seen
  assert '6 of 6 classes have a single training series' in problem
  assert 'cannot fill 3 folds' in auto.fold_problem(np.array([0, 1]), 3)
  assert auto.fold_problem(np.array([0, 0, 1, 1]), 3) is None


@pytest.mark.parametrize('spec, expected', [
    ('auto(folds=1)', 'folds=1 must be an integer >= 2'),
    ('auto(margin=2)', 'margin=2 must be in'),
    ("auto(candidates=('auto',))", 'cannot be its own candidate'),
    ('auto(speed=1)', 'auto has no setting speed'),
])
def test_bad_auto_specs(spec, expected):
  with pytest.raises(ConfigError, match=expected):
    auto.parse(spec)
