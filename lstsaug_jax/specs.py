"""Method specs: an augmentation method, its settings and how it trains, as
one string ('window_warp', 'latent(noise=0.5, mode=online, share=0.25)'),
parsed and checked here for every caller: the command line's
augment.method, sweeps, auto's candidates and lsa.generate."""

import ast
import dataclasses
import math
import re
from typing import Any

import numpy as np

from lstsaug_jax import augment
from lstsaug_jax.errors import ConfigError

# Settings every method takes in a sweep or `augment.method` spec: where it
# runs ('fixed': a synthetic set made once, trained on with the originals;
# 'online': fresh synthetic series in every batch, inside the compiled
# epoch), the share of each batch made synthetic online, and the loss
# weight of synthetic series.
# label_filter='baseline': a fixed set keeps a synthetic series only where
# the baseline's own classifier (trained on the originals alone, with the
# baseline's initial weights and steps) predicts its label; the others get
# loss weight 0.
# strategy: how many synthetic series of each class a fixed set holds:
# 'per_original' (the method's num_samples per series) or 'auto' (every
# class up to the largest's size, as imbalanced-learn's 'auto'; the class
# imbalance baselines take only this).
TRAINING_SETTINGS = dict(mode='fixed', share=0.5, weight=1.0,
                         label_filter='none', strategy='per_original')
# Settings added after results were first recorded: at their default they
# are left out of the results CSV's key, so earlier rows still match.
_ADDED_SETTINGS = dict(label_filter='none', strategy='per_original')




def split_top_level(text):
  """'a, b(c=1, d=2)' -> ['a', 'b(c=1, d=2)']: commas outside brackets."""
  parts, depth, current = [], 0, ''
  for ch in text:
    depth += ch in '(['
    depth -= ch in ')]'
    if ch == ',' and depth == 0:
      parts.append(current)
      current = ''
    else:
      current += ch
  parts.append(current)
  return [p.strip() for p in parts if p.strip()]


# Settings that must be whole numbers >= 1, fractions in (0, 1], or one of
# a few words; every other number must be finite and >= 0.
_COUNTS = ('num_samples', 'candidates', 'knots', 'n_neighbors')
_FRACTIONS = ('share', 'reduce_ratio', 'window_ratio')
# Mixup's Beta(alpha, alpha) and latent_class's covariance scale.
_POSITIVE = ('alpha',)
_CHOICES = dict(mode=('fixed', 'online'), density=('mixture', 'gaussian'),
                label_filter=('none', 'baseline'),
                strategy=('per_original', 'auto'))


def _value(text):
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text.strip().strip('\'"')


def parse_spec(spec):
  """'name' or 'name(key=value, ...)' -> (name, {key: value})."""
  m = re.fullmatch(r'\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*', str(spec), re.S)
  if not m:
    raise ConfigError(f'{spec!r} is not a method spec: write a name, or '
                      'name(key=value, ...), e.g. "latent(noise=0.5)".')
  settings = {}
  for part in split_top_level(m.group(2) or ''):
    key, eq, value = part.partition('=')
    if not eq or not key.strip().isidentifier():
      raise ConfigError(f'{spec!r}: {part!r} is not key=value.')
    settings[key.strip()] = _value(value)
  return m.group(1), settings


def _check_setting(spec, key, value):
  def bad(requirement):
    return ConfigError(f'{spec!r}: {key}={value!r} must be {requirement}.')
  if key in _CHOICES:
    if value not in _CHOICES[key]:
      raise bad(f'one of {list(_CHOICES[key])}')
  elif key in _COUNTS:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise bad('a whole number >= 1')
  elif isinstance(value, bool) or isinstance(value, str):
    return
  elif isinstance(value, (tuple, list)):
    for v in value:
      _check_setting(spec, key, v)
  elif not isinstance(value, (int, float)) or not math.isfinite(value) or (
      value < 0):
    raise bad('a finite number >= 0')
  elif value > float(np.finfo(np.float32).max):
    raise bad(f'at most {np.finfo(np.float32).max:.4g} (the models compute '
              'in float32)')
  elif key in _FRACTIONS and not 0 < value <= 1:
    raise bad('in (0, 1]')
  elif key in _POSITIVE and value == 0:
    raise bad('> 0 (at 0 the method divides by zero or draws nothing)')
  elif key == 'weight' and value == 0:
    # Every synthetic series would count for nothing: that run is the
    # baseline with extra work, and its acceptance rate would read 0.
    raise bad('> 0 (weight 0 trains on the originals alone: that is the '
              'baseline, which a sweep runs by itself)')


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """A method with its settings and how it trains."""

  name: str
  method: Any
  settings: tuple  # every setting, defaults included: ((key, value), ...)
  mode: str = 'fixed'
  share: float = 0.5
  weight: float = 1.0
  label_filter: str = 'none'
  strategy: str = 'per_original'

  @property
  def online(self):
    return self.mode == 'online'

  @property
  def needs_vae(self):
    return self.method.needs_vae

  def synthetic_count(self, counts):
    """How many synthetic series the fixed set holds for class sizes
    `counts` (Python ints)."""
    if self.online:
      return 0
    if self.strategy == 'auto' and not getattr(self.method, 'host', False):
      counts = [int(c) for c in counts]
      return sum(max(counts) - c for c in counts)
    return self.method.synthetic_count(counts)

  @property
  def key(self):
    """Every setting, for the results CSV: 'k=v;k=v' sorted."""
    return ';'.join(f'{k}={v!r}' for k, v in self.settings
                    if not (k in _ADDED_SETTINGS and v == _ADDED_SETTINGS[k]))

  @property
  def label(self):
    """The name and the settings that differ from the defaults."""
    defaults = all_settings(self.name)
    changed = [f'{k}={v!r}' if isinstance(v, str) else f'{k}={v:g}'
               if isinstance(v, float) else f'{k}={v}'
               for k, v in self.settings if defaults.get(k) != v]
    return self.name + (f'({", ".join(changed)})' if changed else '')


