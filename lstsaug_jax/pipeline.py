"""The LSTSAUG method as one run: data, VAE, baseline, augmented, report.

  run(config) -> Run

Everything the user's input decides is checked before a run directory
exists or anything trains; the stages are in stages.py, what the run
writes in outputs.py.
"""

import contextlib
import dataclasses
import os
import resource
import time
from typing import Any

from absl import logging
import jax
import numpy as np

from lstsaug_jax import auto
from lstsaug_jax import checkpoint
from lstsaug_jax import configuration
from lstsaug_jax import data
from lstsaug_jax import models
from lstsaug_jax import outputs
from lstsaug_jax import ownership
from lstsaug_jax import parallel
from lstsaug_jax import programs
from lstsaug_jax import stages
from lstsaug_jax.errors import ConfigError

# Named streams split from config.seed. Both classifiers start from the same
# initial weights, so baseline and augmented runs differ only in their data.
KEYS = ('vae_init', 'vae_train', 'augment', 'plot', 'classifier_init',
        'baseline_train', 'augmented_train')


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


def context(config, dataset, logger=None, seeds=None, placement=None):
  """The stages' Context for a config and its dataset (seeds: the
  config's by default; placement: the seeds over config.num_devices)."""
  seeds = tuple(configuration.seeds(config) if seeds is None else seeds)
  if placement is None:
    placement = parallel.make_placement(len(seeds), config.num_devices)
  return stages.Context(
      config, dataset, seeds, seed_keys(seeds), logger, placement,
      checkpoint.build_vae(checkpoint.vae_metadata(config, dataset, seeds)))


@dataclasses.dataclass
class Run:
  """What a run produced: its metrics and everything trained in it."""

  results: dict  # what results.json holds
  dataset: data.Dataset
  vae: models.VAE
  vae_params: Any = None  # one VAE per seed, seed axis first
  # stage ('baseline', 'augmented') -> (the classifier module, its trained
  # TrainState with a seed axis first)
  classifiers: dict = dataclasses.field(default_factory=dict)
  # The augmented stage's fixed training set, originals first: x (seeds, N,
  # channels, length), class probabilities y (seeds, N, C) and loss weights
  # w (seeds, N; 0 for a sample a filter refused); None if none was made.
  augmented: tuple | None = None
  predictions: dict = dataclasses.field(default_factory=dict)


def augmentation(config):
  """The Augmentation (or auto.Auto) of config.augment.method ('latent'
  takes its noise and num_samples from the config's fields of those
  names)."""
  return auto.parse_method(
      config.augment.method,
      dict(noise=config.noise, num_samples=config.num_samples))


def augmenting(config):
  return config.test_augment or config.export_synthetic


def needs_vae(config, aug):
  """Whether the run trains (or restores) a VAE: for a plot, for a method
  that decodes, or for a run that asks for nothing else."""
  return (config.augment_plot or (augmenting(config) and aug.needs_vae)
          or not (config.baseline or augmenting(config)))


def prepare_vae(config, dataset, seeds):
  """Before any work: the restored VAEs (use_trained), or a check that the
  checkpoint path takes a save. Hold ownership.locked(path) around this
  and the VAE stage. Returns (params or None, checkpoint path,
  metadata)."""
  meta = checkpoint.vae_metadata(config, dataset, seeds)
  path = checkpoint.checkpoint_path(config)
  if config.use_trained:
    _, params, _ = checkpoint.restore_vae(path, meta)
    return params, path, meta
  ownership.check_save_target(path)
  return None, path, meta


