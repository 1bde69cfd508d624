import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstsaug_jax import models


def count(params):
  return sum(np.size(p) for p in jax.tree_util.tree_leaves(params))


def dense(n_in, n_out):
  return n_in * n_out + n_out


def conv(k, c_in, c_out):
  return k * c_in * c_out + c_out


def bn(c):
  return 2 * c  # scale and bias (mean and var are batch statistics)


def test_vae_shapes_and_parameter_count():
  length, classes, latent = 150, 3, 64
  vae = models.VAE(series_length=length, num_classes=classes, latent_dim=latent)
  key = jax.random.PRNGKey(0)
  x = jnp.ones((5, 1, length))
  params = vae.init(key, x, key)['params']
  recon, mean, logvar, logits = vae.apply({'params': params}, x, key)
  assert recon.shape == (5, 1, length)
  assert mean.shape == logvar.shape == (5, latent)
  assert logits.shape == (5, classes)
  expected = (dense(length, 256) + dense(256, 128) + dense(128, 64)
              + dense(64, 2 * latent)  # encoder
              + dense(latent, 64) + dense(64, 128) + dense(128, 256)
              + dense(256, length)  # decoder
              + dense(latent, classes))  # head
  assert count(params) == expected


def test_vae_encodes_all_channels_and_decodes_them_in_place():
  channels, length = 3, 10
  vae = models.VAE(series_length=length, num_classes=2, num_channels=channels,
                   latent_dim=4, hidden_dims=(8,))
  key = jax.random.PRNGKey(0)
  x = jax.random.normal(key, (5, channels, length))
  params = vae.init(key, x, key)['params']
  # The encoder sees the channels flattened; the decoder gives them back.
  assert params['encoder']['Dense_0']['kernel'].shape == (channels * length, 8)
  recon, *_ = vae.apply({'params': params}, x, key)
  assert recon.shape == (5, channels, length)
  # Output unit c * length + t is channel c, time t.
  z = jnp.zeros((1, 4))
  flat = vae.apply({'params': params}, z, method=models.VAE.decode)
  kernel = params['decoder']['Dense_1']
  hidden = jax.nn.relu(params['decoder']['Dense_0']['bias'])
  expected = (hidden @ kernel['kernel'] + kernel['bias']).reshape(channels,
                                                                  length)
  np.testing.assert_allclose(flat[0], expected, rtol=1e-5, atol=1e-6)
  with pytest.raises(ValueError, match=r'\(batch, 3, 10\)'):
    vae.apply({'params': params}, x[:, :2], key)


def test_resnet_takes_channels_as_input_features():
  model = models.create_classifier('resnet_tiny', 2)
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 5, 30))
  variables = model.init(jax.random.PRNGKey(1), x)
  assert variables['params']['Conv1D_0']['kernel'].shape == (8, 5, 4)
  assert model.apply(variables, x).shape == (4, 2)
  # One channel as (batch, 1, length) or (batch, length): the same model.
  one = models.create_classifier('resnet_tiny', 2)
  v1 = one.init(jax.random.PRNGKey(1), x[:, :1])
  np.testing.assert_allclose(one.apply(v1, x[:, :1]), one.apply(v1, x[:, 0]),
                             rtol=1e-6)


def test_vae_output_activation():
  key = jax.random.PRNGKey(0)
  x = jax.random.normal(key, (8, 1, 20)) * 5
  for activation, check in (('sigmoid', lambda r: (r >= 0).all() and (r <= 1).all()),
                            ('linear', lambda r: (r < 0).any())):
    vae = models.VAE(series_length=20, num_classes=2, latent_dim=4,
                     hidden_dims=(8,), output_activation=activation)
    params = vae.init(key, x, key)
    assert check(np.asarray(vae.apply(params, x, key)[0]))


