"""Checks of a config before any work is done: every field's type and range.

A run that would train nothing (zero epochs), divide by a zero batch, or
carry a NaN into a model is refused here, with every problem named at once,
rather than after minutes of training or never.
"""

import difflib
import math
import numbers

from lstsaug_jax import auto
from lstsaug_jax import buckets
from lstsaug_jax import loop
from lstsaug_jax import models
from lstsaug_jax import rocket
from lstsaug_jax import specs
from lstsaug_jax import train
from lstsaug_jax.errors import ConfigError


def flatten(config):
  """{'vae.hidden_dims': (256, 128, 64), ...} from a ConfigDict (or dict)."""
  flat = {}

  def walk(prefix, d):
    for k, v in d.items():
      if isinstance(v, dict):
        walk(f'{prefix}{k}.', v)
      else:
        flat[f'{prefix}{k}'] = v
  walk('', config.to_dict() if hasattr(config, 'to_dict') else config)
  return flat


def set_field(config, name, value):
  """config.NAME = value for a dotted name ('vae.beta'); a field the
  config does not have is a one-paragraph ConfigError naming the closest
  field."""
  *parents, leaf = name.split('.')
  target = config
  try:
    for p in parents:
      target = target[p]
    if not hasattr(target, 'keys') or leaf not in target.keys():
      raise KeyError(leaf)
    target[leaf] = value
  except (KeyError, AttributeError, TypeError) as e:
    close = []
    if isinstance(e, KeyError):
      what = f'The config has no field {name!r}'
      close = difflib.get_close_matches(name, sorted(flatten(config)), n=1,
                                        cutoff=0.5)
    else:
      what = (f'Cannot set config field {name!r} to {value!r}: '
              f'{str(e).splitlines()[0]}')
    raise ConfigError(
        what + (f'; did you mean {close[0]!r}?' if close else '.')
        + ' lstsaug_jax/defaults.py lists every field with its default '
        '(docs/configuration.md "Config fields").') from None


def seeds(config):
  """The seeds of a run: seed, seed + 1, ..., num_seeds of them."""
  return [config.seed + k for k in range(config.num_seeds)]


def evaluated_on(config):
  """What the classifiers are scored on: 'validation' (a held-out part of
  the training set) or 'test'."""
  return 'validation' if config.validation_fraction else 'test'


def _is_int(v):
  return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_number(v):
  return isinstance(v, numbers.Real) and not isinstance(v, bool)


def integer(low=None, high=None):
  def check(v):
    return _is_int(v) and (low is None or v >= low) and (high is None
                                                         or v <= high)
  bounds = (f' >= {low}' if high is None else f' in [{low}, {high}]'
            ) if low is not None else ''
  return check, f'an integer{bounds}'


def number(low=None, high=None, low_open=False, high_open=False):
  def check(v):
    if not _is_number(v) or not math.isfinite(v):
      return False
    if low is not None and (v <= low if low_open else v < low):
      return False
    return high is None or (v < high if high_open else v <= high)
  if low is not None and high is not None:
    text = (f'a number in {"(" if low_open else "["}{low}, '
            f'{high}{")" if high_open else "]"}')
  elif low is not None:
    text = f'a number {">" if low_open else ">="} {low}'
  else:
    text = 'a finite number'
  return check, text


def one_of(choices):
  choices = tuple(choices)
  return (lambda v: v in choices), f'one of {list(choices)}'


def boolean():
  return (lambda v: isinstance(v, bool)), 'True or False'


def text():
  return (lambda v: isinstance(v, str)), 'a string'


def non_empty_text():
  return (lambda v: isinstance(v, str) and v.strip() != ''), 'a non-empty string'


def optional(rule):
  check, requirement = rule
  return (lambda v: v is None or check(v)), f'unset or {requirement}'


def int_tuple(low=1):
  def check(v):
    return (isinstance(v, (tuple, list)) and len(v) > 0
            and all(_is_int(h) and h >= low for h in v))
  return check, f'a non-empty tuple of integers >= {low}, e.g. "(128,64)"'


