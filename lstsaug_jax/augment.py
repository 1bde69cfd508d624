"""Augmentation methods: latent-space neighbours (LSTSAUG), classic
transforms and mixup, behind one interface and a registry by name.

A method spec (a name with its settings and how it trains, as one string)
is parsed and checked in specs.py, on top of this registry."""

import dataclasses
import difflib
import functools
import inspect
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import models
from lstsaug_jax import resamplers
from lstsaug_jax import transforms
from lstsaug_jax.errors import AugmentationError
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


# --- Methods by name ---------------------------------------------------------
#
# One interface for every augmentation (docs/design.md),
# a frozen dataclass of its settings with
#   fit(x, y, vae) -> state              once per training set (a pytree)
#   sample(state, key, x, y) -> (x', y', w')
#       one synthetic series per input series: pure and jittable; w' is
#       each one's acceptance weight (1, or 0 for a sample a filter refused)
#   slots(x, y) -> (x, y)    host side: what the fixed set is made from
#   fixed(state, key, x, y) -> (x', y', w')
#       the fixed synthetic set from those slots (num_samples draws of each
#       series by default)
# where x is (n, channels, length) and y are class probabilities (n, C)
# (one-hot for hard labels, soft for mixup), so one loss serves all. The
# same methods run on a fixed set or inside the compiled epoch (train.Online).


class Method:
  """Defaults shared by the methods."""

  needs_vae = False
  num_samples = 1
  # Settings that only enter arithmetic (no shape, no Python branch): a
  # fixed set's program takes them as traced values, so methods that differ
  # only in them (a sweep's noise levels) share one compiled program.
  traced = ()

  def split(self):
    """(this method with its traced settings blanked, their values)."""
    values = {name: getattr(self, name) for name in self.traced}
    return dataclasses.replace(self, **dict.fromkeys(self.traced)), values

  def with_values(self, values):
    """split's inverse: the method with `values` (traced, in a program)."""
    return dataclasses.replace(self, **values)

  def fit(self, x, y, vae):
    del x, y, vae
    return ()

  def slots(self, x, y):
    return x, y

  def synthetic_count(self, counts):
    """How many synthetic series the fixed set holds, for class sizes
    `counts` (Python ints: an estimate must not overflow)."""
    return int(self.num_samples) * int(sum(counts))

  def fixed(self, state, key, x, y):
    xs, ys, ws = jax.vmap(lambda k: self.sample(state, k, x, y))(
        jax.random.split(key, self.num_samples))
    return (xs.reshape((-1,) + x.shape[1:]), ys.reshape((-1, y.shape[-1])),
            ws.reshape(-1))


@flax.struct.dataclass
class VAEState:
  """A trained VAE (one seed's parameters) as augmentation state."""

  params: Any
  model: models.VAE = flax.struct.field(pytree_node=False)


@dataclasses.dataclass(frozen=True)
class Latent(Method):
  """LSTSAUG: decoded Gaussian neighbours z + noise * eps of each series'
  latent sample z ~ q(z|x)."""

  noise: float = 0.1
  num_samples: int = 1
  needs_vae = True
  traced = ('noise',)

  def fit(self, x, y, vae):
    model, params = vae
    return VAEState(params=params, model=model)

  def sample(self, state, key, x, y):
    (xs,) = latent_neighbours(state.model, state.params, x, key,
                              noise=self.noise, num_samples=1)
    return xs, y, jnp.ones(x.shape[:1], x.dtype)

  def fixed(self, state, key, x, y):
    # One latent sample per series, num_samples noise draws around it.
    xs = latent_neighbours(state.model, state.params, x, key,
                           noise=self.noise, num_samples=self.num_samples)
    return (xs.reshape((-1,) + x.shape[1:]), jnp.tile(y, (self.num_samples, 1)),
            jnp.ones(xs.shape[0] * xs.shape[1], x.dtype))


