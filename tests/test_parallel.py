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
from tests.conftest import bare_env

# The one-device reference: in this process, where other tests have
# compiled the tiny config's programs already. Seed i of a many-seed run is
# its one-seed run (test_pipeline checks that epoch by epoch), so its first
# seed is the reference of a one-seed data-parallel run too.
REFERENCE = dict(num_seeds=2, baseline=True, test_augment=True,
                 augment_plot=True)


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  from configs import tiny  # pylint: disable=g-import-not-at-top
  from lstsaug_jax import pipeline  # pylint: disable=g-import-not-at-top
  out = tmp_path_factory.mktemp('reference')
  config = tiny.get_config()
  config.update(REFERENCE)
  config.results_dir, config.model_dir = str(out / 'r'), str(out / 'm')
  results = pipeline.run(config).results
  with open(results['run_dir'] + '/metrics.jsonl') as f:
    return results, [json.loads(l) for l in f]


SCRIPT = r'''
import json, sys
import jax
from configs import tiny
from lstsaug_jax import pipeline

assert jax.device_count() == 4, jax.devices()
out = {}
for name, seeds, devices in [('data_parallel', 1, 4), ('seeds_sharded', 2, 2)]:
  config = tiny.get_config()
  config.update(json.loads(sys.argv[2]))
  config.results_dir = sys.argv[1] + '/results'
  config.model_dir = sys.argv[1] + '/' + name
  # The data-parallel run checks the VAE and baseline stages; the seed
  # runs the augmented one too (its training set has a seed axis).
  config.test_augment = name != 'data_parallel'  # after the update
  config.num_seeds = seeds
  config.num_devices = devices
  results = pipeline.run(config).results
  with open(results['run_dir'] + '/metrics.jsonl') as f:
    records = [json.loads(l) for l in f]
  out[name] = dict(devices=results['devices'],
                   placement=results['device_placement'], records=records)
print('RESULT' + json.dumps(out))
'''


def _losses(records, stages=None):
  return [r['loss'] for r in records
          if stages is None or r['stage'] in stages]


def test_sharded_runs_match_single_device(tmp_path, reference):
  one, one_records = reference
  proc = subprocess.run(
      [sys.executable, '-c', SCRIPT, str(tmp_path), json.dumps(REFERENCE)],
      cwd=ROOT, capture_output=True, text=True, timeout=900,
      env=bare_env(XLA_FLAGS='--xla_force_host_platform_device_count=4',
                   PYTHONPATH=ROOT))
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith('RESULT')][0]
  runs = json.loads(line[len('RESULT'):])
  assert one['devices'] == 1
  assert runs['data_parallel']['devices'] == 4
  assert runs['data_parallel']['placement'] == 'data'
  assert runs['seeds_sharded']['placement'] == 'seeds'
  assert runs['seeds_sharded']['devices'] == 2
  first_seed = [r for r in one_records if r['seed_index'] == 0]
  assert {r['stage'] for r in first_seed} == {'vae', 'baseline', 'augmented'}
  np.testing.assert_allclose(
      _losses(runs['data_parallel']['records']),
      _losses(first_seed, ('vae', 'baseline')), rtol=2e-3)
  sharded = runs['seeds_sharded']['records']
  assert ([(r['stage'], r['epoch'], r['seed_index']) for r in sharded]
          == [(r['stage'], r['epoch'], r['seed_index'])
              for r in one_records])
  np.testing.assert_allclose(_losses(sharded), _losses(one_records),
                             rtol=2e-3)


def _free_port():
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def test_two_processes_give_one_process_results(tmp_path, reference):
  """Two JAX processes on 127.0.0.1 (jax.distributed, CPU collectives), one
  seed each, give the one-process two-seed run's results; only process 0
  writes."""
  # The reference's stages (the VAE's checkpoint and plot: process 0's).
  common = ['--config=configs/tiny.py'] + [
      f'--config.{k}={v}' for k, v in REFERENCE.items()]
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
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]

  def read(out):
    runs = glob.glob(str(out / 'results' / '*' / '*' / 'results.json'))
    assert len(runs) == 1, runs  # one run directory: process 0's
    with open(runs[0]) as f:
      results = json.load(f)
    with open(os.path.join(os.path.dirname(runs[0]), 'metrics.jsonl')) as f:
      records = [json.loads(l) for l in f]
    return results, records
  multi, multi_records = read(tmp_path / f'multi{attempt}')
  one, one_records = reference
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