def test_resnet_lstsaug_shapes_and_parameter_count():
  model = models.create_classifier('resnet_lstsaug', 4)
  x = jnp.ones((3, 50))
  variables = model.init(jax.random.PRNGKey(0), x)
  assert model.apply(variables, x).shape == (3, 4)
  stem = conv(8, 1, 100) + bn(100)
  block = lambda ci, co: (conv(3, ci, co) + bn(co) + conv(3, co, co) + bn(co)
                          + (conv(1, ci, co) + bn(co) if ci != co else 0))
  expected = (stem + block(100, 100) + block(100, 200) + block(200, 200)
              + dense(200, 4))
  assert count(variables['params']) == expected
  assert count(variables['batch_stats']) == 2 * (100 + 100 * 2 + 200 * 3 + 200 * 2)


def test_resnet_wang_shapes_and_parameter_count():
  model = models.create_classifier('resnet_wang', 2)
  x = jnp.ones((3, 60))
  variables = model.init(jax.random.PRNGKey(0), x)
  assert model.apply(variables, x).shape == (3, 2)
  def block(ci, co):
    body = (conv(8, ci, co) + conv(5, co, co) + conv(3, co, co) + 3 * bn(co))
    return body + (conv(1, ci, co) if ci != co else 0) + bn(co)
  expected = block(1, 64) + block(64, 128) + block(128, 128) + dense(128, 2)
  # Wang et al.'s ResNet as published by Fawaz et al.: ~504k parameters
  # for two classes and one channel.
  assert count(variables['params']) == expected
  assert 500_000 < expected < 510_000


@pytest.mark.parametrize('kernel', [1, 3, 8])
def test_conv1d_matmul_matches_xla_convolution(kernel):
  x = jax.random.normal(jax.random.PRNGKey(1), (2, 17, 3))
  matmul = models.Conv1D(5, kernel)
  params = matmul.init(jax.random.PRNGKey(0), x)
  xla = models.Conv1D(5, kernel, impl='xla')
  # Full float32 products: on a GPU both forms otherwise round through
  # TF32, differently (on an H100 the 7th-9th tests of this file failed:
  # these three, by the order of its log).
  with jax.default_matmul_precision('highest'):
    np.testing.assert_allclose(matmul.apply(params, x), xla.apply(params, x),
                               rtol=1e-5, atol=1e-5)


def test_batchnorm_statistics_ignore_masked_rows():
  model = models.create_classifier('resnet_tiny', 2)
  x = jax.random.normal(jax.random.PRNGKey(0), (6, 30))
  variables = model.init(jax.random.PRNGKey(1), x)
  mask = jnp.array([1, 1, 1, 1, 0, 0], jnp.float32)
  garbage = x.at[4:].set(1e3)
  def run(inputs):
    logits, updates = model.apply(variables, inputs, train=True, mask=mask,
                                  mutable=['batch_stats'])
    return logits[:4], updates['batch_stats']
  logits_a, stats_a = run(x)
  logits_b, stats_b = run(garbage)
  np.testing.assert_allclose(logits_a, logits_b, rtol=1e-5, atol=1e-5)
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
      stats_a, stats_b)


def test_unknown_architecture_is_a_clear_error():
  with pytest.raises(ValueError, match='resnet_wang'):
    models.create_classifier('resnet50', 2)


