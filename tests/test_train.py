import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lstsaug_jax import models
from lstsaug_jax import pipeline
from lstsaug_jax import train
from lstsaug_jax.errors import TrainingError


def tiny_vae():
  return models.VAE(series_length=6, num_classes=2, latent_dim=3,
                    hidden_dims=(5,))


def test_vae_loss_terms_against_hand_computation():
  vae = tiny_vae()
  x = np.random.RandomState(0).randn(4, 1, 6).astype(np.float32)
  y = np.array([0, 1, 1, 0])
  mask = np.array([1, 1, 1, 0], np.float32)  # the last row is padding
  key = jax.random.PRNGKey(0)
  params = vae.init(key, x, key)['params']
  terms = train.vae_loss_terms(vae, params, x, y, mask, key)
  recon, mean, logvar, logits = (np.asarray(a, np.float64)
                                 for a in vae.apply({'params': params}, x, key))
  n = 3
  reconstruction = np.sum((recon[:n] - x[:n]) ** 2)
  kl = -0.5 * np.sum(1 + logvar[:n] - mean[:n] ** 2 - np.exp(logvar[:n]))
  log_probs = logits[:n] - np.log(np.sum(np.exp(logits[:n]), -1, keepdims=True))
  ce = -np.mean(log_probs[np.arange(n), y[:n]])
  assert float(terms['reconstruction']) == pytest.approx(reconstruction, rel=1e-5)
  assert float(terms['kl']) == pytest.approx(kl, rel=1e-5)
  assert float(terms['cross_entropy']) == pytest.approx(ce, rel=1e-5)
  assert float(terms['loss']) == pytest.approx(reconstruction + kl + ce,
                                               rel=1e-5)


def test_epoch_batches_cover_every_example_once():
  full, last, mask = train.epoch_batches(jax.random.PRNGKey(0), 10, 4)
  assert full.shape == (2, 4) and last.shape == (2,)
  np.testing.assert_array_equal(mask, [1, 1])
  assert sorted(np.concatenate([np.ravel(full), last]).tolist()) == list(
      range(10))
  # Data parallel over 4 devices: the remainder is padded to 4 and masked.
  full, last, mask = train.epoch_batches(jax.random.PRNGKey(0), 10, 4, 4)
  assert last.shape == (4,)
  np.testing.assert_array_equal(mask, [1, 1, 0, 0])
  assert sorted(np.concatenate([np.ravel(full), last[:2]]).tolist()) == list(
      range(10))
  # No remainder; a dataset smaller than a batch is one exact batch.
  assert train.epoch_batches(jax.random.PRNGKey(0), 8, 4)[1] is None
  full, last, _ = train.epoch_batches(jax.random.PRNGKey(0), 3, 64)
  assert full.shape == (0, 64) and last.shape == (3,)


def test_masked_padding_does_not_change_the_classifier_step():
  model = models.create_classifier('resnet_tiny', 2)
  # SGD: Adam would turn rounding-level differences in the (ideally zero)
  # gradients of biases before BatchNorm into steps of +-lr.
  tx = optax.sgd(0.1)
  x = jax.random.normal(jax.random.PRNGKey(0), (6, 20))
  y = jnp.array([0, 1, 0, 1, 0, 1])
  state = train.init_state(model, tx, jax.random.PRNGKey(1), x[:1])
  # Compiled, as in training (op by op, the step takes 20 s here).
  step = jax.jit(lambda state, x, y, mask: train.classifier_train_step(
      model, tx, state, x, y, mask, None))
  unpadded, m1 = step(state, x[:4], y[:4], jnp.ones(4))
  padded_x = x.at[4:].set(100.0)
  padded, m2 = step(state, padded_x, y, jnp.array([1, 1, 1, 1, 0, 0.]))
  assert float(m1['loss']) == pytest.approx(float(m2['loss']), rel=1e-5)
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
      (unpadded.params, unpadded.batch_stats),
      (padded.params, padded.batch_stats))