def all_settings(name):
  """Every setting of method `name` and the training settings, with their
  defaults (a class-imbalance baseline's strategy is 'auto')."""
  known = dict(augment.method_settings(name), **TRAINING_SETTINGS)
  strategies = getattr(augment.METHODS[name], 'strategies', None)
  if strategies:
    known['strategy'] = strategies[0]
  return known


def make_augmentation(spec, defaults=None, extra=None):
  """An Augmentation from a spec ('window_warp', 'latent(noise=0.5,
  mode=online, share=0.25)'); `defaults` override the method's own (the
  single run's config.noise and config.num_samples for 'latent'); `extra`
  adds settings to the spec's (a setting in both is an error)."""
  name, given = parse_spec(spec)
  twice = sorted(set(given) & set(extra or {}))
  if twice:
    raise ConfigError(f'{spec!r}: {", ".join(twice)} given both in the spec '
                      'and as a keyword; give each setting once.')
  given = {**given, **(extra or {})}
  augment.check_name(name, spec)
  known = all_settings(name)
  unknown = sorted(set(given) - set(known))
  if unknown:
    raise ConfigError(f'{spec!r}: method {name!r} has no setting '
                      f'{", ".join(map(repr, unknown))}; its settings and '
                      f'defaults are {known}.')
  settings = {**known, **(defaults or {}), **given}
  for key, value in list(settings.items()):
    default = known[key]
    if isinstance(default, float) and isinstance(value, int) and not (
        isinstance(value, bool)):
      value = settings[key] = float(value)  # one spelling per setting
    if isinstance(default, (int, float)) and not isinstance(default, bool) \
        and not isinstance(value, (int, float)) or (
            isinstance(default, bool) != isinstance(value, bool)):
      raise ConfigError(f'{spec!r}: {key}={value!r} must be of the type of '
                        f'its default, {default!r}.')
    _check_setting(spec, key, value)
  training = {k: settings[k] for k in TRAINING_SETTINGS}
  host = getattr(augment.METHODS[name], 'host', False)
  if host and (training['mode'] != 'fixed' or training['strategy'] != 'auto'):
    raise ConfigError(f'{spec!r}: {name} is a class-imbalance baseline: it '
                      "balances a fixed set (mode='fixed', strategy='auto') "
                      'and takes no other; leave mode and strategy out.')
  if training['label_filter'] != 'none' and training['mode'] != 'fixed':
    raise ConfigError(f'{spec!r}: label_filter filters a fixed synthetic '
                      "set; with mode='online' there is none. Use "
                      "mode='fixed', or drop label_filter.")
  method = augment.make_method(name, **{
      k: v for k, v in settings.items() if k not in TRAINING_SETTINGS})
  return Augmentation(name, method, tuple(sorted(settings.items())),
                      **training)


def generator(spec, settings=None):
  """The Augmentation of a spec (with `settings` added) for making a fixed
  synthetic set outside training (lsa.generate): checked as the command
  line checks a spec, and without the settings that apply to training
  alone (mode, share, weight, label_filter)."""
  if not isinstance(spec, str):
    raise ConfigError(f'method={spec!r} must be a method name or spec, e.g. '
                      f'"latent" or "jitter(sigma=0.01)"; the methods are '
                      f'{sorted(augment.METHODS)}.')
  aug = make_augmentation(spec, extra=settings)
  if getattr(aug.method, 'host', False):
    raise ConfigError(
        f'{spec!r} is a class-imbalance baseline of the experiments (a '
        'resampler, not a generator of series from each original): for '
        "arrays use imbalanced-learn's or aeon's own (e.g. "
        'aeon.transformations.collection.imbalance.SMOTE).')
  given = dict(parse_spec(spec)[1], **(settings or {}))
  training = sorted(k for k in given if k in TRAINING_SETTINGS)
  if training:
    raise ConfigError(
        f'{", ".join(training)} apply to training a classifier (the command '
        'line\'s augment.method and sweeps), not to making a synthetic set: '
        f'leave {"them" if len(training) > 1 else "it"} out of {spec!r}.')
  return aug


