"""Sweeps: rows per run, resume after an interruption, configs, errors."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from configs.experiments import sweep as sweeps
from lstsaug_jax import configuration
from lstsaug_jax import data
from lstsaug_jax import pipeline
from lstsaug_jax import programs
from lstsaug_jax import reporting
from lstsaug_jax import stages
from lstsaug_jax.errors import ConfigError
from lstsaug_jax.errors import DataError
from lstsaug_jax.experiments import loading
from lstsaug_jax.experiments import results
from lstsaug_jax.experiments import runner
from tests.conftest import ROOT
from tests.conftest import results_row

TIMING = ('wall_time_s', 'vae_wall_time_s')


def sweep_config(tiny_config, csv):
  config = tiny_config
  config.sweep.datasets = ('synthetic:cbf',)
  config.sweep.augmentations = ((0.2, 1),)
  config.num_seeds = 2
  config.sweep.results_csv = str(csv)
  config.sweep.summarize = False
  return config


def without_timing(rows):
  return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def test_an_interrupted_sweep_resumes_to_the_same_rows(tiny_config, tmp_path,
                                                       monkeypatch):
  config = sweep_config(tiny_config, tmp_path / 'whole.csv')
  runner.run_sweep(config)
  whole = results.read_rows(config.sweep.results_csv)
  assert [(r['method'], r['seed']) for r in whole] == [
      ('baseline', '42'), ('baseline', '43'), ('latent', '42'),
      ('latent', '43')]
  assert {r['evaluated_on'] for r in whole} == {'test'}
  assert whole[2]['train_size'] == '60' and whole[0]['train_size'] == '30'
  assert whole[0]['epochs'] == '2' and whole[0]['program_seeds'] == '2'
  # Every metric in every row (the class-balanced ones beside accuracy).
  for r in whole:
    assert all(0 <= float(r[m]) <= 1 for m in results.METRICS), r
  # Each row names the machine that computed it.
  assert {results.row_machine(r) for r in whole} == {reporting.machine_id()}

  # The second sweep is stopped by Ctrl-C while its augmented classifier
  # trains, after the baseline rows and the VAE checkpoint are written.
  config.sweep.results_csv = str(tmp_path / 'resumed.csv')
  train_classifier = stages.train_classifier
  def interrupt_augmented(*args, **kwargs):
    if args[3] != 'baseline':  # the stage
      raise KeyboardInterrupt
    return train_classifier(*args, **kwargs)
  monkeypatch.setattr(stages, 'train_classifier', interrupt_augmented)
  with pytest.raises(KeyboardInterrupt):
    runner.run_sweep(config)
  assert len(results.read_rows(config.sweep.results_csv)) == 2
  monkeypatch.setattr(stages, 'train_classifier', train_classifier)
  # Resuming restores the VAE instead of training it, and redoes only the
  # augmented runs.
  def no_vae_training(*args, **kwargs):
    raise AssertionError('the VAE was trained again')
  monkeypatch.setattr(stages, 'train_vae', no_vae_training)
  runner.run_sweep(config)
  resumed = results.read_rows(config.sweep.results_csv)
  assert without_timing(resumed) == without_timing(whole)
  # A finished sweep run again does nothing.
  monkeypatch.setattr(stages, 'train_classifier', interrupt_augmented)
  runner.run_sweep(config)
  assert len(results.read_rows(config.sweep.results_csv)) == 4


def test_added_seeds_run_alone_and_validation_rows(tiny_config, tmp_path):
  config = sweep_config(tiny_config, tmp_path / 'v.csv')
  config.sweep.augmentations = ()
  config.num_seeds = 1
  config.validation_fraction = 0.25
  runner.run_sweep(config)
  config.num_seeds = 2  # one more seed: only seed 43 runs
  runner.run_sweep(config)
  rows = results.read_rows(config.sweep.results_csv)
  assert [(r['seed'], r['program_seeds']) for r in rows] == [('42', '1'),
                                                             ('43', '1')]
  # 30 training series, 10 per class: 3 of each held out.
  assert {(r['evaluated_on'], r['train_size'], r['eval_size'])
          for r in rows} == {('validation', '21', '9')}


@pytest.mark.parametrize('field, value, message', [
    ('augmentations', ((0.1, 0),), r'num_samples=0 must be a whole number'),
    ('augmentations', ('latent(noise=-1)',), r'noise=-1.0 must be a finite'),
    ('augmentations', ('magic',), "Unknown augmentation method 'magic'"),
    ('augmentations', ((0.1, 1), (0.1, 1)), 'twice'),
    ('datasets', (), 'empty'),
    ('shard', 2, r'sweep.shard=2 must be an integer in \[0, 2\)'),
    ('distributed', True, 'run it across machines as shards'),
])
def test_bad_sweep_fields_are_named(tiny_config, tmp_path, field, value,
                                    message):
  config = sweep_config(tiny_config, tmp_path / 'r.csv')
  config.sweep.num_shards = 2
  if field == 'distributed':
    config.distributed = value
  else:
    config.sweep[field] = value
  with pytest.raises(ValueError, match=message):
    runner.run_sweep(config)
  assert not os.path.exists(tmp_path / 'r.csv')


def test_a_missing_dataset_stops_the_sweep_before_any_training(tiny_config,
                                                               tmp_path):
  config = sweep_config(tiny_config, tmp_path / 'r.csv')
  config.sweep.datasets = ('synthetic:cbf', 'NoSuchSet')
  config.download = False
  with pytest.raises(DataError, match='NoSuchSet'):
    runner.run_sweep(config)
  assert results.read_rows(str(tmp_path / 'r.csv')) == []


def sweep(arg):
  return sweeps.get_config(arg)


def test_every_protocol_of_the_committed_results_is_a_named_entry():
  """Each protocol hash of the committed CSVs is what a named entry of the
  sweep config gives (so the committed CSVs still resume), and every
  named entry validates."""
  committed = {}
  for path in glob.glob(os.path.join(ROOT, 'benchmarks', 'results', '**',
                                     '*.protocol.json'), recursive=True):
    with open(path) as f:
      committed.update(json.load(f))
  names = {results.config_hash(results.protocol(sweep(name))): name
           for name in sweeps.PROTOCOLS}
  # A regime (a training set made smaller) is part of the protocol.
  names.update({
      results.config_hash(results.protocol(sweep(f'{name},{regime}'))):
          f'{name},{regime}'
      for name in sweeps.PROTOCOLS for regime in sweeps.REGIMES})
  # The first version's CSVs (cpu_small) ran with fields that no longer
  # exist (znormalise); every later protocol is named.
  later = {h for h, p in committed.items() if 'znormalise' not in p}
  missing = sorted(later - set(names))
  assert not missing, f'protocols without a name: {missing}'
  assert names['2689fc6da945'] == 'methods'
  assert names['e40e170dd1f9'] == 'methods_final'
  assert names['6d730fa414fc'] == 'methods_average'
  assert names['35beb41c17b6'] == 'minirocket,ratio16'
  for name in sweeps.PROTOCOLS:
    runner.validate_sweep(sweep(name))


def test_the_config_string_chooses_groups_seeds_methods_and_the_csv():
  assert len(sweep('fawaz2019').sweep.datasets) == 26
  other = sweep('methods,other12')
  assert other.sweep.results_csv == 'results/experiments/methods_other12.csv'
  assert len(other.sweep.datasets) == 12 and not set(
      other.sweep.datasets) & set(sweep('methods').sweep.datasets)
  assert set(other.sweep.datasets) | set(sweep('methods').sweep.datasets) == (
      set(sweep('fawaz2019').sweep.datasets))
  late = sweep('methods_average,seeds45,other12')
  assert late.seed == 45 and late.sweep.results_csv == (
      'results/experiments/methods_average_other12_seeds45.csv')
  classic = sweep('methods,other12,classic')
  assert classic.sweep.results_csv == other.sweep.results_csv
  assert classic.sweep.augmentations == sweeps.CLASSIC
  assert results.protocol(classic) == results.protocol(other)
  for name in sweep('fawaz2019').sweep.datasets:
    assert name in data.archive_names()
  # The regimes of the imbalance and few-shot map.
  rare = sweep('minirocket,ratio16')
  assert (rare.imbalance_ratio, rare.classifier.arch, rare.num_seeds) == (
      16.0, 'minirocket', 5)
  assert rare.sweep.results_csv == 'results/experiments/minirocket_ratio16.csv'
  assert rare.sweep.augmentations == sweeps.METHOD_SETS['imbalance']
  assert len(rare.sweep.datasets) == 26
  few = sweep('methods,shots4')
  assert few.shots == 4 and few.sweep.augmentations == sweeps.METHOD_SETS[
      'few_shot']
  assert results.protocol(few)['shots'] == 4
  assert sweep('minirocket,imbalanced').sweep.results_csv == (
      'results/experiments/minirocket_imbalanced.csv')
  # The naturally imbalanced group runs the imbalance methods under every
  # protocol, unless a method set is named.
  resnet_rare = sweep('methods,imbalanced')
  assert resnet_rare.sweep.augmentations == sweeps.METHOD_SETS['imbalance']
  assert results.protocol(resnet_rare) == results.protocol(sweep('methods'))
  assert sweep('methods,imbalanced,latent').sweep.augmentations == (
      sweeps.METHOD_SETS['latent'])
  with pytest.raises(ValueError, match='not a sweep protocol'):
    sweep('nope')
  with pytest.raises(ValueError, match='is not a dataset group'):
    sweep('methods,other13')


def test_the_protocols_train_as_their_docstrings_say():
  config = sweep('fawaz2019')
  # Fawaz et al.: mini-batches of min(n_train / 10, 64), at least one.
  plan = lambda n: programs.classifier_plan(config, n)
  assert (plan(20).num_epochs, plan(20).batch_size) == (1500, 2)
  assert (plan(9).num_epochs, plan(9).batch_size) == (1500, 1)
  assert (plan(2000).num_epochs, plan(2000).batch_size) == (1500, 64)
  assert config.classifier.model_selection == 'min_train_loss'
  # methods: a batch floor of 8 and the baseline's steps.
  config = sweep('methods')
  plan = lambda n, m=None: programs.classifier_plan(config, n, m)
  assert (plan(20).batch_size, plan(20).steps) == (8, 300)
  assert plan(20, 40).steps == 300 and plan(20, 40).batch_size == 8
  assert plan(300).batch_size == 30 and plan(300).steps == 400
  # The contrastive sweep differs in VAE fields alone, so summarize reads
  # its CSV beside methods'.
  a = results.protocol(sweep('methods'))
  b = results.protocol(sweep('methods_contrastive'))
  assert {k for k in a if a[k] != b[k]} == {'vae.contrastive_weight'}
  c = results.protocol(sweep('methods_final'))
  assert {k for k in set(a) | set(c) if a.get(k) != c.get(k)} == {
      'classifier.model_selection', 'vae.arch', 'vae.hidden_dims'}
  assert [m.label for m in runner.methods(sweep('methods_final'))][
      -1].startswith('auto(')
  d = results.protocol(sweep('methods_average'))
  assert {k for k in set(c) | set(d) if c.get(k) != d.get(k)} == {
      'classifier.model_selection'}
  e = results.protocol(sweep('methods_average_recompute'))
  assert {k for k in set(d) | set(e) if d.get(k) != e.get(k)} == {
      'classifier.average_batch_stats'}
  validation = sweep('cpu_small_validation')
  assert validation.validation_fraction > 0 and not validation.sweep.baseline


def test_command_line_sweep_and_its_errors(tmp_path):
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS='cpu')
  csv = tmp_path / 'cli.csv'
  common = ['--config=configs/tiny.py:sweep',
            f'--config.sweep.results_csv={csv}',
            '--config.sweep.datasets=synthetic:cbf']
  run = lambda *args: subprocess.run(
      [sys.executable, '-m', 'lstsaug_jax.experiments', *common, *args],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  done = run('--config.sweep.augmentations=latent(noise=0.1, num_samples=1)')
  assert done.returncode == 0, done.stderr
  assert '2 runs; 0 already' in done.stderr
  assert os.path.exists(tmp_path / 'cli.summary' / 'summary.md')
  assert os.path.exists(tmp_path / 'cli.summary' / 'scatter.png')
  failed = run('--config.classifier.learning_rate=0.5')
  assert failed.returncode != 0
  assert 'classifier.learning_rate: 0.0001 there, 0.5 now' in failed.stderr
  assert len(results.read_rows(str(csv))) == 2  # nothing lost
  failed = run('--config.sweep.augmentations=latent(num_samples=-1)')
  assert 'Invalid sweep config' in failed.stderr


def test_shards_split_the_datasets_into_their_own_csvs(tiny_config, tmp_path):
  from tests.conftest import write_pair  # pylint: disable=g-import-not-at-top
  from lstsaug_jax.experiments import summarize  # pylint: disable=g-import-not-at-top
  rows = lambda n: ''.join(f'{i % 2 + 1}\t' + '\t'.join(
      str((i % 2) * 2 - 1 + 0.1 * ((i * 7 + t) % 5)) for t in range(16))
                           + '\n' for i in range(n))
  write_pair(tiny_config.data_dir, 'Toy', rows(12), rows(10))
  config = sweep_config(tiny_config, tmp_path / 'r.csv')
  config.sweep.datasets = ('synthetic:cbf', 'Toy')
  config.sweep.augmentations = ()
  config.num_seeds = 1
  config.sweep.num_shards = 2
  paths = []
  for shard in (0, 1):
    config.sweep.shard = shard
    paths.append(runner.run_sweep(config))
  assert [os.path.basename(p) for p in paths] == ['r-shard0of2.csv',
                                                  'r-shard1of2.csv']
  assert [[r['dataset'] for r in results.read_rows(p)] for p in paths] == [
      ['synthetic:cbf'], ['Toy']]
  assert not os.path.exists(tmp_path / 'r.csv')
  joined = summarize.summarise(loading.load_many(paths))
  assert joined['complete_datasets'] == ['synthetic:cbf', 'Toy']
  config.sweep.num_shards = 3  # a shard with no dataset runs nothing
  config.sweep.shard = 2
  config.sweep.datasets = ('Toy',)
  assert runner.run_sweep(config) is None


def test_resuming_on_another_machine_warns_before_training(tiny_config,
                                                          tmp_path,
                                                          monkeypatch):
  config = sweep_config(tiny_config, tmp_path / 'r.csv')
  digest = results.config_hash(results.protocol(config))
  elsewhere = json.dumps(dict(machine='cpu elsewhere'))
  results.ResultsFile(config.sweep.results_csv).append([
      results_row(dataset='synthetic:cbf', seed=s, config_hash=digest,
                  details=elsewhere) for s in (42, 43)])
  warnings = []
  monkeypatch.setattr(runner.logging, 'warning',
                      lambda *a: warnings.append(a[0] % a[1:]))
  monkeypatch.setattr(reporting, 'machine_id', lambda: 'cpu here')

  class Stop(Exception):
    pass

  def stop(*unused):
    raise Stop
  monkeypatch.setattr(runner.data, 'load', stop)  # no training needed
  with pytest.raises(Stop):
    runner.run_sweep(config)  # the latent rows are missing
  (warning,) = warnings
  assert warning.startswith('synthetic:cbf: rows already in')
  assert 'ran on cpu elsewhere; this machine is cpu here' in warning
  # Rows from this machine, or from before rows named theirs: no warning.
  for details in (json.dumps(dict(machine='cpu here')), ''):
    csv = tmp_path / f'r{len(details)}.csv'
    config.sweep.results_csv = str(csv)
    results.ResultsFile(csv).append([
        results_row(dataset='synthetic:cbf', seed=s, config_hash=digest,
                    details=details) for s in (42, 43)])
    warnings.clear()
    with pytest.raises(Stop):
      runner.run_sweep(config)
    assert not warnings


def test_each_seed_draws_its_own_few_shot_training_set(tiny_config, tmp_path):
  config = sweep_config(tiny_config, tmp_path / 'shots.csv')
  config.sweep.augmentations = ()
  config.shots = 4  # subsample_seed=-1: each seed's own draw
  runner.run_sweep(config)
  rows = results.read_rows(config.sweep.results_csv)
  assert [(r['seed'], r['train_size'], r['program_seeds']) for r in rows] == [
      ('42', '12', '1'), ('43', '12', '1')]
  datasets = [data.load(runner.dataset_config(config, 'synthetic:cbf', s))
              for s in (42, 43)]
  assert not np.array_equal(datasets[0].x_train, datasets[1].x_train)
  np.testing.assert_array_equal(datasets[0].x_test, datasets[1].x_test)
  # The protocol records the policy; the default protocol's hash does not
  # move (committed CSVs resume).
  proto = results.protocol(config)
  assert proto['shots'] == 4 and 'imbalance_ratio' not in proto
  config.shots = 0
  assert 'shots' not in results.protocol(config)
  assert 'subsample_seed' not in results.protocol(config)
  # A single run cannot give its seeds different training sets.
  config.shots = 4
  with pytest.raises(ConfigError, match='subsample_seed=-1'):
    pipeline.run(config)
  config.imbalance_ratio = 4.0
  with pytest.raises(ConfigError, match='two protocols; set one'):
    configuration.validate(config)