# Every field of configs/default.py except the sweep's (checked by the sweep
# runner), with the values it accepts. Plateau patience is at least 1: optax
# counts non-improving epochs from 1, so a patience of 0 would never lower
# the learning rate.
RULES = {
    'data_dir': text(),
    'dataset': non_empty_text(),
    'normalisation': one_of(('series', 'channel', 'none')),
    'missing_values': one_of(('interpolate', 'error')),
    'variable_length': one_of(('resample', 'error')),
    'download': boolean(),
    'download_url': text(),
    'download_timeout': number(0, low_open=True),
    'synthetic_train_size': integer(3),
    'synthetic_test_size': integer(1),
    'synthetic_seed': integer(0),
    'validation_fraction': number(0, 1, high_open=True),
    'validation_seed': integer(0),
    'imbalance_ratio': (lambda v: _is_number(v) and (v == 0 or v >= 1),
                        '0 (off) or a number >= 1'),
    'shots': integer(0),
    'subsample_seed': integer(-1),
    'model_dir': text(),
    'results_dir': text(),
    'checkpoint_path': text(),
    'num_epochs': integer(1),
    'batch_size': integer(1),
    'learning_rate': number(0, low_open=True),
    'seed': integer(0, 2**31 - 1),
    'latent_dim': integer(1),
    'noise': number(0),
    'num_samples': integer(1),
    'baseline': boolean(),
    'test_augment': boolean(),
    'use_trained': boolean(),
    'augment_plot': boolean(),
    'export_synthetic': boolean(),
    'plot_neighbours': integer(1),
    'wandb': boolean(),
    'wandb_project': text(),
    'eval_every': integer(0),
    'eval_batch_size': integer(1),
    'progress': boolean(),
    'num_seeds': integer(1),
    'num_devices': integer(0),
    'distributed': boolean(),
    'coordinator_address': text(),
    'num_processes': integer(0),
    'process_id': integer(-1),
    'compilation_cache_dir': text(),
    'deterministic': boolean(),
    'shape_buckets': one_of(buckets.SETTINGS),
    'vae.arch': one_of(list(models.VAE_ARCHS)),
    'vae.hidden_dims': int_tuple(),
    'vae.output_activation': one_of(sorted(models.OUTPUT_ACTIVATIONS)),
    'vae.plateau_factor': number(0, 1, low_open=True),
    'vae.plateau_patience': integer(1),
    'vae.beta': number(0),
    'vae.contrastive_weight': number(0),
    'classifier.arch': one_of(sorted(models.CLASSIFIERS) + [rocket.ARCH]),
    'classifier.learning_rate': number(0, low_open=True),
    'classifier.num_epochs': optional(integer(1)),
    'classifier.batch_size': optional(integer(1)),
    'classifier.max_batch_fraction': number(0, 1),
    'classifier.min_batch_size': integer(1),
    'classifier.min_steps': integer(0),
    'classifier.budget': one_of(('epochs', 'steps')),
    'augment.method': non_empty_text(),
    'classifier.model_selection': one_of(loop.MODEL_SELECTIONS),
    'classifier.average_fraction': number(0, 1, low_open=True),
    'classifier.average_batch_stats': one_of(loop.BATCH_STATS),
    'classifier.plateau_factor': number(0, 1, low_open=True),
    'classifier.plateau_patience': integer(1),
    'classifier.min_learning_rate': number(0),
    'classifier.conv_impl': one_of(train.CONV_IMPLS),
}


def non_finite_floats(value):
  """True if value (or anything nested in a tuple or list) is a NaN or
  infinite float."""
  if isinstance(value, (tuple, list)):
    return any(non_finite_floats(v) for v in value)
  return isinstance(value, float) and not math.isfinite(value)


def problems(config, rules=None):
  """Each field that breaks its rule, as 'field=value must be ...'."""
  flat = flatten(config)
  found = []
  for field, (check, requirement) in (rules or RULES).items():
    if field in flat and not check(flat[field]):
      found.append(f'{field}={flat[field]!r} must be {requirement}')
  checked = {p.split('=')[0] for p in found}
  for field, value in flat.items():
    if field not in checked and non_finite_floats(value):
      found.append(f'{field}={value!r} must be finite')
  if isinstance(flat.get('augment.method'), str):
    try:
      auto.parse_method(config.augment.method)
    except ConfigError as e:
      found.append(f'augment.method: {e}')
  if flat.get('imbalance_ratio') and flat.get('shots'):
    found.append(f'imbalance_ratio={flat["imbalance_ratio"]!r} and '
                 f'shots={flat["shots"]!r} are two protocols; set one of '
                 'them (the other 0)')
  c = config.classifier
  if (_is_number(c.min_learning_rate) and _is_number(c.learning_rate)
      and c.min_learning_rate > c.learning_rate):
    found.append(f'classifier.min_learning_rate={c.min_learning_rate!r} '
                 'must not exceed classifier.learning_rate='
                 f'{c.learning_rate!r}')
  return found


def per_seed_data(config):
  """True if each seed trains on its own training set (a subsample drawn
  with the run's seed): such seeds cannot share one program."""
  return bool(config.imbalance_ratio or config.shots) and (
      config.subsample_seed == -1)


def validate(config):
  """Raises ConfigError naming every field that is out of range."""
  found = problems(config)
  if found:
    raise ConfigError('Invalid config: ' + '; '.join(found) + '. Fix these '
                      'fields (e.g. --config.FIELD=VALUE) and run again.')


def normalise(config):
  """Accepts the forms of tuple overrides that users write: a tuple of
  strings given as `--config.sweep.datasets=GunPoint,Coffee` arrives as
  ('GunPoint,Coffee',) and is split at the commas outside brackets (so
  `--config.sweep.augmentations=latent,latent_class(alpha=2, margin=1)`
  is two methods). Returns config."""
  for field, value in flatten(config).items():
    if (isinstance(value, tuple) and value
        and all(isinstance(v, str) for v in value)
        and any(len(specs.split_top_level(v)) > 1 for v in value)):
      parts = tuple(p.strip('\'"') for v in value
                    for p in specs.split_top_level(v))
      *parents, leaf = field.split('.')
      target = config
      for p in parents:
        target = target[p]
      target[leaf] = parts
  return config
