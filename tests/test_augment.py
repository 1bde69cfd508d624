import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import augment
from lstsaug_jax import models


def setup():
  vae = models.VAE(series_length=12, num_classes=3, latent_dim=4,
                   hidden_dims=(16, 8))
  x = jax.random.normal(jax.random.PRNGKey(0), (7, 1, 12))
  y = np.array([0, 1, 2, 0, 1, 2, 0], np.int32)
  params = vae.init(jax.random.PRNGKey(1), x, jax.random.PRNGKey(2))['params']
  return vae, params, x, y


def stacked(tree, k=1):
  return jax.tree_util.tree_map(lambda a: jnp.stack([a] * k), tree)


def augment_one(vae, params, x, y, key, **kwargs):
  x_aug, y_aug = augment.augment_dataset(vae, stacked(params), x, y,
                                         key[None], **kwargs)
  return np.asarray(x_aug[0]), y_aug


def test_augmented_set_shape_and_labels():
  vae, params, x, y = setup()
  x_aug, y_aug = augment_one(vae, params, x, y, jax.random.PRNGKey(3),
                             noise=0.1, num_samples=3)
  assert x_aug.shape == (7 * 4, 1, 12)
  # The originals come first, each exactly once, then 3 draws per series.
  np.testing.assert_array_equal(x_aug[:7], np.asarray(x))
  np.testing.assert_array_equal(y_aug, np.tile(y, 4))
  assert not np.isnan(x_aug).any()
  # The synthetic series are the latent neighbours, draw by draw.
  neighbours = augment.latent_neighbours(vae, params, x,
                                         jax.random.PRNGKey(3), noise=0.1,
                                         num_samples=3)
  np.testing.assert_allclose(x_aug[7:],
                             np.asarray(neighbours).reshape(21, 1, 12),
                             rtol=1e-6, atol=1e-6)


def test_each_seed_augments_with_its_own_vae_and_key():
  vae, params, x, y = setup()
  other = jax.tree_util.tree_map(lambda a: a * 1.5, params)
  both = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), params, other)
  keys = jnp.stack([jax.random.PRNGKey(3), jax.random.PRNGKey(4)])
  x_aug, _ = augment.augment_dataset(vae, both, x, y, keys, noise=0.1,
                                     num_samples=2)
  assert x_aug.shape == (2, 21, 1, 12)
  alone, _ = augment_one(vae, other, x, y, keys[1], noise=0.1, num_samples=2)
  np.testing.assert_allclose(x_aug[1], alone, rtol=1e-5, atol=1e-5)


def test_neighbours_shape_and_noise_zero_is_the_decoded_sample():
  vae, params, x, _ = setup()
  key = jax.random.PRNGKey(4)
  neighbours = augment.latent_neighbours(vae, params, x, key, noise=0.0,
                                         num_samples=5)
  assert neighbours.shape == (5, 7, 1, 12)
  # With no noise every draw is the decoded latent sample z ~ q(z|x).
  sample_key, _ = jax.random.split(key)
  mean, logvar = vae.apply({'params': params}, x, method=models.VAE.encode)
  z = models.reparameterise(sample_key, mean, logvar)
  decoded = vae.apply({'params': params}, z, method=models.VAE.decode)
  for draw in neighbours:
    np.testing.assert_allclose(draw, decoded, rtol=1e-6, atol=1e-6)


def test_noise_moves_neighbours_in_proportion():
  vae, params, x, _ = setup()
  key = jax.random.PRNGKey(5)
  base = augment.latent_neighbours(vae, params, x, key, noise=0.0,
                                   num_samples=4)
  spread = []
  for noise in (0.01, 1.0):
    n = augment.latent_neighbours(vae, params, x, key, noise=noise,
                                  num_samples=4)
    spread.append(float(jnp.mean(jnp.abs(n - base))))
    assert not np.allclose(n[0], n[1])  # draws differ from each other
  assert 0 < spread[0] < spread[1]


def test_same_key_same_output_other_key_other_output():
  vae, params, x, y = setup()
  a = augment_one(vae, params, x, y, jax.random.PRNGKey(6), noise=0.1,
                  num_samples=2)[0]
  b = augment_one(vae, params, x, y, jax.random.PRNGKey(6), noise=0.1,
                  num_samples=2)[0]
  c = augment_one(vae, params, x, y, jax.random.PRNGKey(7), noise=0.1,
                  num_samples=2)[0]
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a[7:], c[7:])