@flax.struct.dataclass
class ClassModelState:
  """Per class, a model of the encoder means of its training series."""

  params: Any
  means: jax.Array  # (n, latent): each training series' posterior mean
  scales: jax.Array  # (n, latent): its posterior standard deviation
  members: jax.Array  # (n, C): one-hot classes of the training series
  class_means: jax.Array  # (C, latent)
  class_chol: jax.Array  # (C, latent, latent): Cholesky of the covariance
  model: models.VAE = flax.struct.field(pytree_node=False)


@dataclasses.dataclass(frozen=True)
class LatentClass(Method):
  """Class-conditional latent sampling (the LSTSAUG authors' later method).

  Per class c, a model of its training series' encoder means (`density`):
  'mixture',
  one Gaussian per series (mean mu_i, variance alpha * sigma_i^2), or
  'gaussian', one Gaussian (the class mean, covariance + 1e-4 I, times
  alpha). A draw is kept only if its own class's log density beats every
  other class's by `margin` nats; each kept slot takes the first of
  `candidates` draws that passes, and a slot with none is given weight 0.
  The fixed set holds about num_samples * n / C draws per class
  (class-balanced); with top_up, small classes get more, up to the largest
  class's size.
  """

  alpha: float = 1.5
  margin: float = 0.0
  density: str = 'mixture'
  candidates: int = 4
  num_samples: int = 1
  top_up: bool = False
  needs_vae = True
  traced = ('alpha', 'margin')

  def fit(self, x, y, vae):
    model, params = vae
    mean, logvar = model.apply({'params': params}, x,
                               method=models.VAE.encode)
    members = (y == y.max(axis=-1, keepdims=True)).astype(mean.dtype)
    count = jnp.maximum(members.sum(axis=0), 1.0)
    class_means = (members.T @ mean) / count[:, None]
    centred = mean[None] - class_means[:, None]  # (C, n, latent)
    cov = jnp.einsum('cnd,cne,nc->cde', centred, centred, members)
    cov = cov / count[:, None, None] + 1e-4 * jnp.eye(mean.shape[-1])
    return ClassModelState(
        params=params, means=mean, scales=jnp.exp(0.5 * logvar),
        members=members, class_means=class_means,
        class_chol=jnp.linalg.cholesky(self.alpha * cov), model=model)

  def log_density(self, state, z):
    """(m, C): log p_c(z) of each point under each class's model."""
    if self.density == 'gaussian':
      diff = z[:, None] - state.class_means[None]  # (m, C, latent)
      solved = jax.vmap(
          lambda l, d: jax.scipy.linalg.solve_triangular(l, d.T, lower=True),
          in_axes=(0, 1))(state.class_chol, diff)  # (C, latent, m)
      log_det = jnp.sum(jnp.log(jnp.diagonal(state.class_chol, axis1=1,
                                             axis2=2)), axis=-1)
      return (-0.5 * jnp.sum(solved ** 2, axis=1) - log_det[:, None]).T
    var = self.alpha * state.scales ** 2  # (n, latent)
    comp = -0.5 * jnp.sum((z[:, None] - state.means[None]) ** 2 / var[None]
                          + jnp.log(var)[None], axis=-1)  # (m, n)
    log_members = jnp.where(state.members > 0, 0.0, -jnp.inf)  # (n, C)
    return (jax.scipy.special.logsumexp(comp[:, :, None] + log_members[None],
                                        axis=1)
            - jnp.log(state.members.sum(axis=0))[None])

  def draw(self, state, key, classes):
    """(m, latent): one draw from the model of each of `classes`."""
    pick_key, noise_key = jax.random.split(key)
    eps = jax.random.normal(noise_key, classes.shape + state.means.shape[-1:])
    if self.density == 'gaussian':
      return (state.class_means[classes]
              + jnp.einsum('mde,me->md', state.class_chol[classes], eps))
    logits = jnp.where(state.members[:, classes].T > 0, 0.0, -jnp.inf)
    series = jax.random.categorical(pick_key, logits)  # (m,)
    return (state.means[series]
            + jnp.sqrt(self.alpha) * state.scales[series] * eps)

  def sample(self, state, key, x, y):
    classes = jnp.argmax(y, axis=-1)
    keys = jax.random.split(key, self.candidates)
    z = jax.vmap(lambda k: self.draw(state, k, classes))(keys)  # (K, m, d)
    logp = jax.vmap(lambda zz: self.log_density(state, zz))(z)  # (K, m, C)
    own = jnp.take_along_axis(logp, classes[None, :, None], axis=-1)[..., 0]
    others = jnp.where(jax.nn.one_hot(classes, logp.shape[-1])[None] > 0,
                       -jnp.inf, logp).max(axis=-1)
    passed = own - others > self.margin  # (K, m)
    first = jnp.argmax(passed, axis=0)  # the first that passes
    chosen = jnp.take_along_axis(z, first[None, :, None], axis=0)[0]
    xs = state.model.apply({'params': state.params}, chosen,
                           method=models.VAE.decode)
    return (xs.astype(x.dtype), jax.nn.one_hot(classes, y.shape[-1],
                                               dtype=y.dtype),
            passed.any(axis=0).astype(x.dtype))

  def synthetic_count(self, counts):
    counts = [int(c) for c in counts]
    per_class = int(round(self.num_samples * sum(counts) / len(counts)))
    extra = sum(max(counts) - c for c in counts) if self.top_up else 0
    return per_class * len(counts) + extra

  def targets(self, y):
    """The class of each slot of the fixed set (host side, static sizes)."""
    y = np.asarray(y)
    counts = np.bincount(y.argmax(-1), minlength=y.shape[-1])
    per_class = np.full(y.shape[-1], int(round(self.num_samples * len(y)
                                               / y.shape[-1])))
    if self.top_up:
      per_class += counts.max() - counts
    return np.repeat(np.arange(y.shape[-1]), per_class)

  def slots(self, x, y):
    # On the host: eager jnp calls would build programs per dataset.
    classes = self.targets(y)
    return (np.zeros((len(classes),) + x.shape[1:], x.dtype),
            np.eye(y.shape[-1], dtype=y.dtype)[classes])

  def fixed(self, state, key, x, y):
    return self.sample(state, key, x, y)


