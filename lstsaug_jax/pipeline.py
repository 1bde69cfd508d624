"""The LSTSAUG pipeline: VAE, latent augmentation, baseline vs augmented."""

import contextlib
import dataclasses
import functools
import io
import os
import resource
import time
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import augment
from lstsaug_jax import buckets
from lstsaug_jax import auto as auto_lib
from lstsaug_jax import checkpoint
from lstsaug_jax import configuration
from lstsaug_jax import data
from lstsaug_jax import diagnostics
from lstsaug_jax import files
from lstsaug_jax import formats
from lstsaug_jax import limits
from lstsaug_jax import metrics
from lstsaug_jax import models
from lstsaug_jax import parallel
from lstsaug_jax import plotting
from lstsaug_jax import reporting
from lstsaug_jax import train
from lstsaug_jax.errors import OutputError
from lstsaug_jax.errors import TrainingError

# Named streams split from config.seed. Both classifiers start from the same
# initial weights, so baseline and augmented runs differ only in their data.
KEYS = ('vae_init', 'vae_train', 'augment', 'plot', 'classifier_init',
        'baseline_train', 'augmented_train')


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


def evaluated_on(config):
  """What the classifiers are scored on: 'validation' (a held-out part of
  the training set) or 'test'."""
  return 'validation' if config.validation_fraction else 'test'


def check_plan(config, dataset, method):
  """Refuses, before any work, a run of `method` (None: the baseline; an
  Augmentation; auto.Auto) on dataset that could not finish: an augmented
  set larger than the memory available, or more gradient steps than the
  step counter holds (limits)."""
  n = int(dataset.x_train.shape[0])
  channels, length = dataset.x_train.shape[1:]
  seeds = config.num_seeds
  vae_steps = config.num_epochs * train.steps_per_epoch(n, config.batch_size)
  limits.check_steps('The VAE', vae_steps, 'Lower --config.num_epochs.')
  if method is None:
    options = [None]
  elif isinstance(method, auto_lib.Auto):
    options = [None] + method.augmentations
  else:
    options = [method]
  counts = np.bincount(dataset.y_train, minlength=dataset.num_classes)
  for aug in options:
    extra = 0 if aug is None or aug.online else aug.method.synthetic_count(
        counts)
    label = 'the baseline' if aug is None else aug.label
    limits.check_memory(
        f'The training set of {label} ({n} + {extra:,} synthetic series of '
        f'{channels} x {length}, for {seeds} seed(s))',
        limits.series_bytes(seeds * (n + extra), channels, length),
        'Lower num_samples (or num_seeds).')
    plan = classifier_plan(config, n, n + extra)
    limits.check_steps(f'The classifier of {label}', plan.steps,
                       'Lower --config.classifier.min_steps or the epochs.')


def run_seeds(config):
  return [config.seed + k for k in range(config.num_seeds)]


def seed_keys(seeds):
  """Per stream, a (len(seeds), 2) stack of keys. Each seed's streams are
  split from PRNGKey(seed) exactly as a one-seed run with that seed splits
  them, so every seed of a many-seed run reproduces its own one-seed run."""
  return dict(zip(KEYS, _seed_keys(np.asarray(seeds, np.int64))))


@jax.jit
def _seed_keys(seeds):
  # One program for what, op by op, would build five.
  keys = jax.vmap(lambda s: jax.random.split(jax.random.PRNGKey(s),
                                             len(KEYS)))(seeds)
  return tuple(keys[:, i] for i in range(len(KEYS)))


def init_sample(x, per_seed_x=False):
  """A batch of one zero series shaped like x's (initialisation reads
  shapes only; made on the host, so no program is built for it)."""
  shape = x.shape[2:] if per_seed_x else x.shape[1:]
  return np.zeros((1,) + tuple(shape), np.float32)


