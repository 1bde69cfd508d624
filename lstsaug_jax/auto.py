"""`auto`: per dataset, the augmentation (or none) chosen on the training set
alone, by stratified k-fold cross-validation; then the classifier trained on
the whole training set with the winner.

The test set is never read: the choice sees only x_train and y_train (a test
passes a dataset without a test set). VAEs of methods that decode are
trained on each fold's training part, so a held-out fold never shapes the
generator that is scored on it.

Cost: (1 + len(candidates)) x folds classifier trainings on (folds - 1) /
folds of the data (plus a VAE per fold for latent candidates), then one
training of the winner: about 1 + (1 + c) (k - 1) training runs, 7 with
the defaults (c = 2, k = 3).
"""

import dataclasses

import numpy as np

from lstsaug_jax import specs
from lstsaug_jax.errors import ConfigError

DEFAULT_CANDIDATES = ('window_warp', 'latent_class')


@dataclasses.dataclass(frozen=True)
class Auto:
  """candidates: method specs scored against none; folds: k; margin: the
  cross-validated accuracy (a fraction) a method must gain over none to be
  chosen, so that noise between close scores leaves the originals alone."""

  candidates: tuple = DEFAULT_CANDIDATES
  folds: int = 3
  margin: float = 0.01

  @property
  def augmentations(self):
    return [specs.make_augmentation(c) for c in self.candidates]

  @property
  def needs_vae(self):
    return any(a.method.needs_vae for a in self.augmentations)

  @property
  def key(self):
    return ';'.join(f'{f.name}={getattr(self, f.name)!r}'
                    for f in dataclasses.fields(self))

  @property
  def label(self):
    changed = [f'{f.name}={getattr(self, f.name)!r}'
               for f in dataclasses.fields(self)
               if getattr(self, f.name) != f.default]
    return 'auto' + (f'({", ".join(changed)})' if changed else '')


def parse(spec):
  """'auto' or 'auto(candidates=(...), folds=3, margin=0.01)' -> Auto."""
  name, settings = specs.parse_spec(spec)
  if name != 'auto':
    raise ConfigError(f'{spec!r} is not an auto spec.')
  known = {f.name for f in dataclasses.fields(Auto)}
  unknown = sorted(set(settings) - known)
  if unknown:
    raise ConfigError(f'{spec!r}: auto has no setting '
                      f'{", ".join(unknown)}; its settings are '
                      f'{sorted(known)}.')
  if isinstance(settings.get('candidates'), str):
    settings['candidates'] = (settings['candidates'],)
  result = Auto(**{k: tuple(v) if k == 'candidates' else v
                   for k, v in settings.items()})
  if not result.candidates:
    raise ConfigError(f'{spec!r}: candidates is empty.')
  if not isinstance(result.folds, int) or result.folds < 2:
    raise ConfigError(f'{spec!r}: folds={result.folds!r} must be an integer '
                      '>= 2.')
  if not isinstance(result.margin, (int, float)) or not (
      0 <= result.margin < 1):
    raise ConfigError(f'{spec!r}: margin={result.margin!r} must be in [0, 1).')
  for candidate in result.candidates:
    if specs.parse_spec(candidate)[0] == 'auto':
      raise ConfigError(f'{spec!r}: auto cannot be its own candidate.')
    specs.make_augmentation(candidate)  # a clear error if it is unknown
  return result


def parse_method(spec, latent_defaults=None):
  """A method spec -> a specs.Augmentation, or an Auto for 'auto(...)'
  (latent_defaults: a single run's noise and num_samples, which 'latent'
  takes as its defaults)."""
  name, _ = specs.parse_spec(spec)
  if name == 'auto':
    return parse(spec)
  return specs.make_augmentation(
      spec, latent_defaults if name == 'latent' else None)


def folds(y, k, seed=0):
  """Stratified folds: each class's series dealt in turn (after a seeded
  shuffle) into k folds. Returns k index arrays."""
  rng = np.random.RandomState(seed)
  assignment = np.empty(len(y), int)
  offset = 0
  for c in np.unique(y):
    members = rng.permutation(np.flatnonzero(y == c))
    assignment[members] = (offset + np.arange(len(members))) % k
    offset += len(members)  # classes start where the last one stopped
  return [np.flatnonzero(assignment == f) for f in range(k)]


def fold_dataset(dataset, held_out):
  """The dataset with `held_out` training series as its evaluation set; the
  real test set is not carried over."""
  keep = np.setdiff1d(np.arange(len(dataset.y_train)), held_out)
  return dataclasses.replace(
      dataset, x_train=dataset.x_train[keep], y_train=dataset.y_train[keep],
      x_test=dataset.x_train[held_out], y_test=dataset.y_train[held_out])


def fold_problem(y, k):
  """Why k stratified folds of labels y cannot score anything (None if
  they can): a held-out series whose class has no other training series
  cannot be learnt from, and a fold needs series to hold out."""
  counts = np.bincount(np.asarray(y))
  counts = counts[counts > 0]
  if len(y) < k:
    return (f'{len(y)} training series cannot fill {k} folds, so the folds '
            'cannot score any method')
  single = int(np.sum(counts < 2))
  if single:
    return (f'{single} of {len(counts)} classes have a single training '
            'series; held out, it has no series of its class to learn from, '
            'so cross-validated accuracy measures nothing there')
  return None


def choose(auto, dataset, train_with, train_vaes=None, seed=0):
  """Scores none and every candidate by k-fold cross-validation on the
  training set.

  Args:
    auto: an Auto.
    dataset: only x_train and y_train are read.
    train_with(fold, aug, vae_params, stage) -> per-seed accuracies on the
      fold's held-out part (aug None: the originals alone).
    train_vaes(fold) -> VAE parameters trained on the fold's training part
      (needed when a candidate decodes).
    seed: the folds' shuffle.

  Returns:
    (the chosen Augmentation, or None for none; {label: mean accuracy over
    folds and seeds}; why the folds could not score anything, or None).
    Where they cannot (fold_problem), none is chosen and nothing trains.
  """
  problem = fold_problem(dataset.y_train, auto.folds)
  if problem:
    return None, {}, problem
  options = [None] + auto.augmentations
  labels = ['none'] + [a.label for a in options[1:]]
  scores = {label: [] for label in labels}
  for f, held_out in enumerate(folds(dataset.y_train, auto.folds, seed)):
    fold = fold_dataset(dataclasses.replace(dataset, x_test=None,
                                            y_test=None), held_out)
    vae_params = (train_vaes(fold) if auto.needs_vae and train_vaes
                  else None)
    for option, label in zip(options, labels):
      accuracy = train_with(fold, option, vae_params,
                            f'auto-fold{f}-{label}')
      scores[label].append(float(np.mean(accuracy)))
  means = {label: float(np.mean(v)) for label, v in scores.items()}
  best = max(labels[1:], key=lambda label: means[label])
  if means[best] - means['none'] > auto.margin:
    return options[labels.index(best)], means, None
  return None, means, None