def test_epoch_trains_on_the_last_partial_batch():
  # A step that counts the examples it sees and sums their ids.
  def counting_step(model, tx, state, x, y, mask, key):
    del model, tx, y, key
    return state.replace(step=state.step + 1), dict(
        loss=jnp.sum(mask * x[:, 0]), correct=jnp.sum(mask))
  x = jnp.arange(10, dtype=jnp.float32)[:, None] * jnp.ones((1, 3))
  y = jnp.zeros(10, jnp.int32)
  states = train.TrainState(step=jnp.zeros(1, jnp.int32), params={},
                            batch_stats={}, opt_state=())
  epoch = train.make_epoch_fn(counting_step, None, None, 4)
  keys = jax.random.split(jax.random.PRNGKey(1), 1)
  states, metrics = epoch(states, x, y, keys, 0)
  assert int(states.step[0]) == 3  # 4 + 4 + 2, the partial batch not dropped
  # Every example was seen exactly once: 10 of them, ids summing to 45.
  assert int(metrics['correct'][0]) == 10
  assert float(metrics['loss'][0]) * 3 == pytest.approx(45.0)


def test_epoch_batch_size():
  assert train.epoch_batch_size(64) == 64
  assert train.epoch_batch_size(50, multiple=4) == 52


def test_training_is_deterministic_per_seed_and_lowers_the_loss():
  vae = tiny_vae()
  x = np.random.RandomState(0).randn(20, 1, 6).astype(np.float32)
  y = np.arange(20) % 2
  tx = train.create_optimizer(1e-2, train.steps_per_epoch(20, 8))
  def run(*seeds):
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    states = train.init_states(vae, tx, keys, lambda k: (x[:1], k))
    epoch = train.make_epoch_fn(train.vae_train_step, vae, tx, 8)
    losses = {}
    states, _ = train.fit(
        epoch, states, x, y, keys, 30, desc='t', learning_rate=1e-2,
        progress=False, on_epoch=lambda r: losses.setdefault(
            seeds[r['seed_index']], []).append(r['loss']))
    return states, losses
  (a, losses_a), (b, losses_b) = run(0), run(0)
  jax.tree_util.tree_map(np.testing.assert_array_equal, a.params, b.params)
  assert losses_a == losses_b and len(losses_a[0]) == 30
  assert losses_a[0][-1] < losses_a[0][0]
  # Two seeds in one vmapped program: each is the run of its seed alone.
  (both, losses_both), (c, losses_c) = run(0, 1), run(1)
  assert not np.allclose(both.params['head']['kernel'][0],
                         both.params['head']['kernel'][1])
  for i, alone in ((0, a), (1, c)):
    jax.tree_util.tree_map(
        lambda p, q: np.testing.assert_allclose(p[i], q[0], rtol=1e-4,
                                                atol=1e-5),
        both.params, alone.params)
  np.testing.assert_allclose(losses_both[1], losses_c[1], rtol=1e-4)


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
  run = lambda selection: train.fit(
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
    return train.fit(
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
  assert [train.averaged_epochs(n, f) for n, f in
          ((40, 0.25), (10, 0.25), (30, 0.1), (1, 0.25), (3, 1.0))] == [
              10, 3, 3, 1, 3]


def test_reduce_on_plateau_lowers_the_learning_rate():
  tx = train.create_optimizer(0.1, steps_per_epoch=2, plateau_factor=0.5,
                              plateau_patience=1)
  params = {'w': jnp.zeros(())}
  state = tx.init(params)
  for _ in range(10):  # a constant loss never improves
    _, state = tx.update({'w': jnp.ones(())}, state, params, value=1.0)
  assert float(train.learning_rate_scale(state)) < 1
  assert float(train.learning_rate_scale(optax.adam(0.1).init(params))) == 1


def test_predict_batches_and_pads():
  model = models.create_classifier('resnet_tiny', 3)
  x = jax.random.normal(jax.random.PRNGKey(0), (7, 16))
  states = train.init_states(model, optax.adam(1e-3),
                             jax.random.split(jax.random.PRNGKey(1), 2),
                             lambda k: (x[:1],))
  full = train.predict(model, states, x, batch_size=100)
  batched = train.predict(model, states, x, batch_size=3)
  assert full.shape == (2, 7)
  np.testing.assert_array_equal(full, batched)


def test_conv_plan():
  assert train.conv_plan('auto', 2, 'cpu') == ('xla', True)  # unrolled
  assert train.conv_plan('auto', 50, 'cpu') == ('matmul', 1)
  assert train.conv_plan('auto', 50, 'gpu') == ('xla', 1)
  assert train.conv_plan('matmul', 2, 'cpu') == ('matmul', 1)
  assert train.conv_plan('xla', 50, 'cpu') == ('xla', 1)
  assert train.conv_plan('auto', 2, 'cpu', seeds_sharded=True) == ('matmul', 1)


@pytest.mark.parametrize('conv_impl, unroll', [('matmul', 1), ('xla', True)])
def test_unrolled_native_epoch_matches_rolled_matmul_epoch(conv_impl, unroll):
  model = models.create_classifier('resnet_tiny', 2, conv_impl)
  reference = models.create_classifier('resnet_tiny', 2, 'matmul')
  tx = optax.sgd(0.1)  # Adam's first steps would amplify rounding to +-lr
  x = jax.random.normal(jax.random.PRNGKey(0), (10, 16))
  y = jnp.arange(10) % 2
  keys = jax.random.split(jax.random.PRNGKey(1), 1)
  results = []
  for m, u in ((model, unroll), (reference, 1)):
    states = train.init_states(m, tx, keys, lambda k: (x[:1],))
    epoch = train.make_epoch_fn(train.classifier_train_step, m, tx, 4,
                                unroll=u)
    results.append(epoch(states, x, y, keys, 0)[0].params)
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5),
      *results)