@dataclasses.dataclass(frozen=True)
class Transform(Method):
  """A classic transform of lstsaug_jax.transforms."""

  transform: str = 'jitter'
  settings: tuple = ()  # (name, value) pairs, hashable
  num_samples: int = 1
  traced = ('sigma',)  # of settings; the others set shapes or choices

  def split(self):
    values = {k: v for k, v in self.settings if k in self.traced}
    rest = tuple((k, v) for k, v in self.settings if k not in self.traced)
    return dataclasses.replace(self, settings=rest), values

  def with_values(self, values):
    return dataclasses.replace(self, settings=tuple(sorted(
        {**dict(self.settings), **values}.items())))

  def sample(self, state, key, x, y):
    del state
    fn = transforms.TRANSFORMS[self.transform]
    return (fn(key, x, **dict(self.settings)), y,
            jnp.ones(x.shape[:1], x.dtype))


@dataclasses.dataclass(frozen=True)
class Mixup(Method):
  """Zhang et al. (2018): convex combinations of pairs of series and of
  their labels (soft labels)."""

  alpha: float = 0.2
  num_samples: int = 1
  traced = ('alpha',)

  def sample(self, state, key, x, y):
    del state
    xs, ys = transforms.mixup(key, x, y, self.alpha)
    return xs, ys, jnp.ones(x.shape[:1], x.dtype)


def _transform_method(name):
  def make(num_samples=1, **settings):
    return Transform(name, tuple(sorted(settings.items())), num_samples)
  make.__doc__ = transforms.TRANSFORMS[name].__doc__
  return make


# name -> a constructor taking the method's settings as keywords.
METHODS = {'latent': Latent, 'latent_class': LatentClass, 'mixup': Mixup,
           **{name: _transform_method(name) for name in transforms.TRANSFORMS},
           **resamplers.METHODS}
