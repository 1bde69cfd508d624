"""The loop around the epochs: which model is reported, the NaN check,
predictions, and BatchNorm statistics for averaged weights."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lstsaug_jax import loop
from lstsaug_jax import models
from lstsaug_jax import pipeline
from lstsaug_jax import train
from lstsaug_jax.errors import TrainingError


def test_min_train_loss_keeps_each_seeds_lowest_loss_epoch():
  # Epoch e sets every parameter to e, and reports a scripted loss per seed.
  losses = jnp.array([[3.0, 1.0, 2.0, 5.0],
                      [4.0, 3.0, 2.0, 2.5],
                      [9.0, 2.0, 9.0, 1.0]]).T  # (epochs, seeds)

  def epoch_fn(states, x, y, keys, epoch, *unused):
    value = jnp.full((3,), epoch + 1.0)
    states = states.replace(
        step=states.step + 1, params={'w': value[:, None] * jnp.ones((3, 2))},
        batch_stats={'mean': value})
    return states, dict(loss=losses[epoch], learning_rate_scale=jnp.ones(3))

  states = train.TrainState(step=jnp.zeros(3, jnp.int32),
                            params={'w': jnp.zeros((3, 2))},
                            batch_stats={'mean': jnp.zeros(3)}, opt_state=())
  run = lambda selection: loop.fit(
      epoch_fn, states, jnp.zeros((4, 2)), jnp.zeros(4), jnp.zeros((3, 2)),
      4, desc='t', learning_rate=1.0, progress=False,
      model_selection=selection)
  best, selected = run('min_train_loss')
  np.testing.assert_array_equal(selected, [2, 3, 4])
  np.testing.assert_array_equal(best.params['w'][:, 0], [2, 3, 4])
  np.testing.assert_array_equal(best.batch_stats['mean'], [2, 3, 4])
  assert int(best.step[0]) == 4  # training itself ran to the end
  final, selected = run('final')
  np.testing.assert_array_equal(selected, [4, 4, 4])
  np.testing.assert_array_equal(final.params['w'][:, 0], [4, 4, 4])
  with pytest.raises(ValueError, match='model_selection'):
    run('best_test_accuracy')


def test_average_is_the_mean_of_the_last_epochs_weights():
  # Epoch e sets seed k's parameters to (e + 1) * (k + 1) + e^2, so the
  # mean over epochs is not any one epoch's value.
  def epoch_fn(states, x, y, keys, epoch, *unused):
    value = (epoch + 1.0) * jnp.arange(1.0, 4.0) + epoch ** 2
    states = states.replace(
        step=states.step + 1, params={'w': value[:, None] * jnp.ones((3, 2))},
        batch_stats={'mean': -value})
    return states, dict(loss=jnp.ones(3), learning_rate_scale=jnp.ones(3))

  states = train.TrainState(step=jnp.zeros(3, jnp.int32),
                            params={'w': jnp.zeros((3, 2))},
                            batch_stats={'mean': jnp.zeros(3)}, opt_state=())
  def run(num_epochs, fraction):
    return loop.fit(
        epoch_fn, states, jnp.zeros((4, 2)), jnp.zeros(4), jnp.zeros((3, 2)),
        num_epochs, desc='t', learning_rate=1.0, progress=False,
        model_selection='average', average_fraction=fraction)
  values = lambda e: (e + 1.0) * np.arange(1.0, 4.0) + e ** 2  # epoch e
  averaged, selected = run(8, 0.25)  # the last 2 of 8 epochs: 6 and 7
  np.testing.assert_array_equal(selected, [8, 8, 8])
  expected = (values(6) + values(7)) / 2
  np.testing.assert_allclose(averaged.params['w'][:, 1], expected, rtol=1e-6)
  np.testing.assert_allclose(averaged.batch_stats['mean'], -expected,
                             rtol=1e-6)
  assert int(averaged.step[0]) == 8
  averaged, _ = run(5, 0.5)  # 2.5, rounded up: 3 epochs, 2 to 4
  np.testing.assert_allclose(averaged.params['w'][:, 0],
                             (values(2) + values(3) + values(4)) / 3,
                             rtol=1e-6)
  averaged, _ = run(3, 1.0)  # every epoch
  np.testing.assert_allclose(averaged.params['w'][:, 0],
                             (values(0) + values(1) + values(2)) / 3,
                             rtol=1e-6)
  averaged, _ = run(4, 0.01)  # at least the last epoch: the final model
  np.testing.assert_allclose(averaged.params['w'][:, 0], values(3), rtol=1e-6)
  assert [loop.averaged_epochs(n, f) for n, f in
          ((40, 0.25), (10, 0.25), (30, 0.1), (1, 0.25), (3, 1.0))] == [
              10, 3, 3, 1, 3]


def test_predict_batches_and_pads():
  model = models.create_classifier('resnet_tiny', 3)
  x = jax.random.normal(jax.random.PRNGKey(0), (7, 16))
  states = train.init_states(model, optax.adam(1e-3),
                             jax.random.split(jax.random.PRNGKey(1), 2),
                             lambda k: (x[:1],))
  full = loop.predict(model, states, x, batch_size=100)
  batched = loop.predict(model, states, x, batch_size=3)
  assert full.shape == (2, 7)
  np.testing.assert_array_equal(full, batched)


def scripted_fit(losses, selection='final', **kwargs):
  """loop.fit over an epoch function that reports scripted losses
  (epochs, seeds) and sets every parameter to the epoch number."""
  losses = jnp.asarray(losses)
  seeds = losses.shape[1]

  def epoch_fn(states, x, y, keys, epoch, *unused):
    value = jnp.full((seeds,), epoch + 1.0)
    states = states.replace(step=states.step + 1,
                            params={'w': value[:, None] * jnp.ones((seeds, 2))},
                            batch_stats={})
    return states, dict(loss=losses[epoch],
                        learning_rate_scale=jnp.ones(seeds))

  states = train.TrainState(step=jnp.zeros(seeds, jnp.int32),
                            params={'w': jnp.zeros((seeds, 2))},
                            batch_stats={}, opt_state=())
  return loop.fit(epoch_fn, states, jnp.zeros((4, 2)), jnp.zeros(4),
                   jnp.zeros((seeds, 2)), losses.shape[0], desc='augmented',
                   learning_rate=1.0, progress=False,
                   model_selection=selection, **kwargs)


@pytest.mark.parametrize('selection', loop.MODEL_SELECTIONS)
def test_a_non_finite_loss_stops_training_naming_stage_epoch_and_seed(
    selection):
  # Every epoch NaN: min_train_loss used to return its all-zero buffers.
  with pytest.raises(TrainingError,
                     match=r'augmented: the training loss became nan at '
                     r'epoch 1 \(seed 43\)'):
    scripted_fit([[1.0, jnp.nan]] * 3, selection, seeds=[42, 43])
  with pytest.raises(TrainingError, match=r'became inf at epoch 3'):
    scripted_fit([[1.0], [0.5], [jnp.inf]], selection)


def test_recomputed_batch_stats_are_the_training_sets_statistics():
  """SWA's bn_update for averaged weights: the first BatchNorm's statistics
  become the mean and variance of its input over the training series
  (weighted by batch), not the average of the epochs' running ones."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(12, 1, 16)).astype(np.float32)
  model = models.create_classifier('resnet_tiny', 2)
  tx = train.create_optimizer(1e-3, 1)
  states = train.init_states(model, tx, jax.random.split(
      jax.random.PRNGKey(0), 2), lambda k: (x[:1],))
  recomputed = loop.recompute_batch_stats(model, states, x, batch_size=6)
  for seed in range(2):
    state = jax.tree_util.tree_map(lambda a: a[seed], states)
    _, inter = model.apply(
        {'params': state.params, 'batch_stats': state.batch_stats}, x,
        train=False, capture_intermediates=True)
    stem = np.asarray(inter['intermediates']['Conv1D_0']['__call__'][0])
    got = jax.tree_util.tree_map(lambda a: np.asarray(a[seed]),
                                 recomputed.batch_stats)['BatchNorm_0']
    halves = stem.reshape(2, 6, 16, -1)
    np.testing.assert_allclose(got['mean'], stem.mean(axis=(0, 1)),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got['var'], halves.var(axis=(1, 2)).mean(0),
                               rtol=1e-4, atol=1e-5)
  # Rows with loss weight 0 stay out.
  w = np.array([1.0] * 6 + [0.0] * 6, np.float32)
  first_half = loop.recompute_batch_stats(model, states, x, 6, w=w)
  only = loop.recompute_batch_stats(model, states, x[:6], 6)
  jax.tree_util.tree_map(np.testing.assert_allclose, first_half.batch_stats,
                         only.batch_stats)


