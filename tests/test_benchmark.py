"""The benchmark runs and its figures are consistent (tiny shapes: its
timings mean nothing here, its FLOP counts and fields do)."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.conftest import USER_XLA_FLAGS


def test_step_table_counts_flops_against_the_peak(tmp_path):
  out = tmp_path / 'bench.json'
  proc = subprocess.run(
      [sys.executable, '-m', 'lstsaug_jax.benchmark',
       '--models=vae,resnet_tiny', '--lengths=16,24', '--batch_size=4',
       '--repeats=1', '--matmul_n=64', '--seeds=', '--online=',
       '--end_to_end_seeds=', f'--json={out}'],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  report = json.loads(out.read_text())
  assert report['machine']['cpus'] >= 1 and 'cpu_flags' in report['machine']
  peak = report['matmul_peak']
  assert peak['flops'] == 2 * 64 ** 3  # XLA's count of a 64x64 matmul
  rows = {(r['model'], r['length']): r for r in report['steps']}
  assert set(rows) == {(m, l) for m in ('vae', 'resnet_tiny')
                       for l in (16, 24)}
  for r in rows.values():
    assert r['step_s'] > 0 and r['flops_per_step'] > 0
    assert r['gflops'] == pytest.approx(r['flops_per_step'] / r['step_s']
                                        / 1e9)
  # Longer series, more work: the ResNet's FLOPs grow with the length.
  assert (rows['resnet_tiny', 24]['flops_per_step']
          > rows['resnet_tiny', 16]['flops_per_step'])


def test_throughput_by_hand():
  from lstsaug_jax import reporting  # pylint: disable=g-import-not-at-top
  # 3 GFLOP in half a second: 6 GFLOP/s, a quarter of a 24 GFLOP/s peak.
  assert reporting.throughput(3e9, 0.5, 24.0) == pytest.approx(
      dict(gflops=6.0, peak_fraction=0.25))


def test_xla_cpu_flags_runs_each_flag_set_in_its_own_process(tmp_path):
  """benchmarks/xla_cpu_flags.py: every set's XLA_FLAGS reach its own
  benchmark process (a flag XLA does not know fails that set alone), and
  the reference set's steps are compared with themselves."""
  out = tmp_path / 'flags.json'
  proc = subprocess.run(
      [sys.executable, 'benchmarks/xla_cpu_flags.py', '--models=resnet_tiny',
       '--lengths=16', '--batch_size=4', '--repeats=1', '--matmul_n=64',
       '--flag_sets=default,bogus=--xla_cpu_no_such_flag=true',
       f'--json={out}'],
      cwd=ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  default, bogus = json.loads(out.read_text())['flag_sets']
  assert default['xla_flags'] == '' and default['error'] is None
  (step,) = default['steps']
  assert (step['model'], step['length']) == ('resnet_tiny', 16)
  assert step['step_s'] > 0 and step['second_step_loss'] > 0
  assert step['loss_rel_diff'] == 0 and step['same_training']
  assert bogus['xla_flags'] == '--xla_cpu_no_such_flag=true'
  assert 'xla_cpu_no_such_flag' in bogus['error'] and 'steps' not in bogus


def test_determinism_repeats_a_cpu_run_exactly(tmp_path):
  """benchmarks/determinism.py: two CPU runs of one command line (fresh
  compiles) give the same losses and predictions, and the report says
  which XLA flags they ran with."""
  out = tmp_path / 'determinism.json'
  proc = subprocess.run(
      [sys.executable, 'benchmarks/determinism.py', '--config=configs/tiny.py',
       '--runs=2', '--settings=True', '--override=--config.num_epochs=1',
       '--override=--config.baseline=True', f'--json={out}'],
      cwd=ROOT, capture_output=True, text=True, timeout=600,
      # The user's XLA_FLAGS, without the session's determinism flag: the
      # run itself must add it.
      env=dict(os.environ, XLA_FLAGS=USER_XLA_FLAGS))
  assert proc.returncode == 0, proc.stderr[-3000:]
  (entry,) = json.loads(out.read_text())['settings']
  assert entry['platform'] == 'cpu'
  assert '--xla_gpu_deterministic_ops=true' in entry['xla_flags']
  (against,) = entry['against_first_run']
  assert against['predictions_differ'] == {'baseline': 0}
  assert against['max_loss_diff'] == 0 and entry['repeats_exactly']
  assert len(entry['wall_s']) == 2