def train_vae(config, model, x, y, init_keys, train_keys, logger,
              placement=parallel.Placement(), seeds=None):
  """Trains one VAE per seed; returns their parameters (seed axis first)."""
  batch_size = train.epoch_batch_size(config.batch_size,
                                      placement.batch_multiple)
  tx = train.create_optimizer(
      config.learning_rate, train.steps_per_epoch(x.shape[0], batch_size),
      config.vae.plateau_factor, config.vae.plateau_patience)
  sample = init_sample(x)
  settings = (('beta', config.vae.beta),
              ('contrastive_weight', config.vae.contrastive_weight))
  n, num_classes = x.shape[0], model.num_classes
  shapes = None
  if model.arch == 'mlp' and buckets.enabled(config.shape_buckets):
    shapes = buckets.classifier_shapes(
        model.series_length, num_classes, min(batch_size, n), n, 1, 1,
        placement.batch_multiple)
  w = None
  if shapes is None:
    states = train.init_states(model, tx, init_keys, lambda k: (sample, k))
    epoch_fn = train.make_epoch_fn(
        functools.partial(train.vae_train_step, **dict(settings)), model,
        tx, batch_size, batch_sharding=placement.batch_sharding)
  else:
    # Initialised at the true shapes (the unpadded run's weights), then
    # its length and head padded, so datasets of a bucket share the epoch.
    resize = functools.partial(
        buckets.resize_vae, channels=model.num_channels,
        depth=len(model.hidden_dims))
    states = train.init_states(
        model, tx, init_keys, lambda k: (sample, k),
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
             length=model.series_length, classes=num_classes),
        batch_sharding=placement.batch_sharding, per_seed_x=False,
        step_settings=settings)
    x = buckets.pad_series(parallel.to_host(x), shapes.rows, shapes.length)
    y = buckets.pad_labels(parallel.to_host(y), shapes.rows, shapes.classes)
    w = buckets.pad_axis(np.ones(n, np.float32), -1, shapes.rows)
    w = placement.shared(w)
  states, _ = train.fit(epoch_fn, placement.per_seed(states),
                        *placement.shared((x, y)),
                        placement.per_seed(train_keys), config.num_epochs,
                        desc='VAE', learning_rate=config.learning_rate,
                        on_epoch=lambda r: logger.log('vae', r),
                        progress=config.progress, seeds=seeds, w=w,
                        num_examples=n)
  params = parallel.gathered(states.params)
  if shapes is not None:
    # Callers (checkpoints, augmentation) get the unpadded VAE, cut on the
    # host (on the device, slicing would build a program per shape).
    params = resize(jax.device_get(params), length=model.series_length,
                    classes=num_classes)
  return params


