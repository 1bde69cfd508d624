"""The Python API, for synthetic series from a user's own arrays:

  import lstsaug_jax as lsa
  d = lsa.load_dataset('GunPoint')
  vae = lsa.fit_vae(d.x_train, d.y_train, seed=0)
  x_new, y_new = lsa.generate(vae, d.x_train, d.y_train, 0, method='latent')

Arrays are (n, length) or (n, channels, length); labels of any type come
back as they went in. Nothing here changes the process (no JAX flags, no
matplotlib backend); the command lines set those.
"""

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lstsaug_jax import augment
from lstsaug_jax import checkpoint
from lstsaug_jax import configuration
from lstsaug_jax import data
from lstsaug_jax import defaults
from lstsaug_jax import diagnostics
from lstsaug_jax import formats
from lstsaug_jax import labels
from lstsaug_jax import models
from lstsaug_jax import ownership
from lstsaug_jax import parallel
from lstsaug_jax import pipeline
from lstsaug_jax import preprocess
from lstsaug_jax import reporting
from lstsaug_jax import specs
from lstsaug_jax import stages
from lstsaug_jax.errors import ConfigError
from lstsaug_jax.errors import DataError


def load_dataset(name, data_dir='data', **policies):
  """A dataset by name (archive, your files, 'synthetic:cbf'), cleaned by
  the data policies of the config (normalisation, missing_values,
  variable_length, download, validation_fraction, ...).

  Returns a Dataset: x_train, x_test (n, channels, length) float32; y_train,
  y_test class indices; class_names (the original label of each index).
  """
  fields = {f.name for f in dataclasses.fields(data.Options)}
  unknown = sorted(set(policies) - fields)
  if unknown:
    raise ConfigError(f'load_dataset has no policy {", ".join(unknown)}; '
                      f'the policies are {sorted(fields)}.')
  options = data.Options(**policies)
  return data.load_dataset(data_dir, name, options)


def make_config(config=None, **fields):
  """The default config with `config` applied: None, a ConfigDict, or a dict
  of {'field' or 'sub.field': value}; then `fields` the same way. A field
  the config does not have is an error naming the closest one."""
  if isinstance(config, ml_collections.ConfigDict):
    config = config.copy_and_resolve_references()
    overrides = {}
  else:
    overrides = dict(config or {})
    config = defaults.get_config()
  config.lock()  # a misspelt field is an error, not a new field
  for name, value in {**overrides, **fields}.items():
    configuration.set_field(config, name, value)
  return config


def as_series(x, what='x'):
  """x as float32 (n, channels, length), and whether it came 2-D."""
  x = np.asarray(x)
  if np.iscomplexobj(x) or not np.issubdtype(x.dtype, np.number):
    raise DataError(f'{what} must be real numbers; got dtype {x.dtype}.')
  if x.ndim not in (2, 3) or x.shape[0] == 0 or x.shape[-1] < 2:
    raise DataError(f'{what} must be (n, length) or (n, channels, length) '
                    f'with n >= 1 and length >= 2; got shape {x.shape}.')
  bad = np.argwhere(~np.isfinite(x))
  if len(bad):
    raise DataError(
        f'{what}[{", ".join(map(str, bad[0]))}] is {x[tuple(bad[0])]}: the '
        'series must be finite, with no NaN. Fill or drop missing values '
        'first (lsa.load_dataset interpolates them in files).')
  two_d = x.ndim == 2
  return (x[:, None, :] if two_d else x).astype(np.float32), two_d


