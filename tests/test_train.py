import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lstsaug_jax import loop
from lstsaug_jax import models
from lstsaug_jax import train


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
    states, _ = loop.fit(
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


def test_reduce_on_plateau_lowers_the_learning_rate():
  tx = train.create_optimizer(0.1, steps_per_epoch=2, plateau_factor=0.5,
                              plateau_patience=1)
  params = {'w': jnp.zeros(())}
  state = tx.init(params)
  for _ in range(10):  # a constant loss never improves
    _, state = tx.update({'w': jnp.ones(())}, state, params, value=1.0)
  assert float(train.learning_rate_scale(state)) < 1
  assert float(train.learning_rate_scale(optax.adam(0.1).init(params))) == 1


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