def train_classifier(config, dataset, x, y, init_keys, train_keys, logger,
                     stage, placement=parallel.Placement(), seeds=None,
                     w=None, online=None, aug_states=None):
  """Trains one classifier per seed on (x, y) with loss weights w (x, y, w
  with a leading seed axis if x.ndim == 4; y class indices or
  probabilities); with `online` (a train.Online), synthetic series are made
  in every batch from aug_states (seed axis first).

  Returns:
    a dict: per seed, `accuracy` and `f1` on the test set of the model
    chosen by classifier.model_selection, its `predictions` and its
    `selected_epoch`; the `num_epochs` and `batch_size` trained with; the
    `model` and its trained `states` (seed axis first).
  """
  n = x.shape[-3]
  plan = classifier_plan(config, dataset.x_train.shape[0], n,
                         placement.batch_multiple)
  batch_size, num_epochs = plan.batch_size, plan.num_epochs
  c = config.classifier
  shapes = None
  if online is None and buckets.enabled(config.shape_buckets):
    shapes = buckets.classifier_shapes(
        dataset.series_length, dataset.num_classes, batch_size, n,
        dataset.x_test.shape[0], config.eval_batch_size,
        placement.batch_multiple)
  conv_impl, unroll = train.conv_plan(
      c.conv_impl, n // batch_size if shapes is None else shapes.steps,
      seeds_sharded=placement.mode == 'seeds')
  model = models.create_classifier(c.arch, dataset.num_classes, conv_impl)
  tx = train.create_optimizer(c.learning_rate, plan.plateau_steps,
                              c.plateau_factor, c.plateau_patience,
                              c.min_learning_rate)
  per_seed_x = x.ndim == 4
  sample = init_sample(x, per_seed_x)
  put = placement.per_seed if per_seed_x else placement.shared
  if shapes is None:
    states = train.init_states(model, tx, init_keys, lambda k: (sample,))
    epoch_fn = train.make_epoch_fn(train.classifier_train_step, model, tx,
                                   batch_size, per_seed_x=per_seed_x,
                                   batch_sharding=placement.batch_sharding,
                                   unroll=unroll, online=online)
    dims = dict(shapes=None)
  else:
    # Initialised at the true class count (so the weights are the unpadded
    # run's), then the head padded; from a padded-length sample (the
    # weights do not depend on the length), so datasets of a bucket with as
    # many classes share the program.
    sample = buckets.pad_axis(sample, -1, shapes.length)
    states = train.init_states(
        model, tx, init_keys, lambda k: (sample,),
        transform=functools.partial(buckets.resize_head,
                                    classes=shapes.classes))
    true_model = model
    model = models.create_classifier(c.arch, shapes.classes, conv_impl)
    epoch_fn = train.make_padded_epoch_fn(
        train.classifier_train_step, model,
        (c.learning_rate, c.plateau_factor, c.plateau_patience,
         c.min_learning_rate), shapes,
        dict(examples=n, batch=batch_size, plateau_steps=plan.plateau_steps,
             length=dataset.series_length, classes=dataset.num_classes),
        batch_sharding=placement.batch_sharding)
    x, y = parallel.to_host(x), parallel.to_host(y)
    w = np.ones(x.shape[:-2], np.float32) if w is None else parallel.to_host(w)
    if not per_seed_x:
      # As an augmented stage trains (each seed's set, class probabilities,
      # loss weights), so a baseline and another dataset's augmented stage
      # of the same bucket share one program.
      num_seeds = init_keys.shape[0]
      if y.ndim == 1:
        y = one_hot(y, dataset.num_classes)
      x, y, w = (np.broadcast_to(a, (num_seeds,) + a.shape) for a in (x, y, w))
    put = placement.per_seed
    x = buckets.pad_series(x, shapes.rows, shapes.length)
    y = buckets.pad_labels(y, shapes.rows, shapes.classes)
    w = buckets.pad_axis(w, -1, shapes.rows)
    dims = dict(shapes=shapes, length=dataset.series_length,
                num_classes=dataset.num_classes)
  states = placement.per_seed(states)
  x, y = put(x), put(y)
  w = None if w is None else put(w)
  x_test = placement.shared(jax.device_put(dataset.x_test))

  def evaluate(states):
    preds = train.predict(model, states, x_test, config.eval_batch_size,
                          desc=stage, **dims)
    return dict(test_accuracy=np.array(
        [metrics.accuracy(dataset.y_test, p) for p in preds]))

  states, selected = train.fit(
      epoch_fn, states, x, y, placement.per_seed(train_keys), num_epochs,
      desc=stage, learning_rate=c.learning_rate,
      on_epoch=lambda r: logger.log(stage, r), evaluate=evaluate,
      eval_every=config.eval_every, progress=config.progress,
      model_selection=c.model_selection,
      average_fraction=c.average_fraction, seeds=seeds, w=w,
      aug_states=None if aug_states is None else placement.per_seed(
          aug_states), num_examples=n)
  states = parallel.gathered(states)
  if c.model_selection == 'average' and c.average_batch_stats == 'recompute':
    states = train.recompute_batch_stats(
        model, states, x, batch_size, w,
        None if shapes is None else dataset.series_length)
  preds = train.predict(model, states, x_test, config.eval_batch_size,
                        desc=stage, **dims)
  if shapes is not None:
    # What callers get is the unpadded model (on the host: slicing on the
    # device would build programs per class count).
    model = true_model
    states = buckets.resize_head(jax.device_get(states), dataset.num_classes)
  return dict(accuracy=[metrics.accuracy(dataset.y_test, p) for p in preds],
              f1=[metrics.weighted_f1(dataset.y_test, p) for p in preds],
              predictions=preds, selected_epoch=[int(e) for e in selected],
              num_epochs=int(num_epochs), batch_size=int(batch_size),
              steps=int(plan.steps), model=model, states=states)