@dataclasses.dataclass
class TrainedVAE:
  """A trained VAE: the module, one seed's parameters and what it was
  trained on. `save(path)` writes the command line's Orbax checkpoint;
  `lsa.load_vae(path)` reads it back."""

  model: models.VAE
  params: Any
  classes: np.ndarray  # the label of each class index, as given
  metadata: dict
  history: list = dataclasses.field(default_factory=list)  # per epoch
  # On the training series it was fitted to (diagnostics.vae_quality);
  # empty for a loaded VAE.
  quality: dict = dataclasses.field(default_factory=dict)

  def __repr__(self):
    q = self.quality
    trained = (f'; on its training series: R^2 {q["r2_train"]:.3f}, KL '
               f'{q["kl"]:.1f} nats, {q["active_dims"]} active dims'
               if q else '')
    return (f'TrainedVAE({self.model.arch}, latent_dim '
            f'{self.model.latent_dim}, series ({self.num_channels}, '
            f'{self.series_length}), classes {self.classes.tolist()}'
            f'{trained})')

  @property
  def num_channels(self):
    return self.model.num_channels

  @property
  def series_length(self):
    return self.model.series_length

  def encode(self, x):
    """Posterior means and log-variances of x, (n, latent_dim) each."""
    x, _ = as_series(x)
    return self.model.apply({'params': self.params}, jnp.asarray(x),
                            method=models.VAE.encode)

  def decode(self, z):
    """Series (n, channels, length) of latent points z (n, latent_dim)."""
    return self.model.apply({'params': self.params}, jnp.asarray(z),
                            method=models.VAE.decode)

  def save(self, path):
    """Writes the checkpoint (docs/configuration.md "Checkpoints"), the
    labels with their type; returns its path."""
    meta = dict(self.metadata, classes=labels.encode(self.classes))
    params = jax.tree_util.tree_map(lambda a: np.asarray(a)[None],
                                    self.params)
    with ownership.locked(path) as path:
      return checkpoint.save_vae(path, params, meta)


def _saved_classes(meta):
  """The labels a checkpoint records, with their type."""
  if 'classes' in meta:
    return labels.decode(meta['classes'])
  if 'class_values' in meta:  # the API's checkpoints before labels.encode
    values, dtype = meta['class_values'], np.dtype(meta['class_dtype'])
    if dtype.kind == 'b':
      return np.array([v == 'True' for v in values])
    return np.array(values).astype(dtype)
  return np.array(meta['class_names'])  # a command-line checkpoint


def load_vae(path, seed_index=0):
  """A TrainedVAE from a checkpoint of the API or of the command line (the
  seed_index-th of its seeds)."""
  with ownership.locked(path) as path:
    model, params, meta = checkpoint.restore_vae(path, None,
                                                 hint=checkpoint.API_HINT)
  seeds = meta['seeds']
  if not (isinstance(seed_index, int) and 0 <= seed_index < len(seeds)):
    raise ConfigError(f'seed_index={seed_index!r}, but the checkpoint at '
                      f'{path} holds {len(seeds)} seed(s): pass 0 to '
                      f'{len(seeds) - 1}.')
  return TrainedVAE(model, jax.tree_util.tree_map(lambda a: a[seed_index],
                                                  params),
                    _saved_classes(meta), meta)


def fit_vae(x, y, config=None, seed=0, name='arrays', **fields):
  """Trains the VAE on (x, y) (the latent classifier head uses y).

  Args:
    x: (n, length) or (n, channels, length), finite.
    y: (n,) labels of any type.
    config: None (lstsaug_jax/defaults.py), a ConfigDict, or a dict of field
      overrides such as {'num_epochs': 200, 'vae.hidden_dims': (128, 64)};
      `fields` are more overrides.
    seed: every random draw of the training derives from it.
    name: what the checkpoint's metadata calls the data.
  """
  config = make_config(config, **fields)
  config.seed, config.num_seeds, config.dataset = _seed(seed), 1, name
  configuration.validate(config)
  x, _ = as_series(x)
  labels.check(y, len(x))
  y_index, classes = labels.to_indices(y)
  if len(classes) < 2:
    raise DataError(f'y has one class only ({classes[0]!r}); the VAE\'s '
                    'latent head needs at least two.')
  preprocess.check_not_constant(x, 'x')
  dataset = data.Dataset(config.dataset, x, y_index, x, y_index,
                         tuple(labels.text(c) for c in classes))
  meta = checkpoint.vae_metadata(config, dataset, [config.seed])
  history = reporting.RecordingLogger()
  ctx = pipeline.context(config, dataset, history,
                         placement=parallel.Placement())
  params = stages.train_vae(ctx)
  (quality,) = diagnostics.vae_quality(ctx.vae, params, x, y_index)
  return TrainedVAE(ctx.vae, jax.tree_util.tree_map(
      lambda a: np.asarray(a[0]), params), classes, meta, history.history,
                    quality)


def _seed(seed):
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or (
      not 0 <= seed < 2**32):
    raise ConfigError(f'seed={seed!r} must be an integer in [0, 2**32): '
                      'a PRNG key holds 32 bits of it, so a larger or '
                      'negative one would repeat another seed\'s draws.')
  return int(seed)


