"""The benchmark runs and its figures are consistent (tiny shapes: its
timings mean nothing here, its FLOP counts and fields do)."""

import json
import subprocess
import sys

from tests.conftest import ROOT


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
    assert abs(r['peak_fraction'] - r['gflops'] / peak['gflops']) < 1e-9
  # Longer series, more work: the ResNet's FLOPs grow with the length.
  assert (rows['resnet_tiny', 24]['flops_per_step']
          > rows['resnet_tiny', 16]['flops_per_step'])