@pytest.mark.parametrize('length', [15, 24, 150])
def test_conv_vae_shapes_for_any_length(length):
  """The conv VAE pads to a multiple of 2^stages and crops back: series of
  any length, several channels, and decoded latents of any leading shape."""
  vae = models.VAE(series_length=length, num_classes=3, num_channels=2,
                   latent_dim=8, hidden_dims=(16, 32, 32), arch='conv')
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 2, length))
  params = vae.init(jax.random.PRNGKey(1), x, jax.random.PRNGKey(2))
  recon, mean, logvar, logits = vae.apply(params, x, jax.random.PRNGKey(3))
  assert recon.shape == x.shape
  assert mean.shape == logvar.shape == (4, 8) and logits.shape == (4, 3)
  z = jnp.zeros((5, 4, 8))
  assert vae.apply(params, z, method=models.VAE.decode).shape == (5, 4, 2,
                                                                   length)
  # Convolution weights are shared along time: only the dense layer to the
  # latent statistics grows with the length (ceil(L / 8) positions).
  count = sum(a.size for a in jax.tree_util.tree_leaves(
      params['params']['encoder']))
  convs = 5 * 2 * 16 + 16 + 5 * 16 * 32 + 32 + 5 * 32 * 32 + 32
  assert count == convs + (-(-length // 8)) * 32 * 16 + 16


def _padded(x, total):
  """x (batch, length) padded at the end to `total` with garbage (it must
  not matter)."""
  junk = 100.0 * jax.random.normal(jax.random.PRNGKey(9),
                                   (x.shape[0], total - x.shape[1]))
  return jnp.concatenate([x, junk], axis=1)


# The two layouts at a few channels: a stem and projected shortcuts; Wang
# et al.'s kernels with a batch-normalised identity shortcut.
SMALL_RESNETS = {
    'lstsaug': dict(stem_features=4, stem_kernel=8, block_features=(4, 8),
                    block_kernels=(3, 3)),
    'wang': dict(block_features=(4, 4), block_kernels=(8, 5, 3),
                 norm_identity_shortcut=True),
}


@pytest.mark.parametrize('layout', sorted(SMALL_RESNETS))
@pytest.mark.parametrize('conv_impl', ['matmul', 'xla'])
def test_resnet_on_padded_series_equals_unpadded(layout, conv_impl):
  """Logits, loss, gradients and BatchNorm statistics of series padded to
  a longer length, with `length`, equal the unpadded ones'."""
  model = models.ResNet(num_classes=3, conv_impl=conv_impl,
                        **SMALL_RESNETS[layout])
  x = jax.random.normal(jax.random.PRNGKey(0), (6, 37))
  y = jnp.array([0, 1, 2, 0, 1, 2])
  mask = jnp.array([1, 1, 1, 1, 0, 0], bool)  # a partial batch, too
  variables = jax.jit(model.init)(jax.random.PRNGKey(1), x[:1])

  def loss(params, x, length):
    logits, updates = model.apply(
        {'params': params, 'batch_stats': variables['batch_stats']}, x,
        train=True, mask=mask, length=length, mutable=['batch_stats'])
    ce = -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1)
    return jnp.sum(ce[:, 0] * mask) / mask.sum(), (logits, updates)

  grad = jax.jit(jax.grad(loss, has_aux=True))
  g0, (logits0, stats0) = grad(variables['params'], x, None)
  g1, (logits1, stats1) = grad(variables['params'], _padded(x, 48),
                               jnp.int32(37))
  np.testing.assert_allclose(logits1, logits0, rtol=1e-4, atol=1e-5)
  for a, b in zip(jax.tree_util.tree_leaves((g1, stats1)),
                  jax.tree_util.tree_leaves((g0, stats0))):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
  # Evaluation (running averages) too.
  apply = jax.jit(lambda x, length: model.apply(variables, x, length=length))
  np.testing.assert_allclose(apply(_padded(x, 48), 37), apply(x, None),
                             rtol=1e-4, atol=1e-5)


def test_resnet_padding_without_length_changes_the_result():
  """The check above can fail: without `length`, padding changes logits."""
  model = models.create_classifier('resnet_tiny', 3)
  x = jax.random.normal(jax.random.PRNGKey(0), (4, 37))
  variables = model.init(jax.random.PRNGKey(1), x[:1])
  apply = jax.jit(lambda x: model.apply(variables, x))
  assert not np.allclose(apply(_padded(x, 48)), apply(x), atol=1e-3)


def test_resnet_series_of_different_lengths_in_one_batch():
  """Per-series lengths: each series' logits equal its own unpadded ones
  (evaluation mode: no batch statistics couple them)."""
  model = models.create_classifier('resnet_tiny', 2)
  variables = model.init(jax.random.PRNGKey(1), jnp.ones((1, 40)))
  short = jax.random.normal(jax.random.PRNGKey(2), (1, 25))
  long = jax.random.normal(jax.random.PRNGKey(3), (1, 40))
  both = jnp.concatenate([_padded(short, 40), long])
  apply = jax.jit(lambda x, length: model.apply(variables, x, length=length))
  logits = apply(both, jnp.array([25, 40]))
  np.testing.assert_allclose(logits[0], apply(short, None)[0],
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(logits[1], apply(long, None)[0],
                             rtol=1e-4, atol=1e-5)