def as_key(key_or_seed):
  """A PRNG key from an int seed or a key (raw uint32 (2,) or typed)."""
  if isinstance(key_or_seed, (int, np.integer, bool)):
    return jax.random.PRNGKey(_seed(key_or_seed))
  try:
    key = jnp.asarray(key_or_seed)
  except (TypeError, ValueError):
    key = None
  if key is not None and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  if key is None or key.shape != (2,) or key.dtype != jnp.uint32:
    raise ConfigError(
        f'key_or_seed={key_or_seed!r} is neither an int seed in [0, 2**32) '
        'nor a PRNG key (jax.random.PRNGKey(seed), or jax.random.key(seed)).')
  return key


def generate(vae, x, y, key_or_seed, method='latent', **settings):
  """Synthetic series and their labels from (x, y).

  Args:
    vae: a TrainedVAE (methods that need one: 'latent', 'latent_class'),
      or None.
    x: (n, length) or (n, channels, length); y: (n,) labels.
    key_or_seed: a PRNG key or an int; the same one gives the same series.
    method: a method name of lsa.METHODS, or a spec with its settings as
      on the command line, e.g. 'jitter(sigma=0.01)'; settings: more of
      its settings (lsa.method_settings(name)), e.g. noise=0.1,
      num_samples=2. Checked as the command line checks them.

  Returns:
    (x_synthetic, y_synthetic) as NumPy arrays: x in the shape convention of
    x, num_samples * n series (draw s of series i at s * n + i;
    latent_class: about num_samples * n / C per class, less the draws its
    filter refused); y with the labels' type, or (for mixup) class
    probabilities (n', C) over `classes` (vae.classes, or the sorted
    labels of y). Every value is finite (else an AugmentationError).
  """
  m = specs.generator(method, settings).method
  x, two_d = as_series(x)
  labels.check(y, len(x))
  if m.needs_vae:
    if not isinstance(vae, TrainedVAE):
      raise ConfigError(f'method {method!r} needs a trained VAE '
                        '(lsa.fit_vae or lsa.load_vae); got '
                        f'{type(vae).__name__}.')
    if x.shape[1:] != (vae.num_channels, vae.series_length):
      raise DataError(
          f'x has series of shape {x.shape[1:]} (channels, length), but the '
          f'VAE was trained on ({vae.num_channels}, {vae.series_length}).')
  key = as_key(key_or_seed)
  classes = vae.classes if isinstance(vae, TrainedVAE) else None
  y_index, classes = labels.to_indices(y, classes)
  probs = np.eye(len(classes), dtype=np.float32)[y_index]
  vae_args = ((vae.model, jax.tree_util.tree_map(lambda a: a[None],
                                                 vae.params))
              if m.needs_vae else ())
  x_new, p_new, w_new = (np.asarray(a[0, len(x):]) for a in augment.fixed_sets(
      m, key[None], np.asarray(x, np.float32), probs, *vae_args))
  kept = w_new > 0  # a filter's refusals are left out
  x_new, p_new = x_new[kept], p_new[kept]
  augment.check_finite(x_new, p_new, method)
  if two_d:
    x_new = x_new[:, 0]
  if not np.all(np.isclose(p_new.max(axis=-1), 1.0)):
    return x_new, p_new  # soft labels
  return x_new, classes[p_new.argmax(axis=-1)]


def export(directory, x, y, name, split='TRAIN'):
  """Writes (x, y) where lsa.load_dataset(name, data_dir=directory) reads
  it back: {directory}/{name}/{name}_{split}.tsv (label first, tab
  separated) for one channel, .ts (the UEA format) for several; returns
  the path. Write split='TEST' too for a dataset the loader can read.
  Readable by aeon and sktime as well."""
  x, _ = as_series(x)
  y = np.asarray(y)
  if y.ndim != 1 or len(y) != len(x):
    raise DataError(f'y must be one label per series; got shape {y.shape}.')
  folder = data.file_name(name)
  return formats.write_split(os.path.join(directory, folder), folder, split,
                             x, y)


def run(config=None, **fields):
  """The command line's pipeline from Python: config as for fit_vae.
  Returns a pipeline.Run: `.results` (what results.json holds), `.dataset`,
  `.vae` and `.vae_params`, `.classifiers` ({stage: (model, trained
  states)}) and `.augmented` (the augmented training set)."""
  return pipeline.run(make_config(config, **fields))
