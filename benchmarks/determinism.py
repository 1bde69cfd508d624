"""Does a run repeat exactly? The same command line, several times, with
`deterministic` on and off: predictions, per-epoch losses and accuracies
compared between the runs of each setting, with their wall times (the
flag's cost).

  python benchmarks/determinism.py --config=configs/gunpoint.py --runs=2 \
      --settings=True,False --override=--config.data_dir=../shared/data \
      --override=--config.baseline=True --override=--config.num_epochs=100 \
      --json=OUT.json

Every run compiles afresh (no persistent cache): a cached executable would
repeat the first run's kernel choice and hide the nondeterminism of XLA's
GPU autotuning. On a CPU both settings should repeat exactly.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lstsaug_jax import files  # pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CONFIG = flags.DEFINE_string('config', 'configs/gunpoint.py', 'Config file.')
_RUNS = flags.DEFINE_integer('runs', 2, 'Runs per setting.')
_SETTINGS = flags.DEFINE_list('settings', ['True', 'False'],
                              'Values of config.deterministic to try.')
_OVERRIDES = flags.DEFINE_multi_string('override', [],
                                       'A --config.FIELD=VALUE for every run.')
_JSON = flags.DEFINE_string('json', None, 'Write the report here.')


def run_once(setting, out):
  cmd = [sys.executable, '-m', 'lstsaug_jax.main', f'--config={_CONFIG.value}',
         *_OVERRIDES.value, f'--config.deterministic={setting}',
         f'--config.results_dir={out}/results',
         f'--config.model_dir={out}/models',
         '--config.compilation_cache_dir=off', '--config.progress=False']
  start = time.perf_counter()
  proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
  wall = time.perf_counter() - start
  if proc.returncode:
    raise RuntimeError(f'{" ".join(cmd)} failed:\n{proc.stderr[-3000:]}')
  (run_dir,) = glob.glob(os.path.join(out, 'results', '*', '*'))
  with open(os.path.join(run_dir, 'results.json')) as f:
    results = json.load(f)
  with open(os.path.join(run_dir, 'metrics.jsonl')) as f:
    losses = [(r['stage'], r['epoch'], r['seed_index'], r['loss'])
              for r in map(json.loads, f) if 'loss' in r]
  with np.load(os.path.join(run_dir, 'predictions.npz')) as z:
    predictions = {k: z[k] for k in z.files}
  return dict(wall_s=wall, results=results, losses=losses,
              predictions=predictions)


def compare(first, other):
  """How run `other` differs from run `first`."""
  a = {k[:3]: k[3] for k in first['losses']}
  b = {k[:3]: k[3] for k in other['losses']}
  assert a.keys() == b.keys(), 'the runs logged different epochs'
  diffs = [abs(a[k] - b[k]) for k in a]
  stages = sorted(k for k in first['predictions']
                  if f'{k}_accuracy' in first['results'])
  return dict(
      max_loss_diff=float(max(diffs, default=0.0)),
      epochs_with_loss_diff=int(sum(d > 0 for d in diffs)),
      predictions_differ={
          s: int(np.sum(first['predictions'][s] != other['predictions'][s]))
          for s in stages},
      accuracies={s: (first['results'].get(f'{s}_accuracy'),
                      other['results'].get(f'{s}_accuracy'))
                  for s in stages})


def main(argv):
  del argv
  report = dict(command=' '.join(sys.argv), settings=[])
  for setting in _SETTINGS.value:
    with tempfile.TemporaryDirectory() as tmp:
      runs = [run_once(setting, os.path.join(tmp, str(k)))
              for k in range(_RUNS.value)]
    entry = dict(deterministic=setting,
                 xla_flags=runs[0]['results']['xla_flags'],
                 platform=runs[0]['results']['platform'],
                 wall_s=[r['wall_s'] for r in runs],
                 against_first_run=[compare(runs[0], r) for r in runs[1:]])
    entry['repeats_exactly'] = all(
        c['max_loss_diff'] == 0 and not any(c['predictions_differ'].values())
        for c in entry['against_first_run'])
    report['settings'].append(entry)
    print(f'deterministic={setting} on {entry["platform"]}: '
          f'{"repeats exactly" if entry["repeats_exactly"] else "DIFFERS"}; '
          f'wall {", ".join(f"{w:.1f}" for w in entry["wall_s"])} s; '
          f'{json.dumps(entry["against_first_run"])}', flush=True)
  if _JSON.value:
    files.atomic_write(_JSON.value, json.dumps(report, indent=1) + '\n')
    print(f'json: {_JSON.value}')


if __name__ == '__main__':
  app.run(main)