def test_the_averaged_model_recomputes_its_statistics_by_default(tiny_config):
  tiny_config.baseline = True
  tiny_config.classifier.model_selection = 'average'
  tiny_config.classifier.average_fraction = 1.0
  recomputed = pipeline.run(tiny_config).classifiers['baseline'][1]
  tiny_config.classifier.average_batch_stats = 'average'
  averaged = pipeline.run(tiny_config).classifiers['baseline'][1]
  jax.tree_util.tree_map(np.testing.assert_array_equal, recomputed.params,
                         averaged.params)
  assert not np.allclose(recomputed.batch_stats['BatchNorm_0']['var'],
                         averaged.batch_stats['BatchNorm_0']['var'])


def test_eval_every_logs_test_metrics_and_never_selects():
  records, calls = [], []
  def evaluate(states):
    calls.append(int(states.step[0]))
    return dict(test_accuracy=np.array([0.99 if calls[-1] == 2 else 0.1]))
  best, selected = scripted_fit([[3.0], [2.0], [1.5], [1.0], [0.5]],
                                'min_train_loss', evaluate=evaluate,
                                eval_every=2, on_epoch=records.append)
  assert calls == [2, 4]
  assert [r['epoch'] for r in records if 'test_accuracy' in r] == [2, 4]
  assert [r['test_accuracy'] for r in records if 'test_accuracy' in r] == [
      0.99, 0.1]
  # The epoch with the best test accuracy (2) is not the one reported.
  np.testing.assert_array_equal(selected, [5])
  np.testing.assert_array_equal(best.params['w'][:, 0], [5.0])
