"""The LSTSAUG pipeline: VAE, latent augmentation, baseline vs augmented."""

import dataclasses
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
from lstsaug_jax import checkpoint
from lstsaug_jax import configuration
from lstsaug_jax import data
from lstsaug_jax import diagnostics
from lstsaug_jax import files
from lstsaug_jax import formats
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


def classifier_settings(config, num_train=None):
  """(epochs, batch size) of the classifiers; with max_batch_fraction, the
  batch size depends on the number of training series."""
  c = config.classifier
  num_epochs = c.num_epochs if c.num_epochs is not None else config.num_epochs
  batch_size = c.batch_size if c.batch_size is not None else config.batch_size
  if c.max_batch_fraction and num_train is not None:
    batch_size = max(1, min(batch_size,
                            int(c.max_batch_fraction * num_train)))
  return num_epochs, batch_size


def run_seeds(config):
  return [config.seed + k for k in range(config.num_seeds)]


def seed_keys(seeds):
  """Per stream, a (len(seeds), 2) stack of keys. Each seed's streams are
  split from PRNGKey(seed) exactly as a one-seed run with that seed splits
  them, so every seed of a many-seed run reproduces its own one-seed run."""
  per_seed = [jax.random.split(jax.random.PRNGKey(s), len(KEYS))
              for s in seeds]
  return {name: jnp.stack([keys[i] for keys in per_seed])
          for i, name in enumerate(KEYS)}


def vae_param_shapes(model, x, init_keys):
  """The shapes of one VAE per init key (seed axis first), computed without
  initialising: what a restored checkpoint must match."""
  sample = jnp.asarray(x[:1])
  return jax.eval_shape(lambda keys: jax.vmap(
      lambda k: model.init(k, sample, k))(keys)['params'], init_keys)


def train_vae(config, model, x, y, init_keys, train_keys, logger,
              placement=parallel.Placement(), seeds=None):
  """Trains one VAE per seed; returns their parameters (seed axis first)."""
  batch_size = train.epoch_batch_size(config.batch_size,
                                      placement.batch_multiple)
  tx = train.create_optimizer(
      config.learning_rate, train.steps_per_epoch(x.shape[0], batch_size),
      config.vae.plateau_factor, config.vae.plateau_patience)
  sample = jnp.asarray(x[:1])
  states = placement.per_seed(
      train.init_states(model, tx, init_keys, lambda k: (sample, k)))
  epoch_fn = train.make_epoch_fn(train.vae_train_step, model, tx, batch_size,
                                 batch_sharding=placement.batch_sharding)
  states, _ = train.fit(epoch_fn, states, *placement.shared((x, y)),
                        placement.per_seed(train_keys), config.num_epochs,
                        desc='VAE', learning_rate=config.learning_rate,
                        on_epoch=lambda r: logger.log('vae', r),
                        progress=config.progress, seeds=seeds)
  return states.params


