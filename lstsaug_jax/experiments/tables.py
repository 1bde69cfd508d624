"""summary.md: the tables of a summary (summarize.summarise's numbers)
as Markdown."""

import numpy as np

from lstsaug_jax.experiments import results as results_lib
from lstsaug_jax.experiments import stats

BASELINE = results_lib.BASELINE
CHOSEN = results_lib.CHOSEN
BY_CHOICE = results_lib.BY_CHOICE


def _p(value):
  return '-' if value is None or np.isnan(value) else f'{value:.3g}'


def _significant(p_holm):
  if p_holm is None or np.isnan(p_holm):
    return '-'
  return 'yes' if p_holm < stats.ALPHA else 'no'


def omnibus_lines(summary):
  """Friedman's test, the cliques of the critical-difference diagram and
  Nemenyi's critical difference, in words."""
  run = [m for m in summary['methods']
         if m not in summary.get('derived_methods', [])]
  complete = summary['complete_datasets']
  lines = []
  f = summary.get('friedman')
  if f:
    verdict = ('the methods differ' if f['iman_davenport_p'] < stats.ALPHA
               else 'no difference between the methods is shown')
    lines += ['', f'Friedman\'s test over the {f["methods"]} methods that '
              f'were run, on the {f["datasets"]} datasets they all have: '
              f'chi-square {f["chi2"]:.2f}, p {f["p"]:.3g} (Iman-Davenport F '
              f'{f["iman_davenport_f"]:.2f}, p {f["iman_davenport_p"]:.3g}): '
              f'{verdict} at {stats.ALPHA}.']
  if summary.get('pairwise'):
    groups = summary.get('cliques') or []
    joined = '; '.join('{' + ', '.join(g) + '}' for g in groups)
    lines += ['', 'Groups of methods that no pairwise Wilcoxon test '
              f'(Holm-adjusted over all {len(summary["pairwise"])} pairs) '
              'separates at 0.05, the bars of ranks.png: '
              + (joined if groups else 'none: every pair of neighbours in '
                 'rank differs') + '.']
  cd = summary.get('critical_difference')
  if cd is not None and np.isfinite(cd) and len(run) > 1:
    lines += ['', f'For reference, Nemenyi\'s critical difference of mean '
              f'ranks at 0.05 for {len(run)} methods on {len(complete)} '
              f'datasets is {cd:.2f}.']
  return lines


def _cell(entry, best):
  text = f'{entry["mean"]:.4f} ± {entry["std"]:.4f}'
  return f'**{text}**' if best else text


