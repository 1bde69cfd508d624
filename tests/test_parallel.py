"""Many devices on a CPU: XLA's forced host device count, in a subprocess
(the device count is fixed when JAX starts)."""

import json
import os
import subprocess
import sys

import numpy as np

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
  config.test_augment = True
  config.num_seeds = seeds
  config.num_devices = devices
  results = pipeline.run(config).results
  with open(results['run_dir'] + '/metrics.jsonl') as f:
    records = [json.loads(l) for l in f]
  losses = [r['loss'] for r in records]
  first_seed = [r['loss'] for r in records if r['seed_index'] == 0]
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
  np.testing.assert_allclose(runs['data_parallel']['losses'], reference,
                             rtol=2e-3)
  a, b = runs['seeds_one_device'], runs['seeds_sharded']
  assert len(a['losses']) == len(b['losses'])
  np.testing.assert_allclose(a['losses'], b['losses'], rtol=2e-3)
