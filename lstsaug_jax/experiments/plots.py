"""The plots of a summary (summarize.summarise's numbers), saved as
files."""

import numpy as np

from lstsaug_jax import plotting
from lstsaug_jax.experiments import results as results_lib

BASELINE = results_lib.BASELINE


def plot_scatter(path, summary):
  labels = summary['methods']
  complete = summary['complete_datasets']
  per = summary['per_dataset']
  fig, ax = plotting.figure(figsize=(5.5, 5.5), dpi=120)
  baseline = [per[d][BASELINE]['mean'] for d in complete]
  values = list(baseline)
  for m in labels:
    if m == BASELINE:
      continue
    ys = [per[d][m]['mean'] for d in complete]
    o = summary['overall'][m]
    ax.scatter(baseline, ys, s=24, alpha=0.8,
               label=f'{m} (W/T/L {o["wins"]}/{o["ties"]}/{o["losses"]})')
    values += ys
  low = max(0.0, min(values) - 0.05)
  ax.plot([low, 1.0], [low, 1.0], color='black', linewidth=1)
  ax.set_xlim(low, 1.0)
  ax.set_ylim(low, 1.0)
  ax.set_aspect('equal')
  ax.set_xlabel('baseline accuracy')
  ax.set_ylabel('augmented accuracy')
  ax.set_title('One point per dataset; above the line: augmentation helps',
               fontsize=9)
  ax.legend(loc='lower right', fontsize=7)
  fig.tight_layout()
  return plotting.save(fig, path)


def plot_ranks(path, summary):
  """A critical-difference diagram: the methods that were run at their
  mean ranks (1 = best, on the left), and a bar under each group that no
  pairwise Wilcoxon-Holm test separates (Benavoli et al. 2016; the
  diagrams of Ismail Fawaz et al. 2019). Derived rows are not drawn."""
  derived = summary.get('derived_methods', [])
  labels = [m for m in summary['methods'] if m not in derived]
  ranks = {m: summary['overall'][m]['mean_rank'] for m in labels}
  order = sorted(labels, key=lambda m: ranks[m])
  groups = summary.get('cliques') or []
  k = len(labels)
  half = (k + 1) // 2  # the best half labelled on the left, the rest right
  fig, ax = plotting.figure(figsize=(7.5, 1.2 + 0.3 * half
                                     + 0.15 * len(groups)), dpi=120)
  ax.set_xlim(1, max(k, 2))
  ax.set_ylim(-(half + 0.6), 1.0 + 0.25 * len(groups))
  ax.axhline(0, color='black', linewidth=1)
  for r in range(1, k + 1):
    ax.plot([r, r], [0, 0.15], color='black', linewidth=1)
    ax.text(r, 0.3, str(r), ha='center', fontsize=8)
  for i, m in enumerate(order):
    y = -(i + 1) if i < half else -(k - i)
    left = i < half
    end = 1 if left else k
    ax.plot([ranks[m], ranks[m], end], [0, y, y], color='C0', linewidth=1)
    ax.text(end + (-0.05 if left else 0.05), y,
            f'{m} ({ranks[m]:.2f})', ha='right' if left else 'left',
            va='center', fontsize=7)
  for g, group in enumerate(groups):
    y = -0.25 - 0.2 * g
    low, high = ranks[group[0]], ranks[group[-1]]
    ax.plot([low - 0.03, high + 0.03], [y, y], color='C3', linewidth=3)
  f = summary.get('friedman')
  title = (f'{len(summary["complete_datasets"])} datasets; bars: no '
           'pairwise Wilcoxon-Holm difference at 0.05')
  if f:
    title += f'; Friedman p {f["p"]:.2g}'
  ax.set_title(title, fontsize=7)
  ax.axis('off')
  fig.tight_layout()
  return plotting.save(fig, path)


def plot_bars(path, summary):
  labels = summary['methods']
  datasets = summary['datasets']
  per = summary['per_dataset']
  width = 0.8 / len(labels)
  fig, ax = plotting.figure(
      figsize=(max(6.0, 0.55 * len(datasets) * max(2, len(labels)) / 2), 4),
      dpi=120)
  x = np.arange(len(datasets))
  lows = []
  for j, m in enumerate(labels):
    means = [per[d][m]['mean'] if m in per[d] else np.nan for d in datasets]
    stds = [per[d][m]['std'] if m in per[d] else 0.0 for d in datasets]
    ax.bar(x + (j - (len(labels) - 1) / 2) * width, means, width, yerr=stds,
           capsize=2, label=m)
    lows += [v for v in means if not np.isnan(v)]
  ax.set_xticks(x, datasets, rotation=60, ha='right', fontsize=7)
  ax.set_ylim(max(0.0, min(lows) - 0.1), 1.0)
  ax.set_ylabel(f'accuracy ({"/".join(summary["evaluated_on"])}), '
                'mean ± std over seeds')
  ax.legend(fontsize=7, loc='lower left')
  fig.tight_layout()
  return plotting.save(fig, path)