def run(config):
  """Runs the stages the config asks for and writes their metrics,
  per-epoch records and predictions to a new run directory; returns a Run."""
  configuration.validate(config)
  if configuration.per_seed_data(config) and config.num_seeds > 1:
    raise ConfigError(
        f'num_seeds={config.num_seeds} with subsample_seed=-1: each seed would '
        'draw its own training set (imbalance_ratio or shots), and the seeds '
        'of a run share one. Run one seed at a time (a sweep does this for '
        'you), or fix the draw with --config.subsample_seed=0.')
  aug = augmentation(config)
  dataset = data.load(config)
  programs.check_plan(config, dataset, aug if augmenting(config) else None)
  ctx = context(config, dataset)
  with contextlib.ExitStack() as vae_lock:
    with_vae = needs_vae(config, aug)
    if with_vae and parallel.is_writer():  # multi-host: process 0 saves
      # Held until the VAE is saved or restored: a run sharing the
      # checkpoint path waits its turn.
      vae_lock.enter_context(ownership.locked(checkpoint.checkpoint_path(
          config)))
    vae_params, ckpt_path, meta = (prepare_vae(config, dataset, ctx.seeds)
                                   if with_vae else (None, None, None))
    with outputs.RunOutputs(config) as out, out.reporting_failures():
      ctx = ctx.replace(logger=out.logger)
      result = Run(_header(ctx, out, ckpt_path), dataset, ctx.vae)
      if with_vae:
        with outputs.compiles(result.results, 'vae'):
          result.vae_params = stages.vae_stage(ctx, vae_params, ckpt_path,
                                               meta, result.results, out)
        vae_lock.close()
      _plot_and_baseline(ctx, result, out)
      if augmenting(config):
        _augmented(ctx, aug, result, out)
      _report(ctx, result, out)
  return result


def _header(ctx, out, ckpt_path):
  """results.json's first fields: what was run, on what, where."""
  d, placement = ctx.dataset, ctx.placement
  if placement.mode != 'single':
    logging.info('%d devices, sharding the %s.', placement.num_devices,
                 'seeds' if placement.mode == 'seeds' else 'batches')
  return dict(dataset=ctx.config.dataset, run_dir=out.run_dir,
              seeds=list(ctx.seeds),
              evaluated_on=configuration.evaluated_on(ctx.config),
              train_size=int(d.x_train.shape[0]),
              test_size=int(d.x_test.shape[0]),
              series_length=int(d.series_length),
              num_classes=int(d.num_classes), data=d.provenance,
              devices=placement.num_devices,
              device_placement=placement.mode, vae_checkpoint=ckpt_path,
              wall_time_s={},
              # What decides whether a GPU run repeats (cli.start).
              platform=jax.default_backend(),
              xla_flags=os.environ.get('XLA_FLAGS', ''))


def _keep(result, stage, scores):
  outputs.add_scores(result.results, stage, scores)
  result.predictions[stage] = scores['predictions']
  result.classifiers[stage] = (scores['model'], scores['states'])


def _plot_and_baseline(ctx, result, out):
  config = ctx.config
  if not (augmenting(config) or config.augment_plot or config.baseline):
    logging.info('Trained and saved the VAE only. Add '
                 '--config.test_augment=True (and --config.baseline=True) '
                 'to train the classifiers, or --config.augment_plot=True '
                 'for a plot of latent neighbours.')
  if config.augment_plot and out.writer:
    result.results['augment_plot'] = out.plot(
        config, ctx.dataset, ctx.vae, result.vae_params, ctx.keys)
  if config.baseline:
    start = time.perf_counter()
    with outputs.compiles(result.results, 'baseline'):
      scores, _ = stages.train_with(ctx, None, None, 'baseline')
    _keep(result, 'baseline', scores)
    result.results['wall_time_s']['baseline'] = time.perf_counter() - start


def _augmented(ctx, aug, result, out):
  """With test_augment, the classifier trained on the augmented set; with
  export_synthetic, the fixed synthetic set, exported."""
  config, results = ctx.config, result.results
  with outputs.compiles(results, 'augmented'):
    if config.test_augment:
      start = time.perf_counter()
      scores, result.augmented = stages.train_method(
          ctx, aug, result.vae_params, 'augmented')
      _keep(result, 'augmented', scores)
      results['augmented_train_size'] = scores['train_size']
      results.update({k: scores[k] for k in (
          'augmentation', 'synthetic_accepted', 'details') if k in scores})
      results['wall_time_s']['augmented'] = time.perf_counter() - start
    if (result.augmented is None and config.export_synthetic
        and not isinstance(aug, auto.Auto)):
      result.augmented = stages.fixed_sets(ctx, aug, result.vae_params,
                                           'export')
  if config.export_synthetic and result.augmented is not None and out.writer:
    results['synthetic_files'] = out.export(ctx.dataset, ctx.seeds,
                                            result.augmented)
  elif config.export_synthetic:
    logging.info('No synthetic set to export: %s makes no fixed set.',
                 results.get('augmentation', aug.label))


def _report(ctx, result, out):
  result.results['peak_host_memory_mb'] = (
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  if out.writer:
    if result.predictions:
      out.predictions(ctx.dataset, result.predictions)
    out.results(result.results)
