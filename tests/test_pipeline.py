import json
import os
import sys

import jax
import numpy as np
import pytest

from lstsaug_jax import auto
from lstsaug_jax import data
from lstsaug_jax import loop
from lstsaug_jax import metrics
from lstsaug_jax import parallel
from lstsaug_jax import pipeline
from lstsaug_jax import programs
from lstsaug_jax import reporting
from lstsaug_jax import stages
from lstsaug_jax.errors import ConfigError


def test_wandb_offline_logs_every_stage(tiny_config, monkeypatch):
  monkeypatch.setenv('WANDB_MODE', 'offline')
  monkeypatch.setenv('WANDB_SILENT', 'true')
  logged = []
  real_start = reporting.start_wandb

  class Recording:  # the real offline run, with what it is sent recorded
    def __init__(self, run):
      self.run = run

    def log(self, record):
      logged.append(record)
      self.run.log(record)

    def finish(self):
      self.run.finish()

  monkeypatch.setattr(reporting, 'start_wandb',
                      lambda *a: Recording(real_start(*a)))
  tiny_config.wandb = True
  tiny_config.baseline = True
  tiny_config.test_augment = True
  results = pipeline.run(tiny_config).results
  offline_runs = [d for d in os.listdir(os.path.join(results['run_dir'],
                                                     'wandb'))
                  if d.startswith('offline-run')]
  assert len(offline_runs) == 1
  # Every epoch of every stage, as metrics.jsonl holds them.
  with open(os.path.join(results['run_dir'], 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  stages = [r['stage'] for r in records]
  assert set(stages) == {'vae', 'baseline', 'augmented'}
  assert [sorted({k.split('/')[0] for k in r}) for r in logged] == [
      [s] for s in stages]
  assert [r[f'{s}/loss'] for r, s in zip(logged, stages)] == [
      r['loss'] for r in records]


def test_wandb_not_installed_is_a_clear_error(tiny_config, monkeypatch):
  monkeypatch.setitem(sys.modules, 'wandb', None)  # import fails
  tiny_config.wandb = True
  with pytest.raises(ConfigError, match='pip install wandb'):
    pipeline.run(tiny_config)


def test_invalid_fields_are_reported_together(tiny_config):
  tiny_config.noise = -1.0
  tiny_config.num_samples = 0
  with pytest.raises(ValueError) as e:
    pipeline.run(tiny_config)
  assert 'noise=-1.0' in str(e.value) and 'num_samples=0' in str(e.value)


def test_results_json_agrees_with_the_saved_predictions(tiny_config):
  tiny_config.baseline = True
  tiny_config.test_augment = True
  tiny_config.num_seeds = 2
  run = pipeline.run(tiny_config)
  run_dir = run.results['run_dir']
  with open(os.path.join(run_dir, 'results.json')) as f:
    saved = json.load(f)
  dataset = data.load(tiny_config)
  assert (saved['train_size'], saved['augmented_train_size'],
          saved['test_size'], saved['seeds']) == (30, 60, 90, [42, 43])
  predictions = np.load(os.path.join(run_dir, 'predictions.npz'))
  np.testing.assert_array_equal(predictions['y_true'], dataset.y_test)
  assert list(predictions['class_names']) == list(dataset.class_names)
  for stage in ('baseline', 'augmented'):
    preds = predictions[stage]
    assert preds.shape == (2, 90)
    assert saved[f'{stage}_accuracy_per_seed'] == [
        metrics.accuracy(dataset.y_test, p) for p in preds]
    assert saved[f'{stage}_f1_per_seed'] == [
        metrics.weighted_f1(dataset.y_test, p) for p in preds]
    for name in ('balanced_accuracy', 'macro_f1'):
      assert saved[f'{stage}_{name}_per_seed'] == [
          getattr(metrics, name)(dataset.y_test, p) for p in preds]
    assert saved[f'{stage}_accuracy'] == pytest.approx(
        np.mean(saved[f'{stage}_accuracy_per_seed']))
    # The returned trained states give those predictions again.
    model, states = run.classifiers[stage]
    np.testing.assert_array_equal(
        loop.predict(model, states, dataset.x_test), preds)
  x_aug, y_aug, w_aug = run.augmented
  assert x_aug.shape == (2, 60, 1, 128) and y_aug.shape == (2, 60, 3)
  np.testing.assert_array_equal(x_aug[1, :30], dataset.x_train)
  np.testing.assert_array_equal(np.argmax(y_aug[1], -1),
                                np.tile(dataset.y_train, 2))
  np.testing.assert_array_equal(w_aug, 1.0)


def test_each_seed_of_a_many_seed_run_is_its_one_seed_run(tiny_config):
  """Through pipeline.seed_keys, as runs build their keys."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(10, 1, 12)).astype(np.float32)
  y = np.arange(10) % 2
  tiny_config.num_epochs = 3
  tiny_config.batch_size = 4
  toy = data.Dataset('toy', x, y, x, y, ('a', 'b'))

  def train(seeds):
    losses = {}
    logger = type('L', (), {'log': lambda self, stage, r: losses.setdefault(
        seeds[r['seed_index']], []).append(r['loss'])})()
    ctx = pipeline.context(tiny_config, toy, logger, seeds,
                           parallel.Placement())
    return stages.train_vae(ctx), losses

  (both, both_losses), (alone, alone_losses) = train([42, 43]), train([43])
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a[1], b[0], rtol=1e-5,
                                              atol=1e-6), both, alone)
  np.testing.assert_allclose(both_losses[43], alone_losses[43], rtol=1e-6)
  assert not np.allclose(both['head']['kernel'][0], both['head']['kernel'][1])


def test_classifier_plan_floors_the_batch_and_matches_the_steps(tiny_config):
  c = tiny_config.classifier
  c.num_epochs, c.batch_size, c.max_batch_fraction = 40, 64, 0.1
  plan = programs.classifier_plan
  # Fawaz et al.'s rule alone: 20 series train at batch 2, 40 at batch 4.
  assert plan(tiny_config, 20).batch_size == 2
  assert plan(tiny_config, 20, 40).batch_size == 4  # budget='epochs'
  c.min_batch_size = 8
  p = plan(tiny_config, 20)
  assert (p.batch_size, p.num_epochs, p.steps) == (8, 40, 120)
  assert plan(tiny_config, 6).batch_size == 6  # never more than n
  # budget='epochs': the doubled set takes twice the steps.
  p = plan(tiny_config, 20, 40)
  assert (p.batch_size, p.num_epochs, p.steps) == (8, 40, 200)
  # budget='steps': the batch of the original set, the baseline's steps.
  c.budget = 'steps'
  p = plan(tiny_config, 20, 40)
  assert (p.batch_size, p.num_epochs, p.steps, p.plateau_steps) == (
      8, 24, 120, 3)
  assert plan(tiny_config, 20).steps == 120
  # A minimum number of steps: more epochs for small sets.
  c.min_steps = 500
  p = plan(tiny_config, 20)
  assert (p.num_epochs, p.steps) == (167, 501)
  p = plan(tiny_config, 20, 40)
  assert (p.batch_size, p.steps) == (8, 505) and p.num_epochs == 101
  c.budget = 'epochs'
  assert plan(tiny_config, 20).num_epochs == 167


def test_label_filter_keeps_the_synthetic_series_the_baseline_labels_so(
    tiny_config, monkeypatch):
  tiny_config.classifier.num_epochs = 20
  tiny_config.classifier.learning_rate = 1e-2
  dataset = data.load(tiny_config)
  x, y = dataset.x_train, dataset.y_train
  n, seeds = len(x), [42, 43]
  ctx = pipeline.context(tiny_config, dataset, reporting.NullLogger(), seeds,
                         parallel.Placement())
  # Three copies of every series as the "synthetic" part, one per label:
  # whatever a classifier predicts, exactly one copy of each carries it.
  labels = np.concatenate([y, (y + 1) % 3, (y + 2) % 3])
  probs = stages.one_hot(np.concatenate([y, labels]), 3)
  fixed = (np.broadcast_to(np.concatenate([x] * 4), (2, 4 * n) + x.shape[1:]),
           np.broadcast_to(probs, (2,) + probs.shape), np.ones((2, 4 * n)))
  trained = []
  train_classifier = stages.train_classifier

  def spy(*args, **kwargs):
    trained.append((args, train_classifier(*args, **kwargs)))
    return trained[-1][1]
  monkeypatch.setattr(stages, 'train_classifier', spy)
  _, _, w = stages.filter_labels(ctx, fixed, 'filter')
  np.testing.assert_array_equal(w[:, :n], 1.0)  # the originals stay
  kept = w[:, n:].reshape(2, 3, n)
  np.testing.assert_array_equal(kept.sum(axis=1), 1.0)
  # The label kept is the prediction of the baseline's model: trained on the
  # originals with the baseline's keys, and trained (not a random guess).
  ((args, baseline),) = trained
  assert args[0] is ctx and args[1] is x and args[2] is y
  assert args[4] is ctx.keys['baseline_train']
  predicted = loop.predict(baseline['model'], baseline['states'], x)
  chosen = labels.reshape(3, n)[kept.argmax(1), np.arange(n)]
  np.testing.assert_array_equal(chosen, predicted)
  assert (predicted == y).mean() > 0.8


def test_a_fixed_sets_weight_scales_its_synthetic_series_only(tiny_config):
  dataset = data.load(tiny_config)
  n, seeds = len(dataset.x_train), [42, 43]
  ctx = pipeline.context(tiny_config, dataset, reporting.NullLogger(), seeds,
                         parallel.Placement())
  sets = {}
  for spec in ('jitter', 'jitter(weight=0.5)'):
    aug = auto.parse_method(spec)
    sets[spec] = [np.asarray(a) for a in stages.fixed_sets(
        ctx, aug, None, 'augmented')]
  (x1, y1, w1), (x2, y2, w2) = sets.values()
  np.testing.assert_array_equal(x2, x1)  # the same draws
  np.testing.assert_array_equal(y2, y1)
  np.testing.assert_array_equal(w1[:, :n], 1.0)
  np.testing.assert_array_equal(w2[:, :n], 1.0)
  np.testing.assert_array_equal(w1[:, n:], 1.0)
  np.testing.assert_array_equal(w2[:, n:], 0.5)
