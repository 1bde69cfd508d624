"""The averaged model's BatchNorm statistics: recomputed on the training set
for the averaged weights (classifier.average_batch_stats='recompute', the
default) against the average of the epochs' running statistics (the first
version's rule), per dataset and seed, on the same machine.

  python benchmarks/batch_stats.py \
      --average=benchmarks/results/methods/methods_average-shard0of2.csv,benchmarks/results/methods/methods_average-shard1of2.csv \
      --recompute=benchmarks/results/methods/methods_average_recompute.csv \
      --json=benchmarks/results/methods/batch_stats.json

prints each dataset's baseline accuracy under both rules, wins / ties /
losses, the exact Wilcoxon p and a 95% interval of the mean difference.
"""

import json
import os
import sys

from absl import app
from absl import flags
import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lstsaug_jax import files  # pylint: disable=g-import-not-at-top
from lstsaug_jax.experiments import results  # pylint: disable=g-import-not-at-top
from lstsaug_jax.experiments import stats  # pylint: disable=g-import-not-at-top

_AVERAGE = flags.DEFINE_list('average', [], 'CSVs of the averaged rule.')
_RECOMPUTE = flags.DEFINE_list('recompute', [], 'CSVs of the recomputed rule.')
_JSON = flags.DEFINE_string('json', None, 'Also write the numbers here.')


def baseline_rows(paths):
  df = pd.concat([pd.DataFrame(results.read_rows(p)) for p in paths])
  df = df[df['method'] == results.BASELINE].copy()
  df['accuracy'] = df['accuracy'].astype(float)
  return df


def compare(average, recompute):
  datasets = sorted(set(average['dataset']) & set(recompute['dataset']))
  by_seed = lambda df, d: {int(r.seed): r.accuracy for r in
                           df[df['dataset'] == d].itertuples()}
  a = [by_seed(average, d) for d in datasets]
  r = [by_seed(recompute, d) for d in datasets]
  mean = lambda v: float(np.mean(list(v.values())))
  per_dataset = {d: dict(average=mean(x), recompute=mean(y))
                 for d, x, y in zip(datasets, a, r)}
  out = dict(datasets=len(datasets),
             average=float(np.mean([v['average'] for v in per_dataset.values()])),
             recompute=float(np.mean([v['recompute']
                                      for v in per_dataset.values()])),
             **stats.against_baseline([mean(y) for y in r],
                                      [mean(x) for x in a]),
             difference=stats.difference_from_baseline(r, a),
             per_dataset=per_dataset)
  return out


def main(argv):
  del argv
  out = compare(baseline_rows(_AVERAGE.value), baseline_rows(_RECOMPUTE.value))
  for d, v in out['per_dataset'].items():
    print(f'{d:<24} average {v["average"]:.4f}  recompute '
          f'{v["recompute"]:.4f}  {100 * (v["recompute"] - v["average"]):+.2f}')
  diff = out['difference']
  print(f'{out["datasets"]} datasets: {out["average"]:.4f} -> '
        f'{out["recompute"]:.4f}, W/T/L {out["wins"]}/{out["ties"]}/'
        f'{out["losses"]}, Wilcoxon p {out["wilcoxon_p"]:.3g}, difference '
        f'{100 * diff["mean"]:+.2f} [{100 * diff["ci"][0]:+.2f}, '
        f'{100 * diff["ci"][1]:+.2f}] points')
  if _JSON.value:
    files.atomic_write(_JSON.value, json.dumps(out, indent=1) + '\n')


if __name__ == '__main__':
  app.run(main)