def summarise(results, prefix, scores):
  for name in ('accuracy', 'f1'):
    values = scores[name]
    results[f'{prefix}_{name}'] = float(np.mean(values))
    results[f'{prefix}_{name}_std'] = float(np.std(values))
    results[f'{prefix}_{name}_per_seed'] = [float(v) for v in values]
  results[f'{prefix}_selected_epoch_per_seed'] = scores['selected_epoch']
  for name in ('batch_size', 'num_epochs', 'steps'):
    results[f'{prefix}_{name}'] = scores[name]


def prepare_vae(config, dataset, seeds):
  """Before any work: the restored VAEs (use_trained), or a check that the
  checkpoint path takes a save. Hold checkpoint.locked(path) around this
  and the VAE stage. Returns (params or None, checkpoint path,
  metadata)."""
  meta = checkpoint.vae_metadata(config, dataset, seeds)
  path = checkpoint.checkpoint_path(config)
  if config.use_trained:
    _, params, _ = checkpoint.restore_vae(path, meta)
    return params, path, meta
  checkpoint.check_save_target(path)
  return None, path, meta


def plot_stage(config, dataset, vae, vae_params, keys, run_dir):
  x0 = dataset.x_test[:1]
  first_vae = jax.tree_util.tree_map(lambda a: a[0], vae_params)
  neighbours = augment.latent_neighbours(
      vae, first_vae, jnp.asarray(x0), keys['plot'][0], noise=config.noise,
      num_samples=config.plot_neighbours)
  return plotting.plot_neighbours(
      os.path.join(run_dir, 'augment.png'), x0[0],
      np.asarray(neighbours)[:, 0],
      title=f'{config.dataset}: test series 0 and {config.plot_neighbours} '
      f'latent neighbours (noise {config.noise})')


def export_synthetic(run_dir, dataset, seeds, augmented):
  """Each seed's synthetic training series (not the originals) in the UCR
  layout, labelled by class name (mixup's soft labels by their largest
  class): {run_dir}/synthetic/{dataset}_TRAIN.tsv (.ts for several
  channels), under seed{S}/ when there are several seeds. Returns the
  paths."""
  x_aug, y_aug, w_aug = (np.asarray(a) for a in augmented)
  n = dataset.x_train.shape[0]
  names = np.array(dataset.class_names)
  paths = []
  for k, seed in enumerate(seeds):
    folder = os.path.join(run_dir, 'synthetic',
                          *([f'seed{seed}'] if len(seeds) > 1 else []))
    kept = n + np.flatnonzero(w_aug[k, n:] > 0)  # a filter's refusals out
    paths.append(formats.write_split(
        folder, data.file_name(dataset.name), 'TRAIN', x_aug[k, kept],
        names[y_aug[k, kept].argmax(-1)]))
    logging.info('Wrote the synthetic series to %s', paths[-1])
  return paths


class _Written:
  """What a run has written so far, for the message if a later write fails."""

  def __init__(self, run_dir):
    self.run_dir, self.items = run_dir, []

  def add(self, item):
    self.items.append(item)

  def fail(self, error, logger):
    records = (f'metrics.jsonl ({logger.records} whole records)'
               if logger is not None else None)
    written = [i for i in self.items + [records] if i]
    return (f'{error} Written in {self.run_dir}: {", ".join(written)}. Not '
            'written: results.json (no results are reported for this run).')


@dataclasses.dataclass
class Run:
  """What a run produced: its metrics and everything trained in it."""

  results: dict  # what results.json holds
  dataset: data.Dataset
  vae: models.VAE
  vae_params: Any  # one VAE per seed, seed axis first
  # stage ('baseline', 'augmented') -> (the classifier module, its trained
  # TrainState with a seed axis first)
  classifiers: dict
  # The augmented stage's fixed training set, originals first: x (seeds, N,
  # channels, length), class probabilities y (seeds, N, C) and loss weights
  # w (seeds, N; 0 for a sample a filter refused); None if none was made.
  augmented: tuple | None = None


