"""Latent-space augmentation: decoded Gaussian neighbours of encoded series."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import models


@functools.partial(jax.jit, static_argnames=('model', 'num_samples'))
def latent_neighbours(model, params, x, key, *, noise, num_samples):
  """Decoded neighbours of each series' latent sample.

  Each series is encoded, z ~ q(z|x) is sampled, and for each of
  `num_samples` draws z' = z + noise * eps, eps ~ N(0, I), is decoded. The
  draws are vmapped, not looped.

  Returns:
    (num_samples, n, length): draw s of series i at [s, i].
  """
  sample_key, noise_key = jax.random.split(key)
  variables = {'params': params}
  mean, logvar = model.apply(variables, x, method=models.VAE.encode)
  z = models.reparameterise(sample_key, mean, logvar)

  def decode_neighbour(draw_key):
    eps = jax.random.normal(draw_key, z.shape, z.dtype)
    return model.apply(variables, z + noise * eps, method=models.VAE.decode)

  return jax.vmap(decode_neighbour)(jax.random.split(noise_key, num_samples))


def augment_dataset(model, params, x, y, keys, *, noise, num_samples):
  """Each seed's training set: the originals (each once), then their
  synthetic neighbours, which keep their source's label.

  Args:
    params, keys: one VAE and one key per seed (a leading seed axis).

  Returns:
    x_aug (seeds, n * (1 + num_samples), length), a device array, and
    y_aug (n * (1 + num_samples),), shared by every seed.
  """
  x = jnp.asarray(x)
  synthetic = jax.vmap(
      lambda p, k: latent_neighbours(model, p, x, k, noise=noise,
                                     num_samples=num_samples))(params, keys)
  seeds = synthetic.shape[0]
  synthetic = synthetic.reshape(seeds, -1, x.shape[1])
  x_aug = jnp.concatenate(
      [jnp.broadcast_to(x, (seeds,) + x.shape), synthetic], axis=1)
  y_aug = np.tile(np.asarray(y), 1 + num_samples)
  return x_aug, y_aug
