"""The command line, end to end, in subprocesses (as a user runs it)."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.conftest import STARTUP_TIMEOUT
from tests.conftest import USER_XLA_FLAGS


def run_main(*overrides, env=None):
  """configs/tiny.py (generated data, no files) with overrides."""
  cmd = [sys.executable, '-m', 'lstsaug_jax.main', '--config=configs/tiny.py',
         *overrides]
  return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                        timeout=600, env=env)


@pytest.fixture(scope='module')
def first_run(tmp_path_factory):
  tmp = tmp_path_factory.mktemp('main')
  dirs = [f'--config.results_dir={tmp / "results"}',
          f'--config.model_dir={tmp / "checkpoints"}']
  proc = run_main(*dirs, '--config.num_epochs=3', '--config.baseline=True',
                  '--config.test_augment=True', '--config.augment_plot=True',
                  '--config.num_samples=2',
                  f'--config.compilation_cache_dir={tmp / "cache"}',
                  # Every program the run builds, as StableHLO text; the
                  # user's XLA_FLAGS, without the session's determinism flag.
                  env=dict(os.environ, JAX_DUMP_IR_TO=str(tmp / 'ir'),
                           XLA_FLAGS=USER_XLA_FLAGS))
  assert proc.returncode == 0, proc.stderr
  (run_dir,) = glob.glob(str(tmp / 'results' / 'synthetic_cbf' / '*'))
  return tmp, dirs, proc, run_dir


def read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f]


def test_end_to_end_writes_results_and_honours_overrides(first_run):
  tmp, _, proc, run_dir = first_run
  with open(os.path.join(run_dir, 'config.json')) as f:
    config = json.load(f)
  assert config['num_epochs'] == 3 and config['num_samples'] == 2
  with open(os.path.join(run_dir, 'results.json')) as f:
    results = json.load(f)
  assert results['train_size'] == 30 and results['augmented_train_size'] == 90
  predictions = np.load(os.path.join(run_dir, 'predictions.npz'))
  for stage in ('baseline', 'augmented'):
    (preds,) = predictions[stage]
    assert results[f'{stage}_accuracy'] == np.mean(
        preds == predictions['y_true'])
  assert set(results['wall_time_s']) == {'vae', 'baseline', 'augmented'}
  rows = read_jsonl(os.path.join(run_dir, 'metrics.jsonl'))
  for stage in ('vae', 'baseline', 'augmented'):
    assert [r['epoch'] for r in rows if r['stage'] == stage] == [1, 2, 3]
  plot = os.path.join(run_dir, 'augment.png')
  with open(plot, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  assert plot in proc.stderr  # progress messages go to stderr
  assert 'baseline accuracy / weighted F1' in proc.stdout
  (ckpt,) = glob.glob(str(tmp / 'checkpoints' / '*'))
  assert os.path.basename(ckpt).startswith(
      'synthetic_cbf_vae-16bs-4ld-3e-seed42-')
  assert results['vae_checkpoint'] == ckpt
  # The compiled programs went to the persistent cache.
  assert len(os.listdir(tmp / 'cache')) >= 5


def test_runs_are_deterministic_on_gpus_by_default(first_run):
  """deterministic=True (the default) puts XLA's GPU determinism flag in
  the run's XLA_FLAGS before JAX starts; results.json says which flags ran.
  That flag makes XLA refuse to compile select-and-scatter (the gradient
  of max pooling; it has no deterministic GPU kernel), so none of the
  run's programs may hold one, or the default would break every GPU run."""
  from lstsaug_jax import cli  # pylint: disable=g-import-not-at-top
  tmp, _, proc, run_dir = first_run
  assert 'came too late' not in proc.stderr  # set before JAX started
  with open(os.path.join(run_dir, 'results.json')) as f:
    results = json.load(f)
  assert results['xla_flags'] == cli.deterministic_xla_flags(USER_XLA_FLAGS)
  assert '--xla_gpu_deterministic_ops=true' in results['xla_flags']
  modules = glob.glob(str(tmp / 'ir' / '*.mlir'))
  assert len(modules) >= 5
  for path in modules:
    with open(path) as f:
      assert 'select_and_scatter' not in f.read(), path