def augmentation(config):
  """The Augmentation (or auto.Auto) of config.augment.method ('latent'
  takes its noise and num_samples from the config's fields of those
  names)."""
  return configuration.parse_method(
      config.augment.method,
      dict(noise=config.noise, num_samples=config.num_samples))


def needs_vae(config, aug):
  """Whether the run trains (or restores) a VAE: for a plot, for a method
  that decodes, or for a run that asks for nothing else."""
  augmenting = config.test_augment or config.export_synthetic
  return (config.augment_plot or (augmenting and aug.needs_vae)
          or not (config.baseline or augmenting))


def one_hot(labels, num_classes):
  """Class probabilities (n, num_classes), float32, made on the host."""
  return np.eye(num_classes, dtype=np.float32)[np.asarray(labels)]


def fit_augmentation(aug, vae, vae_params, x, probs, num_seeds):
  """The method's fitted state per seed (seed axis first)."""
  if aug.method.needs_vae:
    return jax.jit(jax.vmap(lambda p, x, probs: aug.method.fit(
        x, probs, (vae, p)), in_axes=(0, None, None)))(vae_params, x, probs)
  return jax.jit(lambda x, probs: jax.tree_util.tree_map(
      lambda a: jnp.stack([a] * num_seeds),
      aug.method.fit(x, probs, None)))(x, probs)


def fixed_sets(config, dataset, aug, vae, vae_params, keys, logger, stage,
               placement, seeds):
  """Each seed's originals and fixed synthetic set (augment.fixed_sets),
  the synthetic series at loss weight aug.weight, with aug.label_filter
  applied (filter_labels)."""
  vae_args = (vae, vae_params) if aug.method.needs_vae else (None, None)
  fixed = augment.fixed_sets(aug.method, keys['augment'], dataset.x_train,
                             one_hot(dataset.y_train, dataset.num_classes),
                             *vae_args, weight=aug.weight)
  n = dataset.x_train.shape[0]
  x_new, y_new = (parallel.to_host(a)[:, n:] for a in fixed[:2])
  augment.check_finite(x_new.reshape((-1,) + x_new.shape[2:]),
                       y_new.reshape((-1,) + y_new.shape[2:]),
                       f'{stage}: {aug.label}')
  if aug.label_filter == 'baseline':
    fixed = filter_labels(config, dataset, fixed, keys, logger,
                          f'{stage}/label_filter', placement, seeds)
  return fixed


def vae_stage(config, dataset, vae, vae_params, ckpt_path, meta, keys,
              logger, placement, seeds, results, written):
  """Trains and saves the VAEs, or reports the restored ones; their
  quality goes into results."""
  start = time.perf_counter()
  if vae_params is not None:
    logging.info('Restored the trained VAE from %s (no VAE training).',
                 ckpt_path)
    results['vae_source'] = 'restored'
  else:
    vae_params = train_vae(config, vae, dataset.x_train, dataset.y_train,
                           keys['vae_init'], keys['vae_train'], logger,
                           placement, seeds)
    if parallel.is_writer():
      saving = time.perf_counter()
      checkpoint.save_vae(ckpt_path, vae_params, meta)
      results['checkpoint_save_s'] = time.perf_counter() - saving
      written.add(f'the VAE checkpoint {ckpt_path}')
      logging.info('Saved the trained VAE to %s (%.2f s)', ckpt_path,
                   results['checkpoint_save_s'])
    results['vae_source'] = 'trained'
  results['wall_time_s']['vae'] = time.perf_counter() - start
  quality = diagnostics.vae_quality(vae, vae_params, dataset.x_train,
                                    dataset.y_train, dataset.x_test,
                                    dataset.y_test, evaluated_on(config))
  results['vae_quality'] = dict(diagnostics.summary(quality),
                                per_seed=quality)
  return vae_params


