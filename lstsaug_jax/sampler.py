"""lsa.Sampler: synthetic series in imbalanced-learn's resampler convention.

  from imblearn.pipeline import make_pipeline
  from aeon.classification.convolution_based import MiniRocketClassifier
  model = make_pipeline(lsa.Sampler('latent_class'), MiniRocketClassifier())
  cross_val_score(model, x, y)  # the VAE never sees a held-out fold

`fit_resample(x, y)` returns the originals followed by the new series, as
imbalanced-learn's samplers do. A method that needs a VAE trains it inside
fit_resample, on the series it is given, so a cross-validated pipeline
fits the generator on each training fold alone. No scikit-learn import:
get_params/set_params are what sklearn.base.clone and the pipelines use.
"""

import dataclasses
import numbers

import jax
import numpy as np

from lstsaug_jax import api
from lstsaug_jax import augment
from lstsaug_jax import labels
from lstsaug_jax import specs
from lstsaug_jax.errors import AugmentationError
from lstsaug_jax.errors import ConfigError
from lstsaug_jax.errors import DataError

STRATEGIES = ('auto', 'minority', 'not minority', 'not majority', 'all',
              'per_original')
# latent_class refuses draws its class model does not place in their class;
# a slot refused is drawn again, up to this many rounds.
_MAX_ROUNDS = 8


def targets(strategy, counts, classes, num_samples=1):
  """{class index: new series to make} for class sizes `counts`.

  strategy: as imbalanced-learn's over-samplers read sampling_strategy
  ('auto' = 'not majority': every class but the largest up to the largest;
  'minority'; 'not minority'; 'all'; a float r for two classes: the
  smaller class up to r times the larger; a dict {label: target count};
  a callable y -> such a dict), or 'per_original': num_samples new series
  per original, in every class (for balanced data).
  """
  counts = np.asarray(counts)
  if callable(strategy):
    y = classes[np.repeat(np.arange(len(counts)), counts)]
    return targets(strategy(y), counts, classes)
  if isinstance(strategy, str) and strategy in STRATEGIES:
    return _named(strategy, counts, num_samples)
  if isinstance(strategy, numbers.Real) and not isinstance(strategy, bool):
    return _ratio(strategy, counts, classes)
  if isinstance(strategy, dict):
    return _counts(strategy, counts, classes)
  raise ConfigError(f'sampling_strategy={strategy!r} is not one of '
                    f'{list(STRATEGIES)}, a float, a dict or a callable.')


def _named(strategy, counts, num_samples):
  if strategy == 'per_original':
    return {c: int(num_samples) * int(n) for c, n in enumerate(counts)}
  # As imbalanced-learn: the minority and the majority are one class each
  # (the first of equal sizes); a chosen class grows to the majority's size.
  minority = np.arange(len(counts)) == int(np.argmin(counts))
  majority = np.arange(len(counts)) == int(np.argmax(counts))
  chosen = {'auto': ~majority, 'not majority': ~majority,
            'minority': minority, 'not minority': ~minority,
            'all': np.ones(len(counts), bool)}[strategy]
  return {c: int(counts.max()) - int(n) for c, n in enumerate(counts)
          if chosen[c]}


def _ratio(ratio, counts, classes):
  if len(counts) != 2:
    raise ConfigError(f'sampling_strategy={ratio} (a float) is for two '
                      f'classes; y has {len(counts)}. Give a dict {{label: '
                      'target count}} instead.')
  small, largest = int(np.argmin(counts)), int(counts.max())
  want = int(ratio * largest)
  if not 0 < ratio <= 1 or want < counts[small]:
    raise ConfigError(
        f'sampling_strategy={ratio} asks for {want} series of class '
        f'{classes[small]!r}, which has {counts[small]} already (ratio '
        f'{counts[small] / largest:.3g} of the larger class): an '
        'over-sampler only adds. Give a ratio in '
        f'[{counts[small] / largest:.3g}, 1].')
  return {small: want - int(counts[small])}


def _counts(strategy, counts, classes):
  index = {c: i for i, c in enumerate(classes.tolist())}
  out = {}
  for label, target in strategy.items():
    if label not in index:
      raise ConfigError(f'sampling_strategy names class {label!r}, which y '
                        f'does not hold; its classes are {classes.tolist()}.')
    have = int(counts[index[label]])
    if isinstance(target, bool) or not isinstance(
        target, numbers.Integral) or target < have:
      raise ConfigError(
          f'sampling_strategy[{label!r}]={target!r}: a target count must be '
          f'a whole number at least the {have} series class {label!r} has '
          '(an over-sampler only adds).')
    out[index[label]] = int(target) - have
  return out


