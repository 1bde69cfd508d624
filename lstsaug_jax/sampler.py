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

import numpy as np

from lstsaug_jax import api
from lstsaug_jax import augment
from lstsaug_jax import balance
from lstsaug_jax import labels
from lstsaug_jax import specs
from lstsaug_jax.errors import DataError


class Sampler:
  """An over-sampler in imbalanced-learn's convention (fit_resample).

  Args:
    method: a method name of lsa.METHODS or a spec, e.g. 'latent',
      'latent_class(alpha=2)', 'window_warp'.
    sampling_strategy: how many new series per class (balance.targets):
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
    wanted = balance.targets(self.sampling_strategy, counts, classes,
                             getattr(aug.method, 'num_samples', 1))
    self.vae_ = (api.fit_vae(x, y, config=self.vae_config, seed=self.seed)
                 if aug.needs_vae and any(wanted.values()) else None)
    self.sampling_strategy_ = {classes.tolist()[c]: n
                               for c, n in wanted.items()}
    x_new, y_new = balance.balanced_synthetic(
        aug.method, key, x, y_index, len(classes), wanted,
        *((self.vae_.model, self.vae_.params) if self.vae_ else ()))
    x_in = np.asarray(X)
    if not len(x_new):
      return x_in, y
    augment.check_finite(x_new, np.zeros((len(x_new), 1)), aug.label)
    x_new = (x_new[:, 0] if two_d else x_new).astype(
        x_in.dtype if np.issubdtype(x_in.dtype, np.floating) else np.float32)
    return (np.concatenate([x_in.astype(x_new.dtype), x_new]),
            np.concatenate([y, classes[y_new]]))