def method_settings(name):
  """The settings `name` takes, with their defaults."""
  if name in transforms.TRANSFORMS:
    signature = inspect.signature(transforms.TRANSFORMS[name].__wrapped__)
    return dict(num_samples=1, **{
        p.name: p.default for p in list(signature.parameters.values())[2:]})
  return {f.name: f.default for f in dataclasses.fields(METHODS[name])}


def check_name(name, spec=None):
  """A ConfigError naming the closest method if `name` is not one."""
  if name in METHODS:
    return
  close = difflib.get_close_matches(name, sorted(METHODS), n=1, cutoff=0.5)
  raise ConfigError(
      f'Unknown augmentation method {name!r}'
      + (f' in {spec!r}' if spec and spec != name else '')
      + (f'; did you mean {close[0]!r}?' if close else '.')
      + f' The methods are {sorted(METHODS)}, and auto.')


def make_method(name, **settings):
  """The augmentation method `name` with `settings`, as specs.make_augmentation
  checked them (the one place names and settings are checked)."""
  return METHODS[name](**settings)


def fixed_sets(method, keys, x, y, vae=None, vae_params=None, weight=1.0,
               slots=None):
  """Each seed's training set: the originals (each once, weight 1), then the
  method's fixed synthetic set, fitted to (x, y) and drawn in one program
  (keys: one per seed; vae_params: one VAE per seed, seed axis first, for a
  method that decodes with the VAE model `vae`). `weight` scales the
  synthetic series' loss weights (the method's own are 1, or 0 for a draw
  its filter refused). `slots` (x, y), if given, replace the method's own
  (what the set is drawn from: lsa.Sampler's chosen originals of a class).

  Returns (x (seeds, N, channels, length), y (seeds, N, C), w (seeds, N)).
  """
  x, y = np.asarray(x), np.asarray(y)
  x_slots, y_slots = method.slots(x, y) if slots is None else slots
  blank, values = method.split()
  return _fixed_sets(blank, vae, values, vae_params, keys, x, y, x_slots,
                     y_slots, np.float32(weight))


# Module level, the method static with its traced settings blanked: one
# program per method, shapes and VAE, whatever those settings' values.
@functools.partial(jax.jit, static_argnames=('method', 'vae'))
def _fixed_sets(method, vae, values, vae_params, keys, x, y, x_slots,
                y_slots, weight):
  method = method.with_values(values)

  def one(params, key):
    state = method.fit(x, y, None if vae is None else (vae, params))
    return method.fixed(state, key, x_slots, y_slots)

  xs, ys, ws = jax.vmap(one)(vae_params, keys)
  seeds = xs.shape[0]
  tile = lambda a: jnp.broadcast_to(a, (seeds,) + a.shape)
  return (jnp.concatenate([tile(x), xs.astype(x.dtype)], axis=1),
          jnp.concatenate([tile(y), ys.astype(y.dtype)], axis=1),
          jnp.concatenate([tile(jnp.ones(x.shape[:1], x.dtype)),
                           ws.astype(x.dtype) * weight], axis=1))


def check_finite(x, y, what):
  """Raises AugmentationError if synthetic series x or their labels y hold
  a NaN or an infinity: no generator's output is returned or trained on
  unless finite."""
  if not len(x):
    return
  bad = ~np.isfinite(np.asarray(x)).reshape(len(x), -1).all(axis=-1)
  bad |= ~np.isfinite(np.asarray(y)).reshape(len(y), -1).all(axis=-1)
  if bad.any():
    raise AugmentationError(
        f'{what}: {int(bad.sum())} of {len(bad)} synthetic series hold NaN '
        'or infinite values (the first is number '
        f'{int(np.flatnonzero(bad)[0])}), so they were not used. A setting '
        'is too large for float32 (a sigma or noise far above the data\'s '
        'scale), or the VAE is broken: lower the setting, or train the VAE '
        'again.')
