"""The map of regimes: per regime (an imbalance ratio, k series per class,
a naturally imbalanced group), each method's gain over no resampling and
over SMOTE on one metric (balanced accuracy by default), with 95% t
intervals over datasets, wins / ties / losses and Wilcoxon p values
Holm-adjusted within the regime's family; plots of the gain against k and
against the ratio.

  python -m lstsaug_jax.experiments.regime_map \
      --out=benchmarks/results/map/minirocket \
      ratio4=results/experiments/minirocket_ratio4.csv \
      shots4=results/experiments/minirocket_shots4.csv ...

A regime's name is ratioR, shotsK or any other word (plotted only in the
tables). `--regimes=FILE` reads them from a JSON file instead, {regime:
[CSV, ...]} with paths relative to the file (the committed map's is
benchmarks/results/map/minirocket/regimes.json, written beside it). The test set selects nothing here: every row is a method run as
its protocol says.
"""

import json
import os
import re

from absl import app
from absl import flags
import numpy as np

from lstsaug_jax import files
from lstsaug_jax.experiments import loading
from lstsaug_jax.experiments import results as results_lib
from lstsaug_jax.experiments import stats

BASELINE = results_lib.BASELINE
SMOTE = 'smote'


def compare(df, method, reference):
  """method against reference on the datasets both ran (seed means)."""
  both = sorted(set(df[df['label'] == method]['dataset'])
                & set(df[df['label'] == reference]['dataset']))
  by_seed = df.groupby(['dataset', 'label', 'seed'])['accuracy'].mean()
  m = [by_seed[(d, method)].to_dict() for d in both]
  r = [by_seed[(d, reference)].to_dict() for d in both]
  diff = stats.difference_from_baseline(m, r)
  means = lambda rows: np.array([np.mean(list(x.values())) for x in rows])
  return dict(stats.against_baseline(means(m), means(r)), datasets=len(both),
              mean=diff['mean'], ci=diff['ci'],
              method_mean=float(means(m).mean()) if both else None,
              reference_mean=float(means(r).mean()) if both else None)


def regime_summary(df):
  """{'vs_none': {method: ...}, 'vs_smote': {...}}, p Holm-adjusted over
  each family (the regime's methods against one reference)."""
  labels = [l for l in dict.fromkeys(df['label']) if l != BASELINE]
  out = {}
  for name, reference, family in (
      ('vs_none', BASELINE, labels),
      ('vs_smote', SMOTE, [l for l in labels if l.startswith('latent')])):
    if reference not in set(df['label']) or not family:
      continue
    rows = {m: compare(df, m, reference) for m in family}
    adjusted = stats.holm([rows[m]['wilcoxon_p'] for m in family])
    for m, p in zip(family, adjusted):
      rows[m]['holm_p'] = None if np.isnan(p) else p
    out[name] = rows
  return out


def axis(regime):
  """('shots', k) or ('ratio', r) of a regime's name, else (None, None)."""
  m = re.fullmatch(r'(shots|ratio)(\d+(?:\.\d+)?)', regime)
  return (m.group(1), float(m.group(2))) if m else (None, None)


def markdown(summary, metric):
  lines = [f'Gain in {metric.replace("_", " ")} (method minus reference; '
           'mean over datasets of seed means, 95% t interval), wins / ties / '
           'losses over datasets, Wilcoxon p raw and Holm-adjusted within '
           "each regime's family.", '']
  for regime, parts in summary.items():
    for name, rows in parts.items():
      lines += [f'### {regime}: {name.replace("_", " ")}', '',
                '| method | datasets | method mean | reference mean | gain '
                '[95% CI] | W / T / L | p | Holm p |', '|---|---|---|---|---|'
                '---|---|---|']
      for m, r in rows.items():
        ci = ('' if r['ci'] is None else
              f' [{100 * r["ci"][0]:+.2f}, {100 * r["ci"][1]:+.2f}]')
        p = lambda v: '-' if v is None or np.isnan(v) else f'{v:.3g}'
        lines.append(
            f'| {m} | {r["datasets"]} | {r["method_mean"]:.4f} | '
            f'{r["reference_mean"]:.4f} | {100 * r["mean"]:+.2f}{ci} | '
            f'{r["wins"]} / {r["ties"]} / {r["losses"]} | '
            f'{p(r["wilcoxon_p"])} | {p(r["holm_p"])} |')
      lines.append('')
  return '\n'.join(lines)