def test_deterministic_xla_flags():
  from lstsaug_jax import cli  # pylint: disable=g-import-not-at-top
  flag = '--xla_gpu_deterministic_ops=true'
  assert cli.deterministic_xla_flags('') == flag
  assert cli.deterministic_xla_flags('--xla_dump_to=/d') == (
      f'--xla_dump_to=/d {flag}')
  assert cli.deterministic_xla_flags(flag) == flag  # never twice
  # The user's own choice, either way, stays.
  assert cli.deterministic_xla_flags('--xla_gpu_deterministic_ops=false') == (
      '--xla_gpu_deterministic_ops=false')


def test_use_trained_restores_instead_of_training(first_run):
  tmp, dirs, _, first_dir = first_run
  proc = run_main(*dirs, '--config.num_epochs=3', '--config.use_trained=True',
                  '--config.test_augment=True', '--config.deterministic=False',
                  env=dict(os.environ, XLA_FLAGS=USER_XLA_FLAGS))
  assert proc.returncode == 0, proc.stderr
  assert 'Restored the trained VAE from' in proc.stderr
  run_dirs = glob.glob(str(tmp / 'results' / 'synthetic_cbf' / '*'))
  assert len(run_dirs) == 2  # a new run never overwrites an old one
  (second_dir,) = [d for d in run_dirs if d != first_dir]
  with open(os.path.join(second_dir, 'results.json')) as f:
    # deterministic=False leaves the user's XLA_FLAGS as they were.
    assert json.load(f)['xla_flags'] == USER_XLA_FLAGS
  stages = {r['stage'] for r in read_jsonl(
      os.path.join(second_dir, 'metrics.jsonl'))}
  assert stages == {'augmented'}


def test_checkpoint_that_does_not_fit_is_a_clear_error(first_run):
  tmp, dirs, _, _ = first_run
  (ckpt,) = glob.glob(str(tmp / 'checkpoints' / '*'))
  runs_before = sorted(glob.glob(str(tmp / 'results' / 'synthetic_cbf' / '*')))
  proc = run_main(*dirs, '--config.num_epochs=3', '--config.use_trained=True',
                  '--config.latent_dim=8', '--config.seed=7',
                  f'--config.checkpoint_path={ckpt}')
  assert proc.returncode != 0
  assert f'The VAE checkpoint at {ckpt} does not fit' in proc.stderr
  assert 'latent_dim: checkpoint has 4, this run 8' in proc.stderr
  assert 'seeds: checkpoint has [42], this run [7]' in proc.stderr
  assert 'Traceback' not in proc.stderr
  # Without an explicit path the name differs: the error lists what exists.
  proc = run_main(*dirs, '--config.num_epochs=3', '--config.use_trained=True',
                  '--config.latent_dim=8')
  assert proc.returncode != 0
  assert 'No trained VAE checkpoint at' in proc.stderr
  assert (f'{ckpt} (differs in latent_dim: checkpoint has 4, this run 8)'
          in proc.stderr)
  # A failed restore leaves no run directory behind.
  assert sorted(glob.glob(str(tmp / 'results' / 'synthetic_cbf' / '*'))) == (
      runs_before)


def test_vae_only_run_says_so(tmp_path):
  proc = run_main(f'--config.results_dir={tmp_path}',
                  f'--config.model_dir={tmp_path}', '--config.num_epochs=1')
  assert proc.returncode == 0, proc.stderr
  assert 'Trained and saved the VAE only' in proc.stderr


def test_misspelt_field_is_an_error():
  proc = run_main('--config.num_epoch=3')
  assert proc.returncode != 0
  assert 'num_epoch' in proc.stderr
  assert 'Results written' not in proc.stderr


def test_missing_dataset_is_a_clear_error(tmp_path):
  proc = run_main('--config.dataset=NoSuchSet', f'--config.data_dir={tmp_path}',
                  f'--config.results_dir={tmp_path}')
  assert proc.returncode != 0
  assert 'NoSuchSet_TRAIN.tsv' in proc.stderr
  assert 'Traceback' not in proc.stderr
  assert not os.listdir(tmp_path)  # nothing written for a run that failed


