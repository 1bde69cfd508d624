"""MiniRocket (Dempster et al. 2021) as the downstream classifier:
classifier.arch='minirocket' trains aeon's MiniRocketClassifier (the
reference implementation: random convolutional features and a ridge
classifier with cross-validated regularisation) on the same originals and
synthetic sets as the ResNets. It fits on the host in seconds, once per
seed (random_state = the seed); there are no epochs or gradient steps.

aeon is an optional dependency (pyproject's `interop` extra).
"""

import numpy as np

from lstsaug_jax.errors import ConfigError

ARCH = 'minirocket'


def enabled(config):
  return config.classifier.arch == ARCH


def _classifier_class():
  try:
    from aeon.classification.convolution_based import MiniRocketClassifier  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConfigError(
        "classifier.arch='minirocket' trains aeon's MiniRocketClassifier, "
        'and aeon is not installed: pip install "lstsaug-jax[interop]" (or '
        'pip install aeon).') from None
  return MiniRocketClassifier


def check(online, label_filter=False):
  """Refuses what MiniRocket cannot train: synthetic series made inside
  each batch (it has no batches) or a filter that needs the baseline
  ResNet's predictions."""
  if online:
    raise ConfigError(
        "mode='online' makes synthetic series inside each training batch of "
        "a ResNet; MiniRocket fits once, on a fixed set. Use mode='fixed' "
        "with classifier.arch='minirocket'.")
  if label_filter:
    raise ConfigError(
        "label_filter='baseline' filters with the baseline ResNet's "
        "predictions; with classifier.arch='minirocket' leave it out.")


def fit_predict(x, y, w, x_test, seeds, class_weight=None):
  """Per seed: MiniRocket fitted on (x, y) without the series of loss
  weight 0 (a filter's refusals), then its predictions on x_test.

  x: (n, channels, length) or, per seed, (seeds, n, channels, length); y:
  class indices or one-hot probabilities (seed axis as x's); w: loss
  weights or None: 0 or 1 only (the ridge takes no weights; class_weight
  'balanced' weighs the classes instead).
  Returns (seeds, n_test) predicted class indices.
  """
  classifier_class = _classifier_class()
  x, y = np.asarray(x), np.asarray(y)
  per_seed = x.ndim == 4
  predictions = []
  for i, seed in enumerate(seeds):
    xs, ys = (x[i], y[i]) if per_seed else (x, y)
    if ys.ndim == 2:
      if not np.all(np.isclose(ys.max(-1), 1.0)):
        raise ConfigError(
            'MiniRocket\'s ridge takes hard labels; mixup\'s are class '
            "probabilities. Use another method with classifier.arch="
            "'minirocket'.")
      ys = ys.argmax(-1)
    if w is not None:
      ws = np.asarray(w[i] if per_seed else w)
      # With class_weight the originals' weights are the class weights,
      # which the ridge's class_weight='balanced' applies instead.
      if class_weight is None and not np.all((ws == 0) | (ws == 1)):
        raise ConfigError(
            'MiniRocket takes no loss weights, and this training set has '
            'weights other than 0 and 1 (a method\'s weight setting): leave '
            "weight at 1 with classifier.arch='minirocket'.")
      xs, ys = xs[ws > 0], ys[ws > 0]
    model = classifier_class(random_state=int(seed),
                             class_weight=class_weight)
    model.fit(xs.astype(np.float32), ys.astype(np.int64))
    predictions.append(np.asarray(model.predict(np.asarray(
        x_test, np.float32))).astype(np.int32))
  return np.stack(predictions)