def plot(summary, kind, path, metric):
  """Gain over none against k or the ratio, a line per method, with the
  95% intervals; None if no regime of that kind."""
  points = {}
  for regime, parts in summary.items():
    what, value = axis(regime)
    if what != kind or 'vs_none' not in parts:
      continue
    for m, r in parts['vs_none'].items():
      points.setdefault(m, []).append((value, r['mean'], r['ci']))
  if not points:
    return None
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for i, (m, pts) in enumerate(sorted(points.items())):
    pts.sort()
    x = np.array([p[0] for p in pts]) * (1 + 0.03 * (i - len(points) / 2))
    y = np.array([100 * p[1] for p in pts])
    err = np.array([[100 * (p[1] - p[2][0]), 100 * (p[2][1] - p[1])]
                    if p[2] else [0, 0] for p in pts]).T
    ax.errorbar(x, y, yerr=err, marker='o', capsize=3, label=m)
  ax.axhline(0, color='grey', lw=0.8)
  ax.set_xscale('log', base=2)
  ax.set_xlabel('series per class (k)' if kind == 'shots'
                else 'imbalance ratio (largest / smallest class)')
  ax.set_ylabel(f'gain over none, {metric.replace("_", " ")} (points)')
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
  return path


def write_map(regimes, out_dir, metric='balanced_accuracy'):
  """regimes: {name: [CSV paths]}. Writes map.json, map.md and the plots
  under out_dir; returns their paths."""
  summary = {}
  for regime, paths in regimes.items():
    df = loading.with_metric(loading.load_many(paths), metric)
    summary[regime] = regime_summary(df)
  os.makedirs(out_dir, exist_ok=True)
  written = dict(json=os.path.join(out_dir, 'map.json'),
                 markdown=os.path.join(out_dir, 'map.md'))
  files.write_json(written['json'], dict(metric=metric, regimes=summary))
  files.atomic_write(written['markdown'], markdown(summary, metric) + '\n')
  for kind in ('shots', 'ratio'):
    path = plot(summary, kind, os.path.join(out_dir, f'gain_vs_{kind}.png'),
                metric)
    if path:
      written[kind] = path
  return written


def read_regimes(path):
  """{regime: [CSV paths]} of a regimes file, paths made absolute."""
  with open(path) as f:
    regimes = json.load(f)
  root = os.path.dirname(os.path.abspath(path))
  return {name: [os.path.join(root, p) for p in paths]
          for name, paths in regimes.items()}


def main(argv):
  regimes = read_regimes(flags.FLAGS.regimes) if flags.FLAGS.regimes else {}
  for arg in argv[1:]:
    name, eq, paths = arg.partition('=')
    if not eq:
      raise app.UsageError(f'{arg!r}: give REGIME=CSV[,CSV...].')
    regimes[name] = paths.split(',')
  try:
    written = write_map(regimes, flags.FLAGS.out, flags.FLAGS.metric)
  except (results_lib.ResultsError, OSError) as e:
    raise SystemExit(f'error: {e}') from None
  with open(written['markdown']) as f:
    print(f.read())
  print(json.dumps(written, indent=1))


if __name__ == '__main__':
  # Defined here, not on import: summarize (imported beside this module in
  # tests and tools) defines flags of the same names.
  flags.DEFINE_string('out', 'map', 'Folder for map.json, map.md and the '
                      'plots.')
  flags.DEFINE_enum('metric', 'balanced_accuracy', list(results_lib.METRICS),
                    'The column compared.')
  flags.DEFINE_string('regimes', None, 'A JSON file {regime: [CSV, ...]} '
                      '(paths relative to it), instead of arguments.')
  app.run(main)