def scripted_fit(losses, selection='final', **kwargs):
  """train.fit over an epoch function that reports scripted losses
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
  return train.fit(epoch_fn, states, jnp.zeros((4, 2)), jnp.zeros(4),
                   jnp.zeros((seeds, 2)), losses.shape[0], desc='augmented',
                   learning_rate=1.0, progress=False,
                   model_selection=selection, **kwargs)


@pytest.mark.parametrize('selection', train.MODEL_SELECTIONS)
def test_a_non_finite_loss_stops_training_naming_stage_epoch_and_seed(
    selection):
  # Every epoch NaN: min_train_loss used to return its all-zero buffers.
  with pytest.raises(TrainingError,
                     match=r'augmented: the training loss became nan at '
                     r'epoch 1 \(seed 43\)'):
    scripted_fit([[1.0, jnp.nan]] * 3, selection, seeds=[42, 43])
  with pytest.raises(TrainingError, match=r'became inf at epoch 3'):
    scripted_fit([[1.0], [0.5], [jnp.inf]], selection)


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


def test_min_learning_rate_floors_the_plateau_rule():
  tx = train.create_optimizer(0.1, steps_per_epoch=1, plateau_factor=0.5,
                              plateau_patience=1, min_learning_rate=0.02)
  params = {'w': jnp.zeros(())}
  state = tx.init(params)
  scales = []
  for _ in range(12):  # a constant loss never improves
    _, state = tx.update({'w': jnp.ones(())}, state, params, value=1.0)
    scales.append(float(train.learning_rate_scale(state)))
  assert min(scales) == pytest.approx(0.2)  # 0.02 / 0.1, and no lower
  assert scales[-1] == pytest.approx(0.2) and scales[0] > 0.2


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
  recomputed = train.recompute_batch_stats(model, states, x, batch_size=6)
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
  first_half = train.recompute_batch_stats(model, states, x, 6, w=w)
  only = train.recompute_batch_stats(model, states, x[:6], 6)
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