def train_with(config, dataset, aug, vae, vae_params, keys, logger, stage,
               placement, seeds):
  """Trains the classifiers of `seeds` on the dataset augmented by `aug`
  (None: the originals alone, the baseline). The same initial weights
  (keys['classifier_init']) for every method.

  Returns (scores as train_classifier's, with `train_size` and, for
  augmentations, `augmentation` and `synthetic_accepted`; the fixed set
  (x, y, w) or None).
  """
  if aug is None:
    scores = train_classifier(
        config, dataset, dataset.x_train, dataset.y_train,
        keys['classifier_init'], keys['baseline_train'], logger, stage,
        placement, seeds)
    return dict(scores, train_size=int(dataset.x_train.shape[0])), None
  extra = dict(augmentation=aug.label)
  fixed = None
  if aug.online:
    probs = one_hot(dataset.y_train, dataset.num_classes)
    states = fit_augmentation(aug, vae, vae_params, dataset.x_train, probs,
                              len(seeds))
    try:
      scores = train_classifier(
          config, dataset, dataset.x_train, probs, keys['classifier_init'],
          keys['augmented_train'], logger, stage, placement, seeds,
          online=train.Online(aug.method, aug.share, aug.weight),
          aug_states=states)
    except TrainingError as e:
      raise TrainingError(
          f'{e} With mode=online, {aug.label} makes synthetic series in '
          'every batch: a setting too large for float32 (a sigma or noise '
          'far above the data\'s scale) makes them infinite; lower it.'
          ) from None
    extra['train_size'] = int(dataset.x_train.shape[0])
  else:
    fixed = fixed_sets(config, dataset, aug, vae, vae_params, keys, logger,
                       stage, placement, seeds)
    scores = train_classifier(
        config, dataset, fixed[0], fixed[1], keys['classifier_init'],
        keys['augmented_train'], logger, stage, placement, seeds, w=fixed[2])
    n = dataset.x_train.shape[0]
    # The share of draws kept (loss weight > 0), whatever aug.weight is.
    extra.update(train_size=int(fixed[0].shape[1]),
                 synthetic_accepted=float(np.mean(
                     parallel.to_host(fixed[2])[:, n:] > 0)))
  return dict(scores, **extra), fixed


def filter_labels(config, dataset, fixed, keys, logger, stage, placement,
                  seeds):
  """The fixed set (x, y, w) with loss weight 0 for each synthetic series
  whose label the baseline's classifier of its seed does not predict (that
  classifier trained here again: the baseline's data, initial weights and
  steps, so the same model; the test set plays no part)."""
  baseline = train_classifier(
      config, dataset, dataset.x_train, dataset.y_train,
      keys['classifier_init'], keys['baseline_train'], logger, stage,
      placement, seeds)
  n = dataset.x_train.shape[0]
  x, y, w = (np.asarray(parallel.to_host(a)) for a in fixed)
  predicted = train.predict(baseline['model'], baseline['states'],
                            x[:, n:], config.eval_batch_size, desc=stage,
                            per_seed=True)
  w = w.copy()
  w[:, n:] *= predicted == y[:, n:].argmax(-1)
  return x, y, w


def train_method(config, dataset, method, vae, vae_params, keys, logger,
                 stage, placement, seeds):
  """train_with for a method that may be auto.Auto: auto first chooses on
  the training set alone (its details in scores['details']), then trains
  the winner on the whole training set."""
  if not isinstance(method, auto_lib.Auto):
    return train_with(config, dataset, method, vae, vae_params, keys, logger,
                      stage, placement, seeds)

  def fold_run(fold, aug, fold_vae_params, fold_stage):
    scores, _ = train_with(config, fold, aug, vae, fold_vae_params, keys,
                           logger, f'{stage}/{fold_stage}', placement, seeds)
    return scores['accuracy']

  def fold_vaes(fold):
    return train_vae(config, vae, fold.x_train, fold.y_train,
                     keys['vae_init'], keys['vae_train'], logger, placement,
                     seeds)

  chosen, cv, problem = auto_lib.choose(method, dataset, fold_run, fold_vaes)
  label = 'none' if chosen is None else chosen.label
  if problem:
    logging.warning('auto chose none without scoring anything: %s.', problem)
  else:
    logging.info('auto chose %s (cross-validated accuracy: %s)', label,
                 ', '.join(f'{k} {v:.4f}' for k, v in cv.items()))
  scores, fixed = train_with(config, dataset, chosen, vae, vae_params, keys,
                             logger, stage, placement, seeds)
  scores['details'] = dict(chosen=label, cross_validated=cv)
  if problem:
    scores['details']['not_estimated'] = problem
  scores['augmentation'] = f'{method.label} -> {label}'
  return scores, fixed