def test_quickstart_runs_offline_with_no_files(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'lstsaug_jax.main',
       '--config=configs/quickstart.py', f'--config.results_dir={tmp_path}',
       f'--config.model_dir={tmp_path}', '--config.progress=False'],
      cwd=ROOT, capture_output=True, text=True, timeout=600,
      env=dict(os.environ, no_proxy='*', http_proxy='http://127.0.0.1:9',
               https_proxy='http://127.0.0.1:9'))
  assert proc.returncode == 0, proc.stderr
  (run_dir,) = glob.glob(str(tmp_path / 'synthetic_cbf' / '*'))
  with open(os.path.join(run_dir, 'results.json')) as f:
    results = json.load(f)
  # CBF is easy: both classifiers learn it from 30 series.
  assert results['baseline_accuracy'] > 0.85
  assert results['augmented_accuracy'] > 0.85


def inspect(*args):
  return subprocess.run([sys.executable, '-m', 'lstsaug_jax.data', *args],
                        cwd=ROOT, capture_output=True, text=True,
                        timeout=STARTUP_TIMEOUT)


def test_inspection_command(shared_data):
  proc = inspect(f'--data_dir={shared_data}', '--dataset=DodgerLoopGame')
  assert proc.returncode == 0, proc.stderr
  lines = proc.stdout.splitlines()
  assert lines[1].startswith('train: 20 series, 1 channel, length 288, 2 '
                             'classes, class counts [10, 10], normalisation '
                             'series, interpolated ')
  assert lines[2].startswith('test: 138 series, 1 channel, length 288')
  proc = inspect(f'--data_dir={shared_data}', '--dataset=GunPont')
  assert proc.returncode != 0
  assert 'closest: GunPoint' in proc.stderr
  assert 'Traceback' not in proc.stderr


def test_compilation_cache_folder():
  from lstsaug_jax import cli  # pylint: disable=g-import-not-at-top
  assert cli.compilation_cache_dir('off', {}) is None
  assert cli.compilation_cache_dir('', {}) is None
  assert cli.compilation_cache_dir('/x/y', {}) == '/x/y'
  assert cli.compilation_cache_dir(
      'auto', {'XDG_CACHE_HOME': '/c'}) == '/c/lstsaug_jax/xla'
  assert cli.compilation_cache_dir(
      'auto', {'XDG_CACHE_HOME': '/c', 'JAX_COMPILATION_CACHE_DIR': '/j'}
  ) == '/j'
  assert cli.compilation_cache_dir('auto', {}) == os.path.join(
      os.path.expanduser('~'), '.cache', 'lstsaug_jax', 'xla')


def test_a_second_identical_run_compiles_nothing(tmp_path):
  """The default cache ('auto', here under XDG_CACHE_HOME): every program
  of the second run comes from it, so it adds no entry, and its results
  count no program compiled."""
  env = {k: v for k, v in os.environ.items()
         if k != 'JAX_COMPILATION_CACHE_DIR'}
  env.update(PYTHONPATH=ROOT, JAX_PLATFORMS='cpu',
             XDG_CACHE_HOME=str(tmp_path / 'cache'))
  cache = tmp_path / 'cache' / 'lstsaug_jax' / 'xla'

  def run(k):
    proc = subprocess.run(
        [sys.executable, '-m', 'lstsaug_jax.main', '--config=configs/tiny.py',
         '--config.num_epochs=1', '--config.baseline=True',
         '--config.progress=False',
         f'--config.results_dir={tmp_path / f"results{k}"}',
         f'--config.model_dir={tmp_path / f"models{k}"}'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = glob.glob(str(tmp_path / f'results{k}' / '*' / '*' /
                            'results.json'))
    with open(path) as f:
      compiles = json.load(f)['compiles']
    return set(os.listdir(cache)), compiles
  first, compiles = run(1)
  assert len(first) > 3  # the stages' programs
  assert set(compiles) == {'baseline'}  # no augmentation: no VAE
  for stage in compiles.values():
    assert stage['compiled'] > 0
  second, compiles = run(2)
  assert second == first
  for stage in compiles.values():
    assert stage['programs'] == stage['cache_hits'] > 0
    assert stage['compiled'] == 0
