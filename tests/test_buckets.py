import dataclasses

import jax
import numpy as np
import optax
import pytest

from lstsaug_jax import buckets
from lstsaug_jax import data
from lstsaug_jax import loop
from lstsaug_jax import models
from lstsaug_jax import parallel
from lstsaug_jax import pipeline
from lstsaug_jax import stages
from lstsaug_jax import train


@pytest.fixture(autouse=True)
def _full_float32_matmuls():
  # These tests ask whether padding changes the arithmetic. On a GPU,
  # float32 matmuls default to TF32, and a padded matmul (another shape,
  # another kernel) rounds differently: on an H100 4 of these tests missed
  # by up to 3e-3 relative, and all passed at 'highest' (the masking is
  # exact; TF32 is not).
  with jax.default_matmul_precision('highest'):
    yield


def _dataset(n, length, num_classes, num_test=13, seed=0):
  rng = np.random.default_rng(seed)
  y = np.arange(n) % num_classes
  # Learnable: each class a different level, so training moves the weights.
  x = rng.normal(size=(n, 1, length)) + y[:, None, None]
  yt = np.arange(num_test) % num_classes
  xt = rng.normal(size=(num_test, 1, length)) + yt[:, None, None]
  return data.Dataset(f'd{n}x{length}', x.astype(np.float32),
                      y.astype(np.int32), xt.astype(np.float32),
                      yt.astype(np.int32),
                      tuple(str(c) for c in range(num_classes)))


@pytest.mark.parametrize('n,size', [(1, 16), (7, 16), (16, 16), (20, 64),
                                    (1700, 2048)])
def test_padded_shuffle_is_the_unpadded_shuffle_then_the_padding(n, size):
  # One series needs no sorting; a padded one gets the same order anyway.
  assert buckets.shuffle_rounds(max(n, 2)) == buckets.shuffle_rounds(size)
  key = jax.random.PRNGKey(n)
  order = np.asarray(jax.jit(train.padded_shuffle, static_argnums=2)(
      key, n, size))
  np.testing.assert_array_equal(order[:n], jax.random.permutation(key, n))
  np.testing.assert_array_equal(order[n:], np.arange(n, size))


def test_shapes_are_powers_of_two_that_hold_the_data():
  s = buckets.classifier_shapes(length=150, num_classes=3, batch_size=5,
                                num_train=50, num_eval=150,
                                eval_batch_size=512)
  assert (s.length, s.classes, s.batch_rows, s.steps, s.rows,
          s.eval_rows) == (256, 16, 8, 16, 128, 256)
  s = buckets.classifier_shapes(length=24, num_classes=20, batch_size=6,
                                num_train=300, num_eval=2000,
                                eval_batch_size=512, multiple=16)
  assert (s.length, s.classes, s.batch_rows, s.steps, s.eval_rows) == (
      32, 32, 16, 64, 512)
  # A shuffle of 2048 sorts twice, one of 1100 once: no bucket reproduces it.
  assert buckets.classifier_shapes(10, 2, 64, 1100, 10, 512) is None
  with pytest.raises(ValueError, match='shape_buckets'):
    buckets.enabled('sometimes')
  assert buckets.enabled('auto', 'gpu') and not buckets.enabled('auto', 'cpu')


def test_resizing_the_head_out_and_back_gives_the_tree_back():
  tree = {'Dense_0': {'kernel': np.ones((2, 4, 3)), 'bias': np.ones((2, 3))},
          'Conv1D_0': {'kernel': np.ones((2, 5, 1, 3))}}
  padded = buckets.resize_head(tree, 16)
  assert padded['Dense_0']['kernel'].shape == (2, 4, 16)
  assert padded['Conv1D_0']['kernel'].shape == (2, 5, 1, 3)  # not the head
  np.testing.assert_array_equal(padded['Dense_0']['bias'][:, 3:], 0)
  back = buckets.resize_head(padded, 3)
  jax.tree_util.tree_map(np.testing.assert_array_equal, back, tree)


class _Losses:
  def __init__(self):
    self.losses = []

  def log(self, stage, record):
    self.losses.append(record['loss'])


def _train(config, dataset, setting, x=None, y=None, w=None):
  config.shape_buckets = setting
  x = dataset.x_train if x is None else x
  y = dataset.y_train if y is None else y
  logger = _Losses()
  ctx = pipeline.context(config, dataset, logger, [3, 4],
                         parallel.Placement())
  scores = stages.train_classifier(ctx, x, y, 'baseline',
                                   ctx.keys['baseline_train'], w=w)
  return dict(scores, losses=logger.losses)