def augmented_stage(config, aug, dataset, vae, vae_params, keys, logger,
                    placement, seeds, results):
  """With test_augment, the classifier trained on the augmented set; with
  export_synthetic, the fixed synthetic set. Returns (scores or None, the
  fixed set (x, y, w) or None)."""
  start = time.perf_counter()
  scores, fixed = None, None
  if config.test_augment:
    scores, fixed = train_method(config, dataset, aug, vae, vae_params, keys,
                                 logger, 'augmented', placement, seeds)
    summarise(results, 'augmented', scores)
    results['augmented_train_size'] = scores['train_size']
    for name in ('augmentation', 'synthetic_accepted', 'details'):
      if name in scores:
        results[name] = scores[name]
    results['wall_time_s']['augmented'] = time.perf_counter() - start
  if fixed is None and config.export_synthetic and not isinstance(
      aug, auto_lib.Auto):
    fixed = fixed_sets(config, dataset, aug, vae, vae_params, keys, logger,
                       'export', placement, seeds)
  return scores, fixed


@contextlib.contextmanager
def _compiles(results, stage):
  """Records the programs a stage builds and what they cost
  (results['compiles'][stage], see reporting.CompileLog)."""
  with reporting.CompileLog() as log:
    yield
  summary = results.setdefault('compiles', {})[stage] = log.summary()
  logging.info('%s: %d programs built (%d from the compilation cache) in '
               '%.2f s of tracing, lowering and compiling.', stage,
               summary['programs'], summary['cache_hits'],
               summary['total_s'])


def run(config):
  """Runs the stages the config asks for and writes their metrics,
  per-epoch records and predictions to a new run directory; returns a Run."""
  with contextlib.ExitStack() as vae_lock:
    return _run(config, vae_lock)


