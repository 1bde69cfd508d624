"""A sweep: every dataset x method x seed, one results row per run.

The seeds of a (dataset, method) pair train together in one vmapped program
(and are spread over the devices, as in a single run). Each augmented
method uses the VAE of its seed, trained once per dataset and checkpointed
beside the CSV, so a resumed sweep restores it instead of training it again.
"""

import dataclasses
import json
import os
import time
from typing import Any

from absl import logging
import jax
import numpy as np

import lstsaug_jax
from lstsaug_jax import auto
from lstsaug_jax import checkpoint
from lstsaug_jax import configuration
from lstsaug_jax import diagnostics
from lstsaug_jax import data
from lstsaug_jax import ownership
from lstsaug_jax import pipeline
from lstsaug_jax import programs
from lstsaug_jax import reporting
from lstsaug_jax import specs
from lstsaug_jax import stages
from lstsaug_jax.experiments import loading
from lstsaug_jax.experiments import results as results_lib
from lstsaug_jax.experiments import summarize
from lstsaug_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class SweepMethod:
  """One method of a sweep: the baseline, an augmentation, or auto."""

  name: str
  settings: str = ''  # every setting, as the CSV's settings column
  label: str = results_lib.BASELINE
  method: Any = None  # specs.Augmentation or auto.Auto; None: baseline

  @property
  def needs_vae(self):
    return self.method is not None and self.method.needs_vae

  def key(self, dataset, seed):
    return (dataset, self.name, self.settings, str(int(seed)))


def sweep_method(spec):
  """A SweepMethod from a spec; (noise, num_samples) pairs (the first
  version's form) mean latent augmentation at that setting."""
  if isinstance(spec, (tuple, list)):
    if len(spec) != 2:
      raise ConfigError(f'sweep.augmentations entry {spec!r} is not a method '
                        'spec (e.g. "window_warp") or a (noise, num_samples) '
                        'pair.')
    spec = f'latent(noise={spec[0]!r}, num_samples={spec[1]!r})'
  method = auto.parse_method(spec)
  name = specs.parse_spec(spec)[0]
  return SweepMethod(name, method.key, method.label, method)


def methods(config):
  found = [SweepMethod(results_lib.BASELINE)] if config.sweep.baseline else []
  return found + [sweep_method(s) for s in config.sweep.augmentations]


def validate_sweep(config):
  if 'sweep' not in config:
    raise ConfigError(
        'The config has no sweep fields (config.sweep): it is a single run\'s '
        'config. Sweep with --config=configs/experiments/sweep.py:PROTOCOL '
        '(e.g. :methods), or start a config of your own from '
        'lstsaug_jax.experiments.defaults.get_config().')
  configuration.validate(config)
  problems = []
  s = config.sweep
  if not s.datasets or not all(isinstance(d, str) for d in s.datasets):
    problems.append(f'sweep.datasets={s.datasets!r} must be a non-empty '
                    'tuple of dataset names, e.g. GunPoint,CBF')
  elif len(set(s.datasets)) != len(s.datasets):
    problems.append('sweep.datasets lists a dataset twice')
  found = []
  for spec in s.augmentations:
    try:
      found.append(sweep_method(spec))
    except ConfigError as e:
      problems.append(f'sweep.augmentations: {e}')
  if not s.baseline and not s.augmentations:
    problems.append('no methods: sweep.baseline is False and '
                    'sweep.augmentations is empty')
  keys = [(m.name, m.settings) for m in found]
  if len(set(keys)) != len(keys):
    problems.append('sweep.augmentations lists a setting twice')
  if not s.results_csv:
    problems.append('sweep.results_csv is empty')
  if config.distributed:
    problems.append('distributed=True: a sweep is not one multi-host '
                    'program; run it across machines as shards '
                    '(sweep.shard / sweep.num_shards), one process each')
  if not (isinstance(s.num_shards, int) and s.num_shards >= 1):
    problems.append(f'sweep.num_shards={s.num_shards!r} must be an integer '
                    '>= 1')
  elif not (isinstance(s.shard, int) and 0 <= s.shard < s.num_shards):
    problems.append(f'sweep.shard={s.shard!r} must be an integer in '
                    f'[0, {s.num_shards})')
  if problems:
    raise ConfigError('Invalid sweep config: ' + '; '.join(problems) + '. Fix '
                      'these fields (e.g. --config.sweep.FIELD=VALUE) and run '
                      'again.')


class SeedLogger:
  """metrics.jsonl records with the seed itself beside its program index."""

  def __init__(self, logger, seeds):
    self._logger, self._seeds = logger, seeds

  def log(self, stage, record):
    self._logger.log(stage, dict(record, seed=self._seeds[record['seed_index']]))


