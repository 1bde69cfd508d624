"""XLA:CPU flags against the training step: speed, the matmul peak of the
same run, PyTorch eager's speed in the same run, and whether the step
still computes the same training.

  python benchmarks/xla_cpu_flags.py --torch_python=.venv-torch/bin/python \
      --json=benchmarks/results/cpu-xla-flags.json

Each flag set runs `python -m lstsaug_jax.benchmark` (the step table only)
in its own process, since XLA reads XLA_FLAGS once per process. A flag
set's steps count only if their second-step loss (which depends on the
first step's gradients) is within --rtol of the default flags'; the table
says which are not.
"""

import json
import os
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lstsaug_jax import files  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The XLA:CPU options this jaxlib accepts that could change how a
# convolution or a matmul runs (issue 11: "XLA CPU flags and its oneDNN
# paths"). Names: what the table calls them.
FLAG_SETS = (
    ('default', ''),
    ('onednn', '--xla_cpu_use_onednn=true'),
    ('onednn_custom_call', '--xla_cpu_use_onednn=true '
                           '--xla_cpu_experimental_onednn_custom_call=true'),
    ('xnnpack', '--xla_cpu_use_xnnpack=true'),
    ('fast_math', '--xla_cpu_enable_fast_math=true'),
    ('vector_width_512', '--xla_cpu_prefer_vector_width=512'),
)

_MODELS = flags.DEFINE_list('models', ['resnet_lstsaug'], 'Models.')
_LENGTHS = flags.DEFINE_list('lengths', ['150', '398'], 'Series lengths.')
_BATCH = flags.DEFINE_integer('batch_size', 64, 'Batch size.')
_REPEATS = flags.DEFINE_integer('repeats', 10, 'Timed repeats (median).')
_MATMUL_N = flags.DEFINE_integer('matmul_n', 0, 'Matmul peak size (0: '
                                 "the benchmark's default).")
_SETS = flags.DEFINE_list('flag_sets', [name for name, _ in FLAG_SETS],
                          'Which of FLAG_SETS to run, or NAME=FLAGS for '
                          'flags of your own; the first is the reference '
                          'for the loss check.')
_RTOL = flags.DEFINE_float('rtol', 1e-4, 'Relative tolerance of the '
                           "second-step loss against the first set's.")
_TORCH_PYTHON = flags.DEFINE_string('torch_python', None, 'A Python with '
                                    'benchmarks/requirements-torch.txt.')
_JSON = flags.DEFINE_string('json', None, 'Write every figure here.')


def run_benchmark(xla_flags, out):
  """One benchmark process with XLA_FLAGS=xla_flags; its JSON, or None
  and the error's last lines."""
  cmd = [sys.executable, '-m', 'lstsaug_jax.benchmark',
         f'--models={",".join(_MODELS.value)}',
         f'--lengths={",".join(_LENGTHS.value)}',
         f'--batch_size={_BATCH.value}', f'--repeats={_REPEATS.value}',
         '--seeds=', '--online=', '--end_to_end_seeds=', f'--json={out}']
  if _MATMUL_N.value:
    cmd.append(f'--matmul_n={_MATMUL_N.value}')
  if _TORCH_PYTHON.value:
    cmd.append(f'--torch_python={_TORCH_PYTHON.value}')
  env = dict(os.environ, XLA_FLAGS=xla_flags, JAX_PLATFORMS='cpu')
  proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                        text=True)
  if proc.returncode:
    return None, proc.stderr[-1500:]
  with open(out) as f:
    return json.load(f), None


def main(argv):
  del argv
  known = dict(FLAG_SETS)
  sets = []
  for entry in _SETS.value:
    name, given, xla_flags = entry.partition('=')
    if not given and name not in known:
      raise app.UsageError(f'unknown flag set {name!r}: one of {list(known)}, '
                           'or NAME=FLAGS')
    sets.append((name, xla_flags if given else known[name]))
  report = dict(command=' '.join(sys.argv), flag_sets=[])
  reference = None
  with tempfile.TemporaryDirectory() as tmp:
    for name, xla_flags in sets:
      result, error = run_benchmark(xla_flags, os.path.join(tmp, 'b.json'))
      entry = dict(name=name, xla_flags=xla_flags, error=error)
      if result is not None:
        report.setdefault('machine', result['machine'])
        entry['matmul_peak_gflops'] = result['matmul_peak']['gflops']
        torch = {(r['model'], r['length']): r
                 for r in (result.get('torch') or {}).get('steps', [])}
        entry['steps'] = []
        for r in result['steps']:
          key = (r['model'], r['length'])
          if reference is None or key not in reference:
            loss_rel = 0.0
          else:
            loss_rel = abs(r['second_step_loss'] - reference[key]) / abs(
                reference[key])
          entry['steps'].append(dict(
              model=r['model'], length=r['length'], step_s=r['step_s'],
              peak_fraction=r['peak_fraction'],
              second_step_loss=r['second_step_loss'],
              loss_rel_diff=loss_rel, same_training=loss_rel <= _RTOL.value,
              torch_step_s=torch.get(key, {}).get('step_s'),
              speedup_vs_torch=torch.get(key, {}).get('speedup')))
        if reference is None:
          reference = {(r['model'], r['length']): r['second_step_loss']
                       for r in result['steps']}
      report['flag_sets'].append(entry)
      print(format_entry(entry), flush=True)
  if _JSON.value:
    files.atomic_write(_JSON.value, json.dumps(report, indent=1) + '\n')
    print(f'json: {_JSON.value}')


def format_entry(entry):
  if entry['error']:
    return f'{entry["name"]:<20} failed: {entry["error"].splitlines()[-1]}'
  parts = [f'{entry["name"]:<20} peak {entry["matmul_peak_gflops"]:6.1f} '
           'GFLOP/s']
  for r in entry['steps']:
    torch = (f', {r["speedup_vs_torch"]:.2f}x PyTorch'
             if r['speedup_vs_torch'] else '')
    same = '' if r['same_training'] else (
        f', LOSS DIFFERS ({r["loss_rel_diff"]:.1e})')
    parts.append(f'{r["model"]} L={r["length"]}: {r["step_s"] * 1e3:.1f} ms, '
                 f'{100 * r["peak_fraction"]:.0f}% of peak{torch}{same}')
  return ' | '.join(parts)


if __name__ == '__main__':
  app.run(main)