def train_classifier(config, dataset, x, y, init_keys, train_keys, logger,
                     stage, placement=parallel.Placement(), seeds=None):
  """Trains one classifier per seed on (x, y) (x with a leading seed axis
  if x.ndim == 4).

  Returns:
    a dict: per seed, `accuracy` and `f1` on the test set of the model
    chosen by classifier.model_selection, its `predictions` and its
    `selected_epoch`; the `num_epochs` and `batch_size` trained with; the
    `model` and its trained `states` (seed axis first).
  """
  n = x.shape[-3]
  num_epochs, batch_size = classifier_settings(config, n)
  batch_size = train.epoch_batch_size(batch_size, placement.batch_multiple)
  c = config.classifier
  steps = train.steps_per_epoch(n, batch_size)
  conv_impl, unroll = train.conv_plan(
      c.conv_impl, n // batch_size, seeds_sharded=placement.mode == 'seeds')
  model = models.create_classifier(c.arch, dataset.num_classes, conv_impl)
  tx = train.create_optimizer(c.learning_rate, steps, c.plateau_factor,
                              c.plateau_patience, c.min_learning_rate)
  per_seed_x = x.ndim == 4
  sample = jnp.asarray(x[0, :1] if per_seed_x else x[:1])
  states = placement.per_seed(
      train.init_states(model, tx, init_keys, lambda k: (sample,)))
  epoch_fn = train.make_epoch_fn(train.classifier_train_step, model, tx,
                                 batch_size, per_seed_x=per_seed_x,
                                 batch_sharding=placement.batch_sharding,
                                 unroll=unroll)
  x = placement.per_seed(x) if per_seed_x else placement.shared(x)
  x_test = placement.shared(jnp.asarray(dataset.x_test))

  def evaluate(states):
    preds = train.predict(model, states, x_test, config.eval_batch_size,
                          desc=stage)
    return dict(test_accuracy=np.array(
        [metrics.accuracy(dataset.y_test, p) for p in preds]))

  states, selected = train.fit(
      epoch_fn, states, x, placement.shared(y),
      placement.per_seed(train_keys), num_epochs, desc=stage,
      learning_rate=c.learning_rate, on_epoch=lambda r: logger.log(stage, r),
      evaluate=evaluate, eval_every=config.eval_every,
      progress=config.progress, model_selection=c.model_selection,
      seeds=seeds)
  preds = train.predict(model, states, x_test, config.eval_batch_size,
                        desc=stage)
  return dict(accuracy=[metrics.accuracy(dataset.y_test, p) for p in preds],
              f1=[metrics.weighted_f1(dataset.y_test, p) for p in preds],
              predictions=preds, selected_epoch=[int(e) for e in selected],
              num_epochs=int(num_epochs), batch_size=int(batch_size),
              model=model, states=states)


def summarise(results, prefix, scores):
  for name in ('accuracy', 'f1'):
    values = scores[name]
    results[f'{prefix}_{name}'] = float(np.mean(values))
    results[f'{prefix}_{name}_std'] = float(np.std(values))
    results[f'{prefix}_{name}_per_seed'] = [float(v) for v in values]
  results[f'{prefix}_selected_epoch_per_seed'] = scores['selected_epoch']
  results[f'{prefix}_batch_size'] = scores['batch_size']


def prepare_vae(config, dataset, vae, seeds, keys):
  """Before any work: the restored VAEs (use_trained), or a check that the
  checkpoint path takes a save. Returns (params or None, checkpoint path,
  metadata)."""
  meta = checkpoint.vae_metadata(config, dataset, seeds)
  path = checkpoint.checkpoint_path(config)
  if config.use_trained:
    abstract = vae_param_shapes(vae, dataset.x_train, keys['vae_init'])
    params, _ = checkpoint.restore_vae(path, meta, abstract)
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
  layout, labelled by class name: {run_dir}/synthetic/{dataset}_TRAIN.tsv
  (.ts for several channels), under seed{S}/ when there are several seeds.
  Returns the paths."""
  x_aug, y_aug = augmented
  n = dataset.x_train.shape[0]
  names = np.array(dataset.class_names)
  paths = []
  for k, seed in enumerate(seeds):
    folder = os.path.join(run_dir, 'synthetic',
                          *([f'seed{seed}'] if len(seeds) > 1 else []))
    paths.append(formats.write_split(
        folder, data.file_name(dataset.name), 'TRAIN',
        np.asarray(x_aug[k, n:]), names[y_aug[n:]]))
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
  # The augmented stage's training set: x (seeds, n, channels, length) and
  # the labels (n,), originals first; None without test_augment.
  augmented: tuple | None = None


def run(config):
  """Runs the stages the config asks for and writes their metrics,
  per-epoch records and predictions to a new run directory; returns a Run."""
  configuration.validate(config)
  placement = parallel.make_placement(config.num_seeds, config.num_devices)
  dataset = data.load(config)
  vae = models.create_vae(config, dataset.series_length, dataset.num_classes,
                          dataset.num_channels)
  seeds = run_seeds(config)
  keys = seed_keys(seeds)
  # Everything that depends on the user's input is checked before a run
  # directory exists or anything trains.
  vae_params, ckpt_path, meta = prepare_vae(config, dataset, vae, seeds, keys)
  files.check_writable_dir(config.results_dir, 'results_dir')

  run_dir = reporting.make_run_dir(config.results_dir, config.dataset)
  written = _Written(run_dir)
  files.atomic_write(os.path.join(run_dir, 'config.json'),
                     config.to_json_best_effort(indent=2, sort_keys=True)
                     + '\n')
  written.add('config.json')
  logging.info('Run directory: %s', run_dir)
  if placement.mode != 'single':
    logging.info('%d devices, sharding the %s.', placement.num_devices,
                 'seeds' if placement.mode == 'seeds' else 'batches')
  wandb_run = reporting.start_wandb(config, run_dir) if config.wandb else None
  logger = reporting.MetricsLogger(run_dir, wandb_run)
  results = dict(dataset=config.dataset, run_dir=run_dir,
                 seeds=seeds,
                 evaluated_on=('validation' if config.validation_fraction
                               else 'test'),
                 train_size=int(dataset.x_train.shape[0]),
                 test_size=int(dataset.x_test.shape[0]),
                 series_length=int(dataset.series_length),
                 num_classes=int(dataset.num_classes),
                 data=dataset.provenance, devices=placement.num_devices,
                 device_placement=placement.mode,
                 vae_checkpoint=ckpt_path, wall_time_s={})
  predictions, classifiers, augmented = {}, {}, None
  try:
    start = time.perf_counter()
    if vae_params is not None:
      logging.info('Restored the trained VAE from %s (no VAE training).',
                   ckpt_path)
      results['vae_source'] = 'restored'
    else:
      vae_params = train_vae(config, vae, dataset.x_train, dataset.y_train,
                             keys['vae_init'], keys['vae_train'], logger,
                             placement, seeds)
      checkpoint.save_vae(ckpt_path, vae_params, meta)
      written.add(f'the VAE checkpoint {ckpt_path}')
      logging.info('Saved the trained VAE to %s', ckpt_path)
      results['vae_source'] = 'trained'
    results['wall_time_s']['vae'] = time.perf_counter() - start
    quality = diagnostics.vae_quality(vae, vae_params, dataset.x_train,
                                      dataset.x_test, dataset.y_test)
    results['vae_quality'] = dict(diagnostics.summary(quality),
                                  per_seed=quality)

    if not (config.test_augment or config.augment_plot or config.baseline):
      logging.info('Trained and saved the VAE only. Add '
                   '--config.test_augment=True (and --config.baseline=True) '
                   'to train the classifiers, or --config.augment_plot=True '
                   'for a plot of latent neighbours.')

    if config.augment_plot:
      path = plot_stage(config, dataset, vae, vae_params, keys, run_dir)
      written.add('augment.png')
      results['augment_plot'] = path
      logging.info('Saved the augmentation plot to %s', path)

    if config.baseline:
      start = time.perf_counter()
      scores = train_classifier(
          config, dataset, dataset.x_train, dataset.y_train,
          keys['classifier_init'], keys['baseline_train'], logger, 'baseline',
          placement, seeds)
      summarise(results, 'baseline', scores)
      predictions['baseline'] = scores['predictions']
      classifiers['baseline'] = (scores['model'], scores['states'])
      results['wall_time_s']['baseline'] = time.perf_counter() - start

    if config.test_augment or config.export_synthetic:
      start = time.perf_counter()
      x_aug, y_aug = augment.augment_dataset(
          vae, vae_params, dataset.x_train, dataset.y_train, keys['augment'],
          noise=config.noise, num_samples=config.num_samples)
      results['augmented_train_size'] = int(x_aug.shape[1])
      augmented = (x_aug, y_aug)
    if config.export_synthetic:
      results['synthetic_files'] = export_synthetic(
          run_dir, dataset, seeds, augmented)
      written.add('synthetic/')
    if config.test_augment:
      scores = train_classifier(
          config, dataset, x_aug, y_aug, keys['classifier_init'],
          keys['augmented_train'], logger, 'augmented', placement, seeds)
      summarise(results, 'augmented', scores)
      predictions['augmented'] = scores['predictions']
      classifiers['augmented'] = (scores['model'], scores['states'])
      results['wall_time_s']['augmented'] = time.perf_counter() - start

    results['peak_host_memory_mb'] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if predictions:
      # Per stage, each seed's predicted class of every evaluation series
      # (class indices into class_names), beside the true ones.
      buffer = io.BytesIO()
      np.savez(buffer, y_true=dataset.y_test, **predictions,
               class_names=np.array(dataset.class_names, dtype=str))
      files.atomic_write(os.path.join(run_dir, 'predictions.npz'),
                         buffer.getvalue())
      written.add('predictions.npz')
    files.write_json(os.path.join(run_dir, 'results.json'), results)
  except TrainingError as e:
    raise TrainingError(written.fail(e, logger)) from None
  except OSError as e:
    raise OutputError(written.fail(
        e if isinstance(e, OutputError) else
        f'Writing the run\'s outputs failed ({e}).', logger)) from None
  finally:
    logger.close()
  logging.info('Results written to %s', run_dir)
  return Run(results, dataset, vae, vae_params, classifiers, augmented)