def vae_for_seeds(config, dataset, seeds, path, logger):
  """Per-seed VAE parameters (seed axis first): restored from `path` when a
  checkpoint for exactly these seeds is there, else trained and saved."""
  meta = checkpoint.vae_metadata(config, dataset, seeds)
  ctx = pipeline.context(config, dataset, SeedLogger(logger, seeds), seeds)
  with ownership.locked(path):
    if checkpoint.exists(path):
      # The path names the protocol's hash and the seeds: a checkpoint there
      # was trained exactly as this one would be.
      _, params, _ = checkpoint.restore_vae(path, meta)
      return ctx.vae, params, 0.0
    start = time.perf_counter()
    params = stages.train_vae(ctx)
    checkpoint.save_vae(path, params, meta)
  return ctx.vae, params, time.perf_counter() - start


def dataset_config(config, name, subsample_seed=None):
  c = config.copy_and_resolve_references()
  c.dataset = name
  c.progress = False  # one bar for the sweep
  if subsample_seed is not None:
    c.subsample_seed = subsample_seed
  return c


def _parts(config, todo):
  """[(dataset, its config, its units)]: one per dataset, or with
  per-seed training sets (configuration.per_seed_data) one per dataset
  and seed, each seed's subsample drawn with that seed."""
  if not configuration.per_seed_data(config):
    return [(name, dataset_config(config, name), units)
            for name, units in todo.items()]
  parts = []
  for name, units in todo.items():
    for seed in sorted({s for _, missing in units for s in missing}):
      parts.append((name, dataset_config(config, name, seed),
                    [(m, [seed]) for m, missing in units if seed in missing]))
  return parts


def shard_csv(path, shard, num_shards):
  """The CSV of one shard: PATH-shard{k}of{n}.csv (PATH itself for one)."""
  if num_shards == 1:
    return path
  stem, ext = os.path.splitext(path)
  return f'{stem}-shard{shard}of{num_shards}{ext or ".csv"}'


def shard_datasets(datasets, shard, num_shards):
  return tuple(datasets[shard::num_shards])


def run_sweep(config):
  """Runs what the CSV does not hold yet; returns the results path."""
  validate_sweep(config)
  if config.sweep.anchors:
    loading.read_anchors(config.sweep.anchors)  # fail now, not after hours
  s = config.sweep
  if s.num_shards > 1:
    config = config.copy_and_resolve_references()
    config.sweep.datasets = shard_datasets(s.datasets, s.shard, s.num_shards)
    if not config.sweep.datasets:
      logging.info('Shard %d of %d has no datasets (%d in the sweep).',
                   s.shard, s.num_shards, len(s.datasets))
      return None
  csv_path = os.path.abspath(shard_csv(s.results_csv, s.shard, s.num_shards))
  if os.path.isdir(csv_path):
    raise results_lib.ResultsError(
        f'sweep.results_csv={csv_path} is a folder; the results are one CSV '
        'file. Point --config.sweep.results_csv at a file name, e.g. '
        f'{os.path.join(csv_path, "sweep.csv")}.')
  with results_lib.Lock(csv_path):
    _run_sweep(config, csv_path)
  if config.sweep.summarize:
    written = summarize.write_summary(
        csv_path, results_lib.outputs(csv_path)['summary'],
        anchors=config.sweep.anchors or None)
    logging.info('Summary: %s', written['markdown'])
  return csv_path


def _todo(config, table, sweep_methods, seeds):
  """{dataset: [(method, seeds the CSV lacks)]}."""
  todo = {}
  for name in config.sweep.datasets:
    for method in sweep_methods:
      missing = [s for s in seeds if method.key(name, s) not in table]
      if missing:
        todo.setdefault(name, []).append((method, missing))
  return todo


def _warn_other_machines(table, todo, csv_path):
  here = reporting.machine_id()
  for name in todo:
    there = sorted({results_lib.row_machine(r) for r in table.rows
                    if r['dataset'] == name} - {None, here})
    if there:
      logging.warning(
          '%s: rows already in %s ran on %s; this machine is %s. Rounding '
          'differs between machines and moves training runs, so comparing '
          "these methods mixes in the machines' difference. Rerun the "
          "dataset's arms here into a new CSV to compare them on one "
          'machine (summarize --auto_by_choice does this for auto).',
          name, csv_path, '; '.join(there), here)


def _run_dataset(cfg, dataset, units, table, paths, digest, bar):
  """Every (method, seeds) of one dataset; each method's rows appended as
  soon as they are done. The VAE of the seeds that need one is trained
  (or restored) once."""
  name = dataset.name
  logger = reporting.MetricsLogger(_makedirs(os.path.join(
      paths['runs'], data.file_name(name))))
  try:
    vae_seeds = sorted({s for m, missing in units if m.needs_vae
                        for s in missing})
    if vae_seeds:
      bar.set_postfix_str(f'{name}: VAE')
      vae, vae_params, vae_time = vae_for_seeds(
          cfg, dataset, vae_seeds,
          os.path.join(paths['vaes'], digest, f'{data.file_name(name)}-seeds-'
                       + '-'.join(str(s) for s in vae_seeds)), logger)
    for method, missing in units:
      bar.set_postfix_str(f'{name}: {method.label}')
      rows = run_method(cfg, dataset, method, missing,
                        SeedLogger(logger, missing),
                        (vae, vae_params, vae_seeds, vae_time)
                        if method.needs_vae else None)
      for row in rows:
        row.update(config_hash=digest, version=lstsaug_jax.__version__)
      table.append(rows)
      bar.update(len(missing))
  finally:
    logger.close()