def per_dataset_table(summary):
  """Mean +- std over seeds per dataset and method, the best in bold, and
  the published accuracies beside them."""
  labels = summary['methods']
  anchors = summary.get('anchors', {})
  header = ['dataset'] + labels + [f'{c} (published)' for c in anchors]
  lines = [f'Accuracy on the {"/".join(summary["evaluated_on"])} set, mean ± '
           f'std over seeds {summary["seeds"]} (config hash '
           f'{summary["config_hash"]}); the best of our methods in bold.',
           '', '| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for d in summary['datasets']:
    entries = summary['per_dataset'][d]
    top = max(e['mean'] for e in entries.values())
    cells = [_cell(entries[m], entries[m]['mean'] >= top - stats.TIE)
             if m in entries else '-' for m in labels]
    cells += [f'{anchors[c][d]:.4f}' if d in anchors[c] else '-'
              for c in anchors]
    lines.append('| ' + ' | '.join([d] + cells) + ' |')
  return lines


def overall_table(summary):
  """Per method over the datasets every method has: mean accuracy, mean
  rank, W/T/L and the Wilcoxon p against the baseline, raw and Holm."""
  derived = summary.get('derived_methods', [])
  lines = ['', f'Over the {len(summary["complete_datasets"])} datasets every '
           'method has (Wilcoxon p: two-sided, exact, zeros split; Holm p: '
           'adjusted over the comparisons of the methods that were run with '
           'the baseline; significant: Holm p below 0.05'
           + ('; † a row derived from other rows, outside the ranks and '
              'the family' if derived else '') + '):', '',
           '| method | mean accuracy | mean rank | wins / ties / losses vs '
           'baseline | Wilcoxon p vs baseline | Holm p | significant |',
           '|---|---|---|---|---|---|---|']
  for m in summary['methods']:
    o = summary['overall'][m]
    wtl = (f'{o["wins"]} / {o["ties"]} / {o["losses"]}' if 'wins' in o
           else '-')
    mean = '-' if o['mean_accuracy'] is None else f'{o["mean_accuracy"]:.4f}'
    rank = '-' if o['mean_rank'] is None else f'{o["mean_rank"]:.2f}'
    lines.append(f'| {m}{" †" if m in derived else ""} | {mean} | {rank} '
                 f'| {wtl} | {_p(o.get("wilcoxon_p"))} | '
                 f'{_p(o.get("wilcoxon_p_holm"))} | '
                 f'{_significant(o.get("wilcoxon_p_holm"))} |')
  return lines


def vs_baseline_table(summary):
  """Each method against the baseline on every dataset both have (shown
  when some method has more datasets than every method shares)."""
  pairs = summary.get('vs_baseline', {})
  derived = summary.get('derived_methods', [])
  if not any(p['datasets'] > len(summary['complete_datasets'])
             for p in pairs.values()):
    return []
  lines = ['', 'Each method against the baseline on every dataset both '
           'have:', '',
           '| method | datasets | mean accuracy | baseline on them | '
           'wins / ties / losses | Wilcoxon p | Holm p | significant | '
           'worst difference |', '|---|---|---|---|---|---|---|---|---|']
  for m, o in pairs.items():
    if o['datasets']:
      lines.append(
          f'| {m}{" †" if m in derived else ""} | {o["datasets"]} | '
          f'{o["mean_accuracy"]:.4f} | {o["baseline_mean_accuracy"]:.4f} | '
          f'{o["wins"]} / {o["ties"]} / {o["losses"]} | '
          f'{_p(o["wilcoxon_p"])} | {_p(o.get("wilcoxon_p_holm"))} | '
          f'{_significant(o.get("wilcoxon_p_holm"))} | '
          f'{100 * o["worst_difference"]:+.2f} points |')
  return lines


DIFFERENCES_TEXT = (
    'How closely the datasets pin each difference down (accuracy points, '
    'method minus baseline, over the datasets both have): a 95% t interval '
    'over datasets and its standard error; the standard error that seed '
    'noise alone gives the mean difference (from each dataset\'s paired '
    'differences over seeds: near the first, more seeds would narrow the '
    'interval; well below it, only more datasets would); the smallest true '
    'difference a paired t test over these datasets finds with 80% power at '
    '0.05; how much the true difference varies between datasets beyond '
    'seed noise (a standard deviation: what a per-dataset choice could '
    'find); and whether each dataset\'s difference repeats on other seeds '
    '(Spearman r between the first and second half of the seeds, over the '
    'datasets).')


def differences_table(summary):
  differences = {m: o for m, o in summary.get('vs_baseline', {}).items()
                 if o['difference']['ci'] is not None}
  if not differences:
    return []
  lines = ['', DIFFERENCES_TEXT, '',
           '| method | datasets | mean difference | 95% interval | SE | '
           'seed noise (SE) | detectable | between datasets (sd) | '
           'split-half r (p) |', '|---|---|---|---|---|---|---|---|---|']
  points = lambda v: '-' if v is None else f'{100 * v:.2f}'
  halves = lambda v: '-' if v is None else f'{v["r"]:+.2f} ({v["p"]:.2g})'
  for m, o in differences.items():
    diff = o['difference']
    lo, hi = diff['ci']
    lines.append(
        f'| {m} | {o["datasets"]} | {100 * diff["mean"]:+.2f} | '
        f'[{100 * lo:+.2f}, {100 * hi:+.2f}] | {points(diff["se"])} | '
        f'{points(diff["seed_noise"])} | {points(diff["detectable"])} | '
        f'{points(diff["between_datasets"])} | {halves(diff["split_half"])} |')
  return lines


def auto_table(summary):
  """How auto's cross-validation foretells the test, per candidate."""
  foretold = [(a, c, o) for a, per in
              summary.get('auto_cross_validation', {}).items()
              for c, o in per.items()]
  if not foretold:
    return []
  lines = ['', 'How well auto\'s cross-validation on the training set '
           'foretells the test: per dataset, the mean over seeds of a '
           'candidate\'s cross-validated accuracy minus none\'s, against '
           'the candidate\'s test accuracy minus the baseline\'s. Ties: '
           'datasets where the folds score both the same. Spearman: the rank '
           'correlation of the two over the datasets. One series: the median '
           'share of one training series in a cross-validated score, the '
           'finest step it can take.', '',
           '| auto | candidate | datasets | ties | Spearman r (p) | '
           'one series (points) |', '|---|---|---|---|---|---|']
  for a, c, o in foretold:
    rho = ('-' if o['spearman'] is None else
           f'{o["spearman"]["r"]:+.2f} ({o["spearman"]["p"]:.2g})')
    lines.append(f'| {a} | {c} | {o["datasets"]} | {o["cv_ties"]} | '
                 f'{rho} | {100 * o["one_series"]:.1f} |')
  return lines


def anchors_table(summary):
  labels = summary['methods']
  if not summary.get('anchor_means'):
    return []
  lines = ['', 'Published accuracies against ours, each over the datasets '
           'both have (mean accuracy):', '',
           '| published column | datasets | published | '
           + ' | '.join(labels) + ' |', '|---|---|---|' + '---|' * len(labels)]
  for c, a in summary['anchor_means'].items():
    if a['datasets']:
      lines.append(f'| {c} | {a["datasets"]} | {a["published"]:.4f} | '
                   + ' | '.join(f'{a["ours"][m]:.4f}' for m in labels) + ' |')
  return lines


def notes(summary, chosen):
  """What the derived rows are, and datasets whose rows mix machines."""
  lines = []
  if chosen:
    lines += ['', f'`{CHOSEN}`: per dataset, the setting with the best mean '
              'validation accuracy: ' + ', '.join(
                  f'{d}: {label}' for d, label in sorted(chosen.items()))
              + '.']
  mixed = summary.get('mixed_machines')
  if mixed:
    lines += ['', '**Rows of one dataset ran on different machines** (the '
              "`machine` in the rows' `details`): "
              + '; '.join(f'{d}: {" and ".join(m)}' for d, m in mixed.items())
              + '. Rounding differs between machines and moves training '
              "runs, so these datasets' differences mix in the machines' "
              "difference. Rerun their arms on one machine, or, for auto, "
              'summarise with --auto_by_choice.']
  for label in summary.get('auto_by_choice', []):
    lines += ['', f'`{label}`: per dataset and seed, the row of the arm '
              f'that `{label[:-len(BY_CHOICE)]}` chose there (the '
              "baseline's for none), which it trains exactly; so it is "
              'compared with the baseline on the rows where both arms ran.']
    a = summary.get('auto_by_choice_agreement', {}).get(label)
    if a:
      lines[-1] += (f' Its own rows equal those on {a["equal"]} of '
                    f'{a["seeds"]} seeds; per seed they differ by a median '
                    f'{100 * a["median_difference"]:.2f} points, at most '
                    f'{100 * a["max_difference"]:.2f}.')
  return lines


def markdown(summary, chosen=None):
  """summary.md's text."""
  metric = summary.get('metric')
  lines = ([f'Metric: {metric.replace("_", " ")} (every "accuracy" below '
            f'reads {metric.replace("_", " ")}).', ''] if metric else [])
  lines = (lines + per_dataset_table(summary) + overall_table(summary)
           + vs_baseline_table(summary) + differences_table(summary)
           + auto_table(summary) + omnibus_lines(summary)
           + anchors_table(summary) + notes(summary, chosen))
  return '\n'.join(lines) + '\n'
