"""How many synthetic series each class gets (imbalanced-learn's
sampling_strategy), and drawing them class by class from a method's fixed
set: used by lsa.Sampler and by a fixed set with strategy='auto'."""

import dataclasses
import numbers

import jax
import numpy as np

from lstsaug_jax import augment
from lstsaug_jax.errors import AugmentationError
from lstsaug_jax.errors import ConfigError

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


def draw_class(method, key, x, probs, c, n, vae=None, vae_params=None):
  """n new series of class c (probs: one-hot classes of x): one draw from
  each of n originals of c (taken in a seeded order, cycled), or for
  latent_class n accepted draws from the class's latent model (drawn again
  where its filter refuses, up to _MAX_ROUNDS rounds). vae_params: one
  seed's."""
  method = dataclasses.replace(method, num_samples=1)
  vae_args = ((vae, jax.tree_util.tree_map(lambda a: a[None], vae_params))
              if method.needs_vae else ())
  order = np.asarray(jax.random.permutation(
      key, np.flatnonzero(probs.argmax(-1) == c)))
  kept = []
  for draw in range(_MAX_ROUNDS):
    missing = n - sum(len(k) for k in kept)
    if missing <= 0:
      break
    picks = order[np.arange(missing) % len(order)]
    x_all, _, w_all = augment.fixed_sets(
        method, jax.random.fold_in(key, draw + 1)[None], x, probs, *vae_args,
        slots=(x[picks], probs[picks]))
    x_new = np.asarray(x_all[0, len(x):])
    kept.append(x_new[np.asarray(w_all[0, len(x):]) > 0])
  got = np.concatenate(kept)
  if len(got) < n:
    raise AugmentationError(
        f'{type(method).__name__}: its filter accepted {len(got)} of the {n} '
        f'series class index {c} needs after {_MAX_ROUNDS} rounds of draws: '
        'the class model rarely places a draw in its own class. Lower '
        'margin, raise candidates, or use method "latent".')
  return got[:n]


def balanced_synthetic(method, key, x, y, num_classes, wanted, vae=None,
                       vae_params=None):
  """(x_new, y_new class indices): wanted[c] new series of each class c,
  class by class (draw_class), each class from its own key."""
  probs = np.eye(num_classes, dtype=np.float32)[y]
  new_x, new_y = [x[:0]], [np.zeros(0, np.int32)]
  for c, n in sorted(wanted.items()):
    if n > 0:
      new_x.append(draw_class(method, jax.random.fold_in(key, c), x, probs,
                              c, n, vae, vae_params))
      new_y.append(np.full(n, c, np.int32))
  return np.concatenate(new_x), np.concatenate(new_y)