class Sampler:
  """An over-sampler in imbalanced-learn's convention (fit_resample).

  Args:
    method: a method name of lsa.METHODS or a spec, e.g. 'latent',
      'latent_class(alpha=2)', 'window_warp'.
    sampling_strategy: how many new series per class (see `targets`):
      'auto' (default) brings every class to the largest's size.
    seed: every draw (and the VAE's training) derives from it; the same
      seed and data give the same series.
    vae_config: overrides of the VAE's training config for lsa.fit_vae,
      e.g. {'num_epochs': 200} (None: the defaults).
    **settings: the method's settings (lsa.method_settings(name)), e.g.
      noise=0.5; num_samples is the count for 'per_original'.

  After fit_resample: `sampling_strategy_` ({label: new series}) and
  `vae_` (the TrainedVAE, or None).
  """

  _PARAMS = ('method', 'sampling_strategy', 'seed', 'vae_config')

  def __init__(self, method='latent', sampling_strategy='auto', seed=0,
               vae_config=None, **settings):
    self.method = method
    self.sampling_strategy = sampling_strategy
    self.seed = seed
    self.vae_config = vae_config
    self.settings = settings

  def get_params(self, deep=True):
    del deep  # no nested estimators
    return dict({p: getattr(self, p) for p in self._PARAMS}, **self.settings)

  def set_params(self, **params):
    for name, value in params.items():
      if name in self._PARAMS:
        setattr(self, name, value)
      else:
        self.settings = dict(self.settings, **{name: value})
    return self

  def __repr__(self):
    given = ', '.join(f'{k}={v!r}' for k, v in self.get_params().items())
    return f'Sampler({given})'

  def fit_resample(self, X, y):  # pylint: disable=invalid-name
    """(X_res, y_res): X then the new series (X's shape convention and
    dtype), y then their labels (y's type)."""
    aug = specs.generator(self.method, self.settings)
    key = api.as_key(self.seed)
    x, two_d = api.as_series(X)
    y = labels.check(y, len(x))
    y_index, classes = labels.to_indices(y)
    if len(classes) < 2:
      raise DataError(f'y has one class only ({classes[0]!r}): there is '
                      'nothing to balance, and a VAE\'s latent head needs '
                      'two classes.')
    counts = np.bincount(y_index, minlength=len(classes))
    wanted = targets(self.sampling_strategy, counts, classes,
                     getattr(aug.method, 'num_samples', 1))
    self.vae_ = (api.fit_vae(x, y, config=self.vae_config, seed=self.seed)
                 if aug.needs_vae and any(wanted.values()) else None)
    new_x, new_y = [], []
    for c, n in sorted(wanted.items()):
      if n > 0:
        new_x.append(self._one_class(aug, jax.random.fold_in(key, c), x,
                                     y_index, len(classes), c, n))
        new_y.append(np.full(n, c))
    self.sampling_strategy_ = {classes.tolist()[c]: n
                               for c, n in wanted.items()}
    if not new_x:
      return np.asarray(X), y
    x_new = np.concatenate(new_x)
    augment.check_finite(x_new, np.zeros((len(x_new), 1)), aug.label)
    x_in = np.asarray(X)
    x_new = (x_new[:, 0] if two_d else x_new).astype(
        x_in.dtype if np.issubdtype(x_in.dtype, np.floating) else np.float32)
    return (np.concatenate([x_in.astype(x_new.dtype), x_new]),
            np.concatenate([y, classes[np.concatenate(new_y)]]))

  def _one_class(self, aug, key, x, y_index, num_classes, c, n):
    """n new series of class c: one draw from each of n originals of c
    (taken in a seeded order, cycled), or for latent_class n accepted draws
    from the class's latent model."""
    method = dataclasses.replace(aug.method, num_samples=1)
    probs = np.eye(num_classes, dtype=np.float32)[y_index]
    vae_args = ((self.vae_.model, jax.tree_util.tree_map(
        lambda a: a[None], self.vae_.params)) if aug.needs_vae else ())
    members = np.flatnonzero(y_index == c)
    order = np.asarray(jax.random.permutation(key, members))
    kept = []
    for draw in range(_MAX_ROUNDS):
      missing = n - sum(len(k) for k in kept)
      if missing <= 0:
        break
      picks = order[np.arange(missing) % len(order)]
      slots = (x[picks], probs[picks])
      _, _, w_new = out = augment.fixed_sets(
          method, jax.random.fold_in(key, draw + 1)[None], x, probs,
          *vae_args, slots=slots)
      x_new, w_new = np.asarray(out[0][0, len(x):]), np.asarray(w_new[0,
                                                                      len(x):])
      kept.append(x_new[w_new > 0])
    got = np.concatenate(kept)
    if len(got) < n:
      raise AugmentationError(
          f'{aug.label}: its filter accepted {len(got)} of the {n} series '
          f'class index {c} needs after {_MAX_ROUNDS} rounds of draws: the '
          'class model rarely places a draw in its own class. Lower margin, '
          'raise candidates, or use method "latent".')
    return got[:n]
