"""What a stage trains, built in one place: the classifier's plan (batch,
epochs, steps), the checks that a run can finish, and the compiled epoch
with its initial states and data, either at the dataset's own shapes or
padded to a shape bucket (buckets.py) so that datasets of a bucket share
one program. A stage has one code path: it trains `Program.epoch_fn` on
`Program.x, y, w` and gets its model back at its own shapes with
`Program.unpad`."""

import dataclasses
import functools
from typing import Any, Callable

import jax
import numpy as np

from lstsaug_jax import auto
from lstsaug_jax import buckets
from lstsaug_jax import limits
from lstsaug_jax import models
from lstsaug_jax import parallel
from lstsaug_jax import train


@dataclasses.dataclass(frozen=True)
class ClassifierPlan:
  """How a classifier trains: batch size, epochs, gradient steps, and the
  steps over which the plateau rule averages its loss."""

  batch_size: int
  num_epochs: int
  steps: int  # gradient steps in all
  plateau_steps: int


def classifier_plan(config, num_original, num_train=None, multiple=1):
  """The ClassifierPlan for a set of num_train series (num_original: the
  training set before augmentation; multiple: the data-parallel device
  count the batch is rounded up to).

  The batch is min(n, max(min_batch_size, min(batch_size, fraction * n)))
  with n the series trained on (budget='epochs') or the original ones
  (budget='steps'). The reference, the original set at that batch, takes
  num_epochs epochs and at least min_steps steps; with budget='steps' every
  set takes as many epochs as give the reference's steps, and the plateau
  rule sees the reference's epoch length, so a comparison differs in its
  data alone.
  """
  c = config.classifier
  num_train = num_original if num_train is None else num_train
  epochs = c.num_epochs if c.num_epochs is not None else config.num_epochs
  batch = c.batch_size if c.batch_size is not None else config.batch_size
  n = num_original if c.budget == 'steps' else num_train
  if c.max_batch_fraction:
    batch = max(1, min(batch, int(c.max_batch_fraction * n)))
  batch = min(n, max(c.min_batch_size, batch))
  batch = train.epoch_batch_size(batch, multiple)
  own = train.steps_per_epoch(num_train, batch)
  if c.budget == 'steps':
    reference = train.steps_per_epoch(num_original, batch)
    total = max(epochs * reference, c.min_steps)
    total = -(-total // reference) * reference  # whole reference epochs
    epochs = -(-total // own)
    return ClassifierPlan(batch, epochs, epochs * own, reference)
  epochs = max(epochs, -(-c.min_steps // own))
  return ClassifierPlan(batch, epochs, epochs * own, own)


def check_plan(config, dataset, method):
  """Refuses, before any work, a run of `method` (None: the baseline; a
  specs.Augmentation; auto.Auto) on dataset that could not finish: an
  augmented set larger than the memory available, or more gradient steps
  than the step counter holds (limits)."""
  n = int(dataset.x_train.shape[0])
  channels, length = dataset.x_train.shape[1:]
  vae_steps = config.num_epochs * train.steps_per_epoch(n, config.batch_size)
  limits.check_steps('The VAE', vae_steps, 'Lower --config.num_epochs.')
  if method is None:
    options = [None]
  elif isinstance(method, auto.Auto):
    options = [None] + method.augmentations
  else:
    options = [method]
  counts = np.bincount(dataset.y_train, minlength=dataset.num_classes)
  for aug in options:
    extra = 0 if aug is None else aug.synthetic_count(counts)
    label = 'the baseline' if aug is None else aug.label
    limits.check_memory(
        f'The training set of {label} ({n} + {extra:,} synthetic series of '
        f'{channels} x {length}, for {config.num_seeds} seed(s))',
        limits.series_bytes(config.num_seeds * (n + extra), channels,
                            length), 'Lower num_samples (or num_seeds).')
    plan = classifier_plan(config, n, n + extra)
    limits.check_steps(f'The classifier of {label}', plan.steps,
                       'Lower --config.classifier.min_steps or the epochs.')


def init_sample(x, per_seed_x=False):
  """A batch of one zero series shaped like x's (initialisation reads
  shapes only; made on the host, so no program is built for it)."""
  shape = x.shape[2:] if per_seed_x else x.shape[1:]
  return np.zeros((1,) + tuple(shape), np.float32)


@dataclasses.dataclass
class Program:
  """A stage's compiled epoch and what it trains on."""

  model: Any  # the module the epoch trains (padded or not)
  epoch_fn: Callable
  states: Any  # initial states, seed axis first
  x: Any
  y: Any
  w: Any  # loss weights, or None (all 1)
  # params or states -> their unpadded form (the identity unpadded)
  unpad: Callable = lambda tree: tree
  put: Callable = None  # how x, y and w are placed on the devices
  dims: dict = dataclasses.field(default_factory=lambda: dict(shapes=None))
  length: int = None  # the series' true length, when padded


# --- The VAE ---------------------------------------------------------------


def vae_program(config, model, x, y, init_keys, placement):
  """The VAE's epoch for (x, y), padded to a bucket when shape_buckets is
  on (the MLP VAE only)."""
  batch_size = train.epoch_batch_size(config.batch_size,
                                      placement.batch_multiple)
  tx = train.create_optimizer(
      config.learning_rate, train.steps_per_epoch(x.shape[0], batch_size),
      config.vae.plateau_factor, config.vae.plateau_patience)
  settings = (('beta', config.vae.beta),
              ('contrastive_weight', config.vae.contrastive_weight))
  n = x.shape[0]
  if not (model.arch == 'mlp' and buckets.enabled(config.shape_buckets)):
    states = train.init_states(model, tx, init_keys,
                               lambda k: (init_sample(x), k))
    epoch_fn = train.make_epoch_fn(
        functools.partial(train.vae_train_step, **dict(settings)), model,
        tx, batch_size, batch_sharding=placement.batch_sharding)
    return Program(model, epoch_fn, states, x, y, None)
  shapes = buckets.classifier_shapes(
      model.series_length, model.num_classes, min(batch_size, n), n, 1, 1,
      placement.batch_multiple)
  return _padded_vae(config, model, x, y, init_keys, placement, tx,
                     settings, batch_size, shapes)


def _padded_vae(config, model, x, y, init_keys, placement, tx, settings,
                batch_size, shapes):
  # Initialised at the true shapes (the unpadded run's weights), then its
  # length and head padded, so datasets of a bucket share the epoch.
  n = x.shape[0]
  resize = functools.partial(buckets.resize_vae, channels=model.num_channels,
                             depth=len(model.hidden_dims))
  states = train.init_states(
      model, tx, init_keys, lambda k: (init_sample(x), k),
      transform=functools.partial(resize, length=shapes.length,
                                  classes=shapes.classes))
  padded_model = model.clone(series_length=shapes.length,
                             num_classes=shapes.classes)
  epoch_fn = train.make_padded_epoch_fn(
      train.vae_train_step, padded_model,
      (config.learning_rate, config.vae.plateau_factor,
       config.vae.plateau_patience, 0.0), shapes,
      dict(examples=n, batch=min(batch_size, n),
           plateau_steps=train.steps_per_epoch(n, batch_size),
           length=model.series_length, classes=model.num_classes),
      batch_sharding=placement.batch_sharding, per_seed_x=False,
      step_settings=settings)
  x = buckets.pad_series(parallel.to_host(x), shapes.rows, shapes.length)
  y = buckets.pad_labels(parallel.to_host(y), shapes.rows, shapes.classes)
  w = placement.shared(buckets.pad_axis(np.ones(n, np.float32), -1,
                                        shapes.rows))
  # Callers (checkpoints, augmentation) get the unpadded VAE, cut on the
  # host (on the device, slicing would build a program per shape).
  unpad = lambda params: resize(jax.device_get(params),
                                length=model.series_length,
                                classes=model.num_classes)
  return Program(padded_model, epoch_fn, states, x, y, w, unpad=unpad)


# --- The classifiers ---------------------------------------------------------


def classifier_program(config, dataset, x, y, w, init_keys, plan, placement,
                       online=None):
  """A classifier's epoch for (x, y, w) (a seed axis first if x.ndim == 4),
  padded to a bucket when shape_buckets is on (not with on-the-fly
  augmentation). Program.unpad(states) gives (model, states) at the
  dataset's own class count."""
  n = x.shape[-3]
  c = config.classifier
  shapes = None
  if online is None and buckets.enabled(config.shape_buckets):
    shapes = buckets.classifier_shapes(
        dataset.series_length, dataset.num_classes, plan.batch_size, n,
        dataset.x_test.shape[0], config.eval_batch_size,
        placement.batch_multiple)
  conv_impl, unroll = train.conv_plan(
      c.conv_impl, n // plan.batch_size if shapes is None else shapes.steps,
      seeds_sharded=placement.mode == 'seeds')
  model = models.create_classifier(c.arch, dataset.num_classes, conv_impl)
  tx = train.create_optimizer(c.learning_rate, plan.plateau_steps,
                              c.plateau_factor, c.plateau_patience,
                              c.min_learning_rate)
  per_seed_x = x.ndim == 4
  if shapes is None:
    states = train.init_states(model, tx, init_keys,
                               lambda k: (init_sample(x, per_seed_x),))
    epoch_fn = train.make_epoch_fn(
        train.classifier_train_step, model, tx, plan.batch_size,
        per_seed_x=per_seed_x, batch_sharding=placement.batch_sharding,
        unroll=unroll, online=online)
    return Program(model, epoch_fn, states, x, y, w,
                   unpad=lambda states: (model, states),
                   put=placement.per_seed if per_seed_x else placement.shared)
  return _padded_classifier(config, dataset, x, y, w, init_keys, plan,
                            placement, shapes, model, conv_impl, tx)


def _padded_classifier(config, dataset, x, y, w, init_keys, plan, placement,
                       shapes, true_model, conv_impl, tx):
  # Initialised at the true class count (so the weights are the unpadded
  # run's), then the head padded; from a padded-length sample (the weights
  # do not depend on the length), so datasets of a bucket with as many
  # classes share the program.
  c = config.classifier
  n = x.shape[-3]
  per_seed_x = x.ndim == 4
  sample = buckets.pad_axis(init_sample(x, per_seed_x), -1, shapes.length)
  states = train.init_states(
      true_model, tx, init_keys, lambda k: (sample,),
      transform=functools.partial(buckets.resize_head, classes=shapes.classes))
  model = models.create_classifier(c.arch, shapes.classes, conv_impl)
  epoch_fn = train.make_padded_epoch_fn(
      train.classifier_train_step, model,
      (c.learning_rate, c.plateau_factor, c.plateau_patience,
       c.min_learning_rate), shapes,
      dict(examples=n, batch=plan.batch_size,
           plateau_steps=plan.plateau_steps, length=dataset.series_length,
           classes=dataset.num_classes),
      batch_sharding=placement.batch_sharding)
  x, y = parallel.to_host(x), parallel.to_host(y)
  w = np.ones(x.shape[:-2], np.float32) if w is None else parallel.to_host(w)
  if not per_seed_x:
    # As an augmented stage trains (each seed's set, class probabilities,
    # loss weights), so a baseline and another dataset's augmented stage of
    # the same bucket share one program.
    num_seeds = init_keys.shape[0]
    if y.ndim == 1:
      y = np.eye(dataset.num_classes, dtype=np.float32)[np.asarray(y)]
    x, y, w = (np.broadcast_to(a, (num_seeds,) + a.shape) for a in (x, y, w))
  # What callers get is the unpadded model (on the host: slicing on the
  # device would build programs per class count).
  unpad = lambda states: (true_model, buckets.resize_head(
      jax.device_get(states), dataset.num_classes))
  return Program(
      model, epoch_fn, states,
      buckets.pad_series(x, shapes.rows, shapes.length),
      buckets.pad_labels(y, shapes.rows, shapes.classes),
      buckets.pad_axis(w, -1, shapes.rows), unpad=unpad,
      put=placement.per_seed,
      dims=dict(shapes=shapes, length=dataset.series_length,
                num_classes=dataset.num_classes),
      length=dataset.series_length)