def _assert_same_run(padded, unpadded):
  # The unpadded head is what a caller gets.
  assert padded['model'].num_classes == unpadded['model'].num_classes
  np.testing.assert_array_equal(padded['predictions'],
                                unpadded['predictions'])
  assert padded['selected_epoch'] == unpadded['selected_epoch']
  np.testing.assert_allclose(padded['losses'], unpadded['losses'], rtol=1e-4)
  a, b = (jax.device_get((r['states'].params, r['states'].batch_stats))
          for r in (padded, unpadded))
  compared = 0
  for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a),
                          jax.tree_util.tree_leaves(b)):
    name = jax.tree_util.keystr(path)
    if ('conv' in name.lower() and 'bias' in name) or 'mean' in name:
      # A bias before BatchNorm has no effect and a zero gradient, so Adam
      # turns its float noise into full steps, which the BatchNorm's
      # running mean then follows (test_a_padded_step_... checks them).
      continue
    np.testing.assert_allclose(x, y, rtol=2e-3, atol=2e-5, err_msg=name)
    compared += 1
  assert compared >= 10


def test_a_padded_step_has_the_unpadded_loss_gradients_and_logits():
  """One SGD step (the update is the gradient) on a batch of 5 series of
  length 37 and 3 classes, and on the same batch padded to 8 rows, length
  64 and 16 classes: equal loss, updates (every parameter and BatchNorm
  statistic) and evaluation logits."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(5, 1, 37)).astype(np.float32)
  y = np.array([0, 1, 2, 1, 0])
  model = models.create_classifier('resnet_tiny', 3)
  padded_model = models.create_classifier('resnet_tiny', 16)
  tx = optax.sgd(0.1)
  state = train.init_state(model, tx, jax.random.PRNGKey(0), x[:1])
  padded_state = train.init_state(
      padded_model, tx, jax.random.PRNGKey(0), x[:1])
  padded_state = padded_state.replace(
      params=buckets.resize_head(state.params, 16))
  step = jax.jit(train.classifier_train_step, static_argnums=(0, 1))
  new, metrics = step(model, tx, state, x, y, np.ones(5, np.float32), None)
  padded_new, padded_metrics = step(
      padded_model, tx, padded_state, buckets.pad_series(x, 8, 64),
      buckets.pad_labels(y, 8, 16), np.array([1.] * 5 + [0.] * 3), None,
      length=37, num_classes=3)
  # Tolerances for accelerators too (an H100 differs by 1e-5 relative);
  # a masking error moves these by 1e-1.
  np.testing.assert_allclose(padded_metrics['loss'], metrics['loss'],
                             rtol=1e-4)
  assert padded_metrics['correct'] == metrics['correct']
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
      (buckets.resize_head(padded_new.params, 3), padded_new.batch_stats),
      (new.params, new.batch_stats))
  np.testing.assert_array_equal(padded_new.params['Dense_0']['kernel'][:, 3:],
                                0)  # the padded classes learn nothing
  logits = model.apply({'params': new.params, 'batch_stats': new.batch_stats},
                       x)
  padded_logits = padded_model.apply(
      {'params': padded_new.params, 'batch_stats': padded_new.batch_stats},
      buckets.pad_series(x, 5, 64), length=37)
  np.testing.assert_allclose(padded_logits[:, :3], logits, rtol=1e-4,
                             atol=1e-5)


def test_a_padded_run_is_the_unpadded_run(tiny_config):
  """An augmented stage's training: per-seed sets of 20 series of length
  21 (-> 32) with soft labels and loss weights (a refused synthetic series
  has weight 0), 2 classes (-> 16), batch 3 (-> 4 rows) with a last batch
  of 2, 7 batches (-> 8), the plateau rule and min-train-loss selection:
  the losses of every epoch, the selected epochs, the predictions and the
  trained weights agree."""
  c = tiny_config.classifier
  c.num_epochs, c.batch_size, c.learning_rate = 3, 3, 1e-2
  c.plateau_factor, c.plateau_patience = 0.5, 1
  c.model_selection = 'min_train_loss'
  dataset = _dataset(10, 21, 2)
  rng = np.random.default_rng(1)
  x = np.stack([np.concatenate([dataset.x_train, dataset.x_train + rng.normal(
      scale=0.1, size=dataset.x_train.shape)]).astype(np.float32)] * 2)
  y = np.stack([stages.one_hot(np.tile(dataset.y_train, 2), 2)] * 2)
  y[:, -1] = [0.3, 0.7]  # a soft label
  w = np.ones((2, 20), np.float32)
  w[:, 12] = 0.0
  w[1, 15] = 0.5
  padded = _train(tiny_config, dataset, 'on', x, y, w)
  _assert_same_run(padded, _train(tiny_config, dataset, 'off', x, y, w))
  assert padded['states'].step[0] == 3 * 7  # skipped batches took no step


def test_datasets_of_a_bucket_share_one_epoch_program(tiny_config):
  """Different lengths, sizes, batch sizes and class counts in one bucket:
  the second dataset reuses the first's compiled epoch and prediction
  programs."""
  c = tiny_config.classifier
  c.num_epochs, c.max_batch_fraction, c.batch_size = 1, 0.25, 64
  train._PADDED_EPOCHS.clear()
  _train(tiny_config, _dataset(30, 40, 2), 'on')  # batch 7: 8 rows, 5 -> 8
  jitted = list(train._PADDED_EPOCHS.values())
  assert len(jitted) == 1 and jitted[0]._cache_size() == 1
  predictions = loop._classifier_predictions._cache_size()
  _train(tiny_config, _dataset(31, 61, 5, num_test=9), 'on')  # the same
  assert list(train._PADDED_EPOCHS.values()) == jitted
  assert jitted[0]._cache_size() == 1
  assert loop._classifier_predictions._cache_size() == predictions


def _train_vae(config, dataset, setting):
  config.shape_buckets = setting
  logger = _Losses()
  ctx = pipeline.context(config, dataset, logger, [3, 4],
                         parallel.Placement())
  params = stages.train_vae(ctx)
  return jax.device_get(params), logger.losses


def test_a_padded_vae_trains_as_the_unpadded_one_and_shares_its_epoch(
    tiny_config):
  """An MLP VAE of 2 channels, series of 21 (-> 32), 3 classes (-> 16), 10
  series in batches of 4 (-> 4 rows; 3 batches -> 4, the last of 2), the
  plateau rule and the contrastive term: per-epoch losses and the trained
  weights agree, the caller gets unpadded weights, and a dataset of
  another length, size and class count in the bucket reuses the epoch."""
  tiny_config.num_epochs, tiny_config.batch_size = 3, 4
  tiny_config.vae.plateau_factor, tiny_config.vae.plateau_patience = 0.5, 1
  tiny_config.vae.contrastive_weight = 0.5
  dataset = _dataset(10, 21, 3)
  dataset = dataclasses.replace(
      dataset,
      x_train=np.concatenate([dataset.x_train, -dataset.x_train], axis=1),
      x_test=np.concatenate([dataset.x_test, -dataset.x_test], axis=1))
  train._PADDED_EPOCHS.clear()
  padded, padded_losses = _train_vae(tiny_config, dataset, 'on')
  unpadded, losses = _train_vae(tiny_config, dataset, 'off')
  np.testing.assert_allclose(padded_losses, losses, rtol=1e-4)
  assert len(losses) == 2 * 3
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-5),
      padded, unpadded)
  (jitted,) = train._PADDED_EPOCHS.values()
  other = _dataset(13, 30, 2)
  other = dataclasses.replace(
      other,
      x_train=np.concatenate([other.x_train] * 2, axis=1),
      x_test=np.concatenate([other.x_test] * 2, axis=1))
  _train_vae(tiny_config, other, 'on')
  assert list(train._PADDED_EPOCHS.values()) == [jitted]
  assert jitted._cache_size() == 1


def test_resizing_a_vae_pads_each_channel_and_cuts_back():
  vae = models.VAE(series_length=5, num_classes=3, num_channels=2,
                   latent_dim=2, hidden_dims=(4,))
  params = jax.device_get(vae.init(jax.random.PRNGKey(0),
                                   np.zeros((1, 2, 5), np.float32),
                                   jax.random.PRNGKey(1))['params'])
  padded = buckets.resize_vae(params, 8, 16, channels=2, depth=1)
  kernel = padded['encoder']['Dense_0']['kernel'].reshape(2, 8, 4)
  np.testing.assert_array_equal(kernel[:, :5], params['encoder']['Dense_0'][
      'kernel'].reshape(2, 5, 4))
  np.testing.assert_array_equal(kernel[:, 5:], 0)
  out = padded['decoder']['Dense_1']['bias'].reshape(2, 8)
  np.testing.assert_array_equal(out[:, 5:], 0)
  assert padded['head']['kernel'].shape == (2, 16)
  assert padded['encoder']['Dense_1']['kernel'].shape == (4, 4)  # latent
  # The padded model decodes the unpadded one's series, then zeros.
  big = vae.clone(series_length=8, num_classes=16)
  x = np.random.default_rng(0).normal(size=(3, 2, 5)).astype(np.float32)
  z = vae.apply({'params': params}, x, method=models.VAE.encode)[0]
  z_big = big.apply({'params': padded}, np.pad(x, ((0, 0), (0, 0), (0, 3))),
                    method=models.VAE.encode)[0]
  np.testing.assert_allclose(z_big, z, rtol=1e-5, atol=1e-6)
  decoded = big.apply({'params': padded}, z, method=models.VAE.decode)
  np.testing.assert_allclose(
      decoded[..., :5], vae.apply({'params': params}, z,
                                  method=models.VAE.decode), rtol=1e-5,
      atol=1e-6)
  np.testing.assert_array_equal(decoded[..., 5:], 0)
  back = buckets.resize_vae(padded, 5, 3, channels=2, depth=1)
  jax.tree_util.tree_map(np.testing.assert_array_equal, back, params)