def _run(config, vae_lock):
  configuration.validate(config)
  aug = augmentation(config)
  placement = parallel.make_placement(config.num_seeds, config.num_devices)
  dataset = data.load(config)
  check_plan(config, dataset, aug if (config.test_augment
                                      or config.export_synthetic) else None)
  seeds = run_seeds(config)
  vae = checkpoint.build_vae(checkpoint.vae_metadata(config, dataset, seeds))
  keys = seed_keys(seeds)
  # Everything that depends on the user's input is checked before a run
  # directory exists or anything trains. The checkpoint stays locked until
  # the VAE is saved (or restored), so a run sharing its path waits its turn.
  with_vae = needs_vae(config, aug)
  if with_vae and parallel.is_writer():  # multi-host: process 0 saves
    vae_lock.enter_context(checkpoint.locked(checkpoint.checkpoint_path(
        config)))
  vae_params, ckpt_path, meta = (prepare_vae(config, dataset, seeds)
                                 if with_vae else (None, None, None))
  # Multi-host: process 0 writes; the others compute the same and write
  # nothing (README "Many seeds, many devices").
  writer = parallel.is_writer()
  if writer:
    files.check_writable_dir(config.results_dir, 'results_dir')
    run_dir = reporting.make_run_dir(config.results_dir, config.dataset)
    files.atomic_write(os.path.join(run_dir, 'config.json'),
                       config.to_json_best_effort(indent=2, sort_keys=True)
                       + '\n')
    logging.info('Run directory: %s', run_dir)
  else:
    run_dir = None
  written = _Written(run_dir)
  written.add('config.json')
  if placement.mode != 'single':
    logging.info('%d devices, sharding the %s.', placement.num_devices,
                 'seeds' if placement.mode == 'seeds' else 'batches')
  wandb_run = (reporting.start_wandb(config, run_dir)
               if config.wandb and writer else None)
  logger = (reporting.MetricsLogger(run_dir, wandb_run) if writer
            else reporting.NullLogger())
  results = dict(dataset=config.dataset, run_dir=run_dir,
                 seeds=seeds,
                 evaluated_on=evaluated_on(config),
                 train_size=int(dataset.x_train.shape[0]),
                 test_size=int(dataset.x_test.shape[0]),
                 series_length=int(dataset.series_length),
                 num_classes=int(dataset.num_classes),
                 data=dataset.provenance, devices=placement.num_devices,
                 device_placement=placement.mode,
                 vae_checkpoint=ckpt_path, wall_time_s={},
                 # What decides whether a GPU run repeats (cli.start).
                 platform=jax.default_backend(),
                 xla_flags=os.environ.get('XLA_FLAGS', ''))
  predictions, classifiers, fixed = {}, {}, None
  try:
    if with_vae:
      with _compiles(results, 'vae'):
        vae_params = vae_stage(config, dataset, vae, vae_params, ckpt_path,
                               meta, keys, logger, placement, seeds, results,
                               written)
      vae_lock.close()
    if not (config.test_augment or config.augment_plot or config.baseline
            or config.export_synthetic):
      logging.info('Trained and saved the VAE only. Add '
                   '--config.test_augment=True (and --config.baseline=True) '
                   'to train the classifiers, or --config.augment_plot=True '
                   'for a plot of latent neighbours.')

    if config.augment_plot and writer:
      path = plot_stage(config, dataset, vae, vae_params, keys, run_dir)
      written.add('augment.png')
      results['augment_plot'] = path
      logging.info('Saved the augmentation plot to %s', path)

    if config.baseline:
      start = time.perf_counter()
      with _compiles(results, 'baseline'):
        scores = train_classifier(
            config, dataset, dataset.x_train, dataset.y_train,
            keys['classifier_init'], keys['baseline_train'], logger,
            'baseline', placement, seeds)
      summarise(results, 'baseline', scores)
      predictions['baseline'] = scores['predictions']
      classifiers['baseline'] = (scores['model'], scores['states'])
      results['wall_time_s']['baseline'] = time.perf_counter() - start

    if config.test_augment or config.export_synthetic:
      with _compiles(results, 'augmented'):
        scores, fixed = augmented_stage(config, aug, dataset, vae,
                                        vae_params, keys, logger, placement,
                                        seeds, results)
      if scores is not None:
        predictions['augmented'] = scores['predictions']
        classifiers['augmented'] = (scores['model'], scores['states'])
    if config.export_synthetic and fixed is not None and writer:
      results['synthetic_files'] = export_synthetic(run_dir, dataset, seeds,
                                                    fixed)
      written.add('synthetic/')
    elif config.export_synthetic:
      logging.info('No synthetic set to export: %s makes no fixed set.',
                   results.get('augmentation', aug.label))

    results['peak_host_memory_mb'] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if predictions and writer:
      # Per stage, each seed's predicted class of every evaluation series
      # (class indices into class_names), beside the true ones.
      buffer = io.BytesIO()
      np.savez(buffer, y_true=dataset.y_test, **predictions,
               class_names=np.array(dataset.class_names, dtype=str))
      files.atomic_write(os.path.join(run_dir, 'predictions.npz'),
                         buffer.getvalue())
      written.add('predictions.npz')
    if writer:
      files.write_json(os.path.join(run_dir, 'results.json'), results)
  except TrainingError as e:
    raise TrainingError(written.fail(e, logger)) from None
  except OSError as e:
    raise OutputError(written.fail(
        e if isinstance(e, OutputError) else
        f'Writing the run\'s outputs failed ({e}).', logger)) from None
  finally:
    logger.close()
  if writer:
    logging.info('Results written to %s', run_dir)
  return Run(results, dataset, vae, vae_params, classifiers, fixed)
