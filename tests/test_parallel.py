"""Many devices on a CPU: XLA's forced host device count, in a subprocess
(the device count is fixed when JAX starts)."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

SCRIPT = r'''
import json, sys
import jax
from configs import tiny
from lstsaug_jax import pipeline

assert jax.device_count() == 4, jax.devices()
out = {}
for name, seeds, devices in [('data_parallel', 1, 4),
                             ('seeds_one_device', 4, 1),
                             ('seeds_sharded', 4, 4)]:
  config = tiny.get_config()
  config.results_dir = sys.argv[1] + '/results'
  config.model_dir = sys.argv[1] + '/' + name
  config.num_epochs = 3
  config.baseline = True
  # The data-parallel run checks the VAE and baseline stages; the seed
  # runs the augmented one too (its training set has a seed axis).
  config.test_augment = name != 'data_parallel'
  config.augment_plot = name == 'data_parallel'  # so the VAE trains
  config.num_seeds = seeds
  config.num_devices = devices
  results = pipeline.run(config).results
  with open(results['run_dir'] + '/metrics.jsonl') as f:
    records = [json.loads(l) for l in f]
  losses = [r['loss'] for r in records]
  first_seed = [(r['stage'], r['loss']) for r in records
                if r['seed_index'] == 0]
  out[name] = dict(devices=results['devices'],
                   placement=results['device_placement'], losses=losses,
                   first_seed=first_seed)
print('RESULT' + json.dumps(out))
'''


def test_sharded_runs_match_single_device(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-c', SCRIPT, str(tmp_path)], cwd=ROOT,
      capture_output=True, text=True, timeout=900,
      env={'XLA_FLAGS': '--xla_force_host_platform_device_count=4',
           'PATH': '/usr/bin:/bin', 'PYTHONPATH': ROOT,
           **{k: v for k, v in os.environ.items() if k.startswith('JAX_')}})
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith('RESULT')][0]
  runs = json.loads(line[len('RESULT'):])
  assert runs['seeds_one_device']['devices'] == 1
  assert runs['data_parallel']['devices'] == 4
  assert runs['data_parallel']['placement'] == 'data'
  assert runs['seeds_sharded']['placement'] == 'seeds'
  # Seed 42 of a four-seed run on one device is its one-seed run (
  # test_pipeline checks that epoch by epoch), so it is the single-device
  # reference of the data-parallel one-seed run.
  reference = runs['seeds_one_device']['first_seed']
  assert len(reference) == 9  # 3 stages x 3 epochs
  np.testing.assert_allclose(
      runs['data_parallel']['losses'],
      [loss for stage, loss in reference if stage != 'augmented'], rtol=2e-3)
  a, b = runs['seeds_one_device'], runs['seeds_sharded']
  assert len(a['losses']) == len(b['losses'])
  np.testing.assert_allclose(a['losses'], b['losses'], rtol=2e-3)


def _free_port():
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_two_processes_give_one_process_results(tmp_path):
  """Two JAX processes on 127.0.0.1 (jax.distributed, CPU collectives), one
  seed each, give the one-process two-seed run's results; only process 0
  writes."""
  # VAE (its checkpoint and plot: process 0's) and baseline stages.
  common = ['--config=configs/tiny.py', '--config.num_seeds=2',
            '--config.num_epochs=2', '--config.baseline=True',
            '--config.augment_plot=True', '--config.progress=False']
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS='cpu')

  def command(out, *extra):
    return [sys.executable, '-m', 'lstsaug_jax.main', *common,
            f'--config.results_dir={out}/results',
            f'--config.model_dir={out}/models', *extra]
  # JAX's coordinator takes its port from the command line, so it is
  # probed first; another process may take it in between, and then (only
  # then) the pair is started again on a new port.
  for attempt in range(3):
    port = _free_port()
    procs = [subprocess.Popen(
        command(tmp_path / f'multi{attempt}', '--config.distributed=True',
                f'--config.coordinator_address=127.0.0.1:{port}',
                '--config.num_processes=2', f'--config.process_id={k}'),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for k in (0, 1)]
    outs = [p.communicate(timeout=600) for p in procs]
    if not any('already in use' in err.lower() or 'failed to bind' in
               err.lower() for _, err in outs):
      break
  single = subprocess.run(command(tmp_path / 'single'), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  assert single.returncode == 0, single.stderr[-3000:]

  def read(out):
    runs = glob.glob(str(out / 'results' / '*' / '*' / 'results.json'))
    assert len(runs) == 1, runs  # one run directory: process 0's
    with open(runs[0]) as f:
      results = json.load(f)
    with open(os.path.join(os.path.dirname(runs[0]), 'metrics.jsonl')) as f:
      records = [json.loads(l) for l in f]
    return results, records
  multi, multi_records = read(tmp_path / f'multi{attempt}')
  one, one_records = read(tmp_path / 'single')
  assert multi['devices'] == 2 and multi['device_placement'] == 'seeds'
  assert len(os.listdir(tmp_path / f'multi{attempt}' / 'models')) == 1
  assert ([(r['stage'], r['epoch'], r['seed_index']) for r in multi_records]
          == [(r['stage'], r['epoch'], r['seed_index'])
              for r in one_records])
  np.testing.assert_allclose([r['loss'] for r in multi_records],
                             [r['loss'] for r in one_records], rtol=2e-3)
  assert os.path.exists(multi['augment_plot'])
  np.testing.assert_allclose(multi['baseline_accuracy_per_seed'],
                             one['baseline_accuracy_per_seed'], atol=0.02)
  assert multi['vae_quality']['r2_train'] == pytest.approx(
      one['vae_quality']['r2_train'], abs=1e-3)