def _run_sweep(config, csv_path):
  """run_sweep's work, with the CSV locked."""
  from tqdm import auto as tqdm  # pylint: disable=g-import-not-at-top

  proto = results_lib.protocol(config)
  digest = results_lib.config_hash(proto)
  table = results_lib.ResultsFile(csv_path)
  table.check_protocol(digest, proto)
  seeds = configuration.seeds(config)
  sweep_methods = methods(config)
  todo = _todo(config, table, sweep_methods, seeds)
  total = len(config.sweep.datasets) * len(sweep_methods) * len(seeds)
  remaining = sum(len(m) for units in todo.values() for _, m in units)
  logging.info(
      'Sweep: %d datasets x %d methods x %d seeds = %d runs; %d already in '
      '%s, %d to run (config hash %s).', len(config.sweep.datasets),
      len(sweep_methods), len(seeds), total, total - remaining, csv_path,
      remaining, digest)
  if remaining:
    table.record_protocol(digest, proto)
    _warn_other_machines(table, todo, csv_path)
  # Every dataset is read and every run's plan checked before any
  # training, so a missing or malformed one stops the sweep at once
  # rather than hours in.
  parts = [(cfg, data.load(cfg), units) for _, cfg, units in _parts(config,
                                                                    todo)]
  for cfg, dataset, units in parts:
    for method, _ in units:
      programs.check_plan(cfg, dataset, method.method)
  bar = tqdm.tqdm(total=total, initial=total - remaining, unit='run',
                  desc='sweep', disable=not config.progress,
                  dynamic_ncols=True)
  for cfg, dataset, units in parts:
    _run_dataset(cfg, dataset, units, table, results_lib.outputs(csv_path),
                 digest, bar)
  bar.close()
  logging.info('Results: %s', csv_path)


def run_method(config, dataset, method, seeds, logger, vae=None):
  """Trains `method`'s classifiers for `seeds` in one program; their rows."""
  ctx = pipeline.context(config, dataset, logger, seeds)
  start = time.perf_counter()
  model, params, vae_time, quality = None, None, None, None
  if vae is not None:
    model, params, vae_seeds, vae_time = vae
    index = np.array([vae_seeds.index(s) for s in seeds])
    if list(index) != list(range(len(vae_seeds))):
      # On the host: op by op, every leaf's shape would build a program.
      params = jax.tree_util.tree_map(lambda a: np.asarray(a)[index],
                                      jax.device_get(params))
    quality = diagnostics.vae_quality(model, params, dataset.x_train,
                                      dataset.y_train, dataset.x_test,
                                      dataset.y_test,
                                      configuration.evaluated_on(config))
  scores, _ = stages.train_method(ctx, method.method, params, method.label)
  wall_time = time.perf_counter() - start
  evaluated_on = configuration.evaluated_on(config)
  machine = reporting.machine_id()
  rows = []
  for i, seed in enumerate(seeds):
    row = dict(
        dataset=dataset.name, method=method.name, settings=method.settings,
        seed=seed, accuracy=scores['accuracy'][i],
        weighted_f1=scores['f1'][i],
        balanced_accuracy=scores['balanced_accuracy'][i],
        macro_f1=scores['macro_f1'][i], evaluated_on=evaluated_on,
        train_size=scores['train_size'],
        eval_size=int(dataset.x_test.shape[0]), epochs=scores['num_epochs'],
        steps=scores['steps'], selected_epoch=scores['selected_epoch'][i],
        model_selection=config.classifier.model_selection,
        batch_size=scores['batch_size'], arch=config.classifier.arch,
        synthetic_accepted=scores.get('synthetic_accepted'),
        details=json.dumps(dict(scores.get('details') or {},
                                machine=machine),
                           sort_keys=True),
        wall_time_s=round(wall_time, 2),
        vae_wall_time_s=None if vae_time is None else round(vae_time, 2),
        program_seeds=len(seeds))
    if quality is not None:
      q = quality[i]
      # vae_r2_eval and vae_head_accuracy: on the evaluated_on series.
      row.update(vae_r2_train=q['r2_train'],
                 vae_r2_eval=q[f'r2_{evaluated_on}'], vae_kl=q['kl'],
                 vae_active_dims=q['active_dims'],
                 vae_head_accuracy=q[f'head_accuracy_{evaluated_on}'])
    rows.append(row)
  return rows


def _makedirs(path):
  os.makedirs(path, exist_ok=True)
  return path
