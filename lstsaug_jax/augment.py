"""Augmentation methods: latent-space neighbours (LSTSAUG), classic
transforms and mixup, behind one interface and a registry by name."""

import dataclasses
import functools
import inspect
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import models
from lstsaug_jax import transforms
from lstsaug_jax.errors import ConfigError


@functools.partial(jax.jit, static_argnames=('model', 'num_samples'))
def latent_neighbours(model, params, x, key, *, noise, num_samples):
  """Decoded neighbours of each series' latent sample.

  Each series is encoded, z ~ q(z|x) is sampled, and for each of
  `num_samples` draws z' = z + noise * eps, eps ~ N(0, I), is decoded. The
  draws are vmapped, not looped.

  Returns:
    (num_samples, n, channels, length): draw s of series i at [s, i].
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
    x_aug (seeds, n * (1 + num_samples), channels, length), a device array,
    and
    y_aug (n * (1 + num_samples),), shared by every seed.
  """
  x = jnp.asarray(x)
  synthetic = jax.vmap(
      lambda p, k: latent_neighbours(model, p, x, k, noise=noise,
                                     num_samples=num_samples))(params, keys)
  seeds = synthetic.shape[0]
  synthetic = synthetic.reshape((seeds, -1) + x.shape[1:])
  x_aug = jnp.concatenate(
      [jnp.broadcast_to(x, (seeds,) + x.shape), synthetic], axis=1)
  y_aug = np.tile(np.asarray(y), 1 + num_samples)
  return x_aug, y_aug


# --- Methods by name ---------------------------------------------------------
#
# One interface for every augmentation (the design note in shared/design):
# a frozen dataclass of settings with
#   fit(x, y, vae) -> state        once per training set (a pytree)
#   sample(state, key, x, y) -> (x_new, y_new)   pure and jittable
# where x is (n, channels, length) and y are class probabilities (n, C)
# (one-hot for hard labels, soft for mixup), so one loss serves all.


@flax.struct.dataclass
class VAEState:
  """A trained VAE (one seed's parameters) as augmentation state."""

  params: Any
  model: models.VAE = flax.struct.field(pytree_node=False)


@dataclasses.dataclass(frozen=True)
class Latent:
  """LSTSAUG: decoded Gaussian neighbours of each series' latent sample."""

  noise: float = 0.1
  num_samples: int = 1
  needs_vae = True

  def fit(self, x, y, vae):
    model, params = vae
    return VAEState(params=params, model=model)

  def sample(self, state, key, x, y):
    draws = latent_neighbours(state.model, state.params, x, key,
                              noise=self.noise, num_samples=self.num_samples)
    return (draws.reshape((-1,) + x.shape[1:]),
            jnp.tile(y, (self.num_samples, 1)))


@dataclasses.dataclass(frozen=True)
class Transform:
  """A classic transform of lstsaug_jax.transforms, num_samples draws per
  series."""

  transform: str
  settings: tuple = ()  # (name, value) pairs, hashable
  num_samples: int = 1
  needs_vae = False

  def fit(self, x, y, vae):
    del x, y, vae
    return ()

  def sample(self, state, key, x, y):
    del state
    fn = transforms.TRANSFORMS[self.transform]
    draws = jax.vmap(lambda k: fn(k, x, **dict(self.settings)))(
        jax.random.split(key, self.num_samples))
    return (draws.reshape((-1,) + x.shape[1:]),
            jnp.tile(y, (self.num_samples, 1)))


@dataclasses.dataclass(frozen=True)
class Mixup:
  """Zhang et al. (2018): convex combinations of pairs of series and of
  their labels (soft labels)."""

  alpha: float = 0.2
  num_samples: int = 1
  needs_vae = False

  def fit(self, x, y, vae):
    del x, y, vae
    return ()

  def sample(self, state, key, x, y):
    del state
    xs, ys = jax.vmap(lambda k: transforms.mixup(k, x, y, self.alpha))(
        jax.random.split(key, self.num_samples))
    return xs.reshape((-1,) + x.shape[1:]), ys.reshape((-1, y.shape[-1]))


def _transform_method(name):
  def make(num_samples=1, **settings):
    return Transform(name, tuple(sorted(settings.items())), num_samples)
  make.__doc__ = transforms.TRANSFORMS[name].__doc__
  return make


# name -> a constructor taking the method's settings as keywords.
METHODS = {'latent': Latent, 'mixup': Mixup,
           **{name: _transform_method(name) for name in transforms.TRANSFORMS}}


def method_settings(name):
  """The settings `name` takes, with their defaults."""
  if name in transforms.TRANSFORMS:
    signature = inspect.signature(transforms.TRANSFORMS[name].__wrapped__)
    return dict(num_samples=1, **{
        p.name: p.default for p in list(signature.parameters.values())[2:]})
  return {f.name: f.default for f in dataclasses.fields(METHODS[name])}


def make_method(name, **settings):
  """The augmentation method `name` with `settings`; a ConfigError naming
  what is unknown."""
  if name not in METHODS:
    raise ConfigError(f'Unknown augmentation method {name!r}; choose one of '
                      f'{sorted(METHODS)}.')
  known = method_settings(name)
  unknown = sorted(set(settings) - set(known))
  if unknown:
    raise ConfigError(f'Augmentation method {name!r} has no setting '
                      f'{", ".join(map(repr, unknown))}; its settings are '
                      f'{known}.')
  return METHODS[name](**settings)
