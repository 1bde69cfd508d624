"""Tables, statistics and plots from a sweep's results CSV alone.

  python -m lstsaug_jax.experiments.summarize results/experiments/methods.csv \
      [MORE.csv ...] [--anchors=ANCHORS.csv] [--out=DIR]

writes, beside the CSV unless --out says otherwise: summary.md (a table per
dataset, mean +- std over seeds per method, the best in bold; per method
its mean accuracy and mean rank, wins / ties / losses and the Wilcoxon
signed-rank p against the baseline, raw and Holm-adjusted over the table's
comparisons, with a 95% interval of the mean difference, its seed noise
and the smallest difference the datasets could detect; Friedman's test
over the methods; how well auto's cross-validation foretells its
candidates' test differences; published accuracies beside ours),
summary.json (the same numbers), scatter.png (each augmentation against
the baseline, one point per dataset), bars.png (per-dataset accuracy with
error bars) and ranks.png (a critical-difference diagram whose bars join
methods no pairwise Wilcoxon-Holm test separates). docs/experiments.md
explains every figure.

Several CSVs are summarised together: the shards of a sweep, or sweeps
whose protocols differ in VAE fields alone (their methods are labelled
with the difference); any other difference is an error.

With --select_on=VALIDATION.csv (a sweep run with validation_fraction > 0),
a further row takes, per dataset, the augmentation setting with the best
mean validation accuracy: a choice that never looks at test accuracy.
With --auto_by_choice, each auto method gets a companion, "LABEL by its
choices", scored per dataset and seed by the row of the arm it chose.
Such derived rows are shown, but are never part of the ranks, Friedman's
test or the family Holm corrects.

With --registry=FILE (e.g. benchmarks/results/summaries.json), every
summary the file lists is written again from its CSVs.
"""

import json
import os

from absl import app
from absl import flags
import numpy as np
import pandas as pd

from lstsaug_jax import files
from lstsaug_jax import specs
from lstsaug_jax.experiments import derived
from lstsaug_jax.experiments import loading
from lstsaug_jax.experiments import plots
from lstsaug_jax.experiments import results as results_lib
from lstsaug_jax.experiments import stats
from lstsaug_jax.experiments import tables

BASELINE = results_lib.BASELINE
AUTO = results_lib.AUTO
CHOSEN = results_lib.CHOSEN
BY_CHOICE = results_lib.BY_CHOICE
TIE = stats.TIE


def _overall(labels, extra, table):
  """Mean accuracy, mean rank, W/T/L and Wilcoxon p (raw and Holm) per
  method over the datasets of `table` (rows; columns labels + extra, the
  derived rows)."""
  run = table[:, :len(labels)]
  ranked = stats.ranks(run) if len(run) else np.zeros((0, len(labels)))
  out = {m: dict(mean_accuracy=float(run[:, j].mean()) if len(run) else None,
                 mean_rank=float(ranked[:, j].mean()) if len(run) else None)
         for j, m in enumerate(labels)}
  for j, m in enumerate(extra):
    column = table[:, len(labels) + j]
    out[m] = dict(mean_accuracy=float(column.mean()) if len(run) else None,
                  mean_rank=None)
  if BASELINE not in labels:
    return out
  b = table[:, labels.index(BASELINE)]
  for m in labels + extra:
    if m != BASELINE:
      out[m].update(stats.against_baseline(
          table[:, (labels + extra).index(m)], b))
  _holm(out, [m for m in labels if m != BASELINE], extra)
  return out


def _holm(comparisons, family, extra):
  """Adds wilcoxon_p_holm to each comparison: Holm over `family` (the
  methods that ran); a derived row's is its own further comparison, added
  to that family (so it moves no other p)."""
  raw = [comparisons[m]['wilcoxon_p'] for m in family]
  for m, q in zip(family, stats.holm(raw)):
    comparisons[m]['wilcoxon_p_holm'] = q
  for m in extra:
    comparisons[m]['wilcoxon_p_holm'] = stats.holm(
        raw + [comparisons[m]['wilcoxon_p']])[-1]


def _vs_baseline(labels, extra, datasets, per_dataset, by_seed):
  """Each method against the baseline on every dataset both have (the
  overall table needs every method; this one does not)."""
  out = {}
  for m in labels + extra:
    if BASELINE not in labels or m == BASELINE:
      continue
    both = [d for d in datasets
            if m in per_dataset[d] and BASELINE in per_dataset[d]]
    a = np.array([per_dataset[d][m]['mean'] for d in both])
    b = np.array([per_dataset[d][BASELINE]['mean'] for d in both])
    out[m] = dict(
        stats.against_baseline(a, b), datasets=len(both),
        mean_accuracy=float(a.mean()) if both else None,
        baseline_mean_accuracy=float(b.mean()) if both else None,
        worst_difference=float((a - b).min()) if both else None,
        difference=stats.difference_from_baseline(
            [by_seed[(d, m)].to_dict() for d in both],
            [by_seed[(d, BASELINE)].to_dict() for d in both]))
  _holm(out, [m for m in out if m not in extra],
        [m for m in out if m in extra])
  return out


def _anchors(anchors, columns, datasets, complete, per_dataset, labels):
  """The published accuracies of `columns` per dataset, and each column's
  mean against ours on the datasets both have."""
  if not set(datasets) & set(anchors['dataset']):
    raise results_lib.ResultsError(
        'The anchors file has none of the datasets of the results '
        f'({", ".join(datasets[:5])}{"..." if len(datasets) > 5 else ""}): '
        'check that it is the right file, or leave --anchors out.')
  columns = [c for c in columns if c in anchors.columns]
  ref = anchors.set_index('dataset')
  published = {c: {d: float(ref.at[d, c]) for d in datasets
                   if d in ref.index and pd.notna(ref.at[d, c])}
               for c in columns}
  means = {}
  for c in columns:
    shared = [d for d in complete if d in published[c]]
    means[c] = dict(
        datasets=len(shared),
        published=float(np.mean([published[c][d] for d in shared]))
        if shared else None,
        ours={m: float(np.mean([per_dataset[d][m]['mean'] for d in shared]))
              if shared else None for m in labels})
  return dict(anchors=published, anchor_means=means)


def _per_dataset(df, labels):
  grouped = df.groupby(['dataset', 'label'])['accuracy']
  mean, std, count = grouped.mean(), grouped.std(ddof=0), grouped.count()
  return {d: {m: dict(mean=float(mean[(d, m)]), std=float(std[(d, m)]),
                      seeds=int(count[(d, m)]))
              for m in labels if (d, m) in mean.index}
          for d in dict.fromkeys(df['dataset'])}


def summarise(df, anchors=None, anchor_columns=loading.DEFAULT_ANCHOR_COLUMNS):
  """The numbers of the summary, as plain Python values."""
  run = loading.method_order(df[~df['label'].map(derived.is_derived)])
  extra = list(dict.fromkeys(l for l in df['label'] if derived.is_derived(l)))
  labels = run + extra
  per_dataset = _per_dataset(df, labels)
  datasets = list(per_dataset)
  # Overall figures only over datasets every method has.
  complete = [d for d in datasets if len(per_dataset[d]) == len(labels)]
  table = np.array([[per_dataset[d][m]['mean'] for m in labels]
                    for d in complete]).reshape(len(complete), len(labels))
  overall = _overall(run, extra, table)
  run_table = table[:, :len(run)]
  pairwise = (stats.pairwise_wilcoxon_holm(run_table, run)
              if len(complete) >= 2 else {})
  by_seed = df.groupby(['dataset', 'label', 'seed'])['accuracy'].mean()
  summary = dict(
      methods=labels, derived_methods=extra, datasets=datasets,
      complete_datasets=complete, per_dataset=per_dataset,
      vs_baseline=_vs_baseline(run, extra, datasets, per_dataset, by_seed),
      overall=overall, seeds=sorted(int(s) for s in set(df['seed'])),
      evaluated_on=sorted(set(df['evaluated_on'])),
      config_hash='+'.join(dict.fromkeys(df['config_hash'])),
      friedman=stats.friedman(run_table),
      pairwise=[dict(a=a, b=b, **v) for (a, b), v in pairwise.items()],
      cliques=(stats.cliques({m: overall[m]['mean_rank'] for m in run},
                             pairwise) if pairwise else []),
      critical_difference=stats.critical_difference(len(run), len(complete)),
      auto_cross_validation=derived.auto_cross_validation(df))
  mixed = derived.mixed_machines(df)
  if mixed:
    summary['mixed_machines'] = mixed
  if anchors is not None:
    summary.update(_anchors(anchors, anchor_columns, datasets, complete,
                            per_dataset, labels))
  return summary


def write_summary(csv_path, out_dir=None, anchors=None, select_on=None,
                  anchor_columns=loading.DEFAULT_ANCHOR_COLUMNS, methods=None,
                  auto_by_choice=False, metric='accuracy', plots_too=True):
  """Writes summary.md, summary.json and (plots_too) the plots; returns
  their paths.
  csv_path: one results CSV, or a list (see load_many); the summary goes
  beside the first. methods: only these (labels), e.g. to rank the methods
  that ran on more datasets than one that did not. auto_by_choice: see
  add_auto_by_choice. metric: the column every table and test reads
  (accuracy, balanced_accuracy, macro_f1 or weighted_f1)."""
  paths = [csv_path] if isinstance(csv_path, str) else list(csv_path)
  csv_path = paths[0]
  df = loading.with_metric(loading.load_many(paths), metric)
  by_choice = []
  if auto_by_choice:
    df, by_choice = derived.add_auto_by_choice(df)
  if methods:
    df = loading.select_methods(df, methods)
  chosen = None
  if select_on:
    if set(df['evaluated_on']) != {'test'}:
      raise results_lib.ResultsError(
          f'--select_on chooses settings for test results, but {csv_path} '
          f'holds rows evaluated on {sorted(set(df["evaluated_on"]))}.')
    df, chosen = derived.add_validation_choice(
        df, loading.load(select_on, 'validation'))
  summary = summarise(df, loading.read_anchors(anchors, anchor_columns) if anchors
                      else None,
                      anchor_columns)
  if chosen is not None:
    summary['chosen_on_validation'] = chosen
  if metric != 'accuracy':
    summary['metric'] = metric
  by_choice = [label for label in by_choice if label in summary['methods']]
  if by_choice:
    summary['auto_by_choice'] = by_choice
    summary['auto_by_choice_agreement'] = derived.auto_agreement(df,
                                                                 by_choice)
  out_dir = out_dir or results_lib.outputs(csv_path)['summary']
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise results_lib.ResultsError(
        f'{out_dir} is a file, but the summary is a folder of files '
        '(summary.md, summary.json, plots). Pass --out a folder name (new or '
        'existing), or move that file away.')
  os.makedirs(out_dir, exist_ok=True)
  written = dict(markdown=os.path.join(out_dir, 'summary.md'),
                 json=os.path.join(out_dir, 'summary.json'))
  if plots_too:
    written.update(_write_plots(out_dir, summary))
  files.atomic_write(written['markdown'], tables.markdown(summary, chosen))
  files.atomic_write(written['json'], json.dumps(summary, indent=2) + '\n')
  return written


def _write_plots(out_dir, summary):
  written = dict(bars=plots.plot_bars(os.path.join(out_dir, 'bars.png'),
                                      summary))
  if BASELINE in summary['methods'] and len(summary['methods']) > 1 and \
      summary['complete_datasets']:
    written['scatter'] = plots.plot_scatter(
        os.path.join(out_dir, 'scatter.png'), summary)
  run = [m for m in summary['methods'] if not derived.is_derived(m)]
  if len(run) > 1 and summary['complete_datasets']:
    written['ranks'] = plots.plot_ranks(os.path.join(out_dir, 'ranks.png'),
                                        summary)
  return written


def read_registry(path):
  """A registry of summaries: {out folder: {csvs: [...], and optional
  anchors, select_on, methods, auto_by_choice, metric}}, paths relative to the
  registry's folder; anchors under REFERENCE/ are read from the
  reference folder."""
  try:
    with open(path) as f:
      registry = json.load(f)
  except (OSError, ValueError) as e:
    raise results_lib.ResultsError(f'Cannot read the registry {path} ({e}).'
                                   ) from None
  if not isinstance(registry, dict) or not all(
      isinstance(v, dict) and v.get('csvs') for v in registry.values()):
    raise results_lib.ResultsError(
        f'{path} is not a registry of summaries: expected {{"folder": '
        '{"csvs": [...], ...}, ...}.')
  return registry


def write_registry(path, reference_dir, out_root=None, only=None,
                   plots_too=True):
  """Writes every summary the registry at `path` lists (or those in
  `only`), from its CSVs, under out_root (default: the registry's
  folder). Returns {name: written paths}."""
  root = os.path.dirname(os.path.abspath(path))
  out_root = out_root or root
  written = {}
  for name, entry in read_registry(path).items():
    if only is not None and name not in only:
      continue
    here = lambda p: os.path.join(root, p)
    anchors = entry.get('anchors')
    if anchors and anchors.startswith('REFERENCE/'):
      anchors = os.path.join(reference_dir, anchors[len('REFERENCE/'):])
    written[name] = write_summary(
        [here(c) for c in entry['csvs']], os.path.join(out_root, name),
        anchors=anchors,
        select_on=here(entry['select_on']) if entry.get('select_on') else None,
        methods=specs.split_top_level(entry.get('methods', '')),
        auto_by_choice=bool(entry.get('auto_by_choice')),
        metric=entry.get('metric', 'accuracy'), plots_too=plots_too)
  return written


OUT = flags.DEFINE_string('out', None, 'Folder for the summary (default: '
                           'RESULTS.summary beside the CSV).')
_ANCHORS = flags.DEFINE_string(
    'anchors', None, 'A CSV of published accuracies (one row per dataset), '
    'e.g. ANCHORS.csv (a dataset column, one column per published result).')
_ANCHOR_COLUMNS = flags.DEFINE_list(
    'anchor_columns', list(loading.DEFAULT_ANCHOR_COLUMNS),
    'Columns of --anchors to show.')
_METHODS = flags.DEFINE_string(
    'methods', None, 'Only these methods, comma-separated, as the tables '
    'label them (e.g. baseline,latent; commas inside a label\'s brackets '
    'stay in it), so the overall table and ranks can cover the datasets '
    'they all have.')
_AUTO_BY_CHOICE = flags.DEFINE_bool(
    'auto_by_choice', False, 'Add, for each auto method, "LABEL by its '
    'choices": per dataset and seed, the row of the arm it chose (auto '
    'trains that arm exactly), so that rows run later on another machine '
    'are not compared with the baseline.')
_REGISTRY = flags.DEFINE_string(
    'registry', None, 'Write again every summary this registry lists (e.g. '
    'benchmarks/results/summaries.json), from its CSVs; no CSV arguments.')
_REFERENCE = flags.DEFINE_string(
    'reference_dir', 'reference', 'With --registry: the folder '
    'of the published accuracies its anchors name (REFERENCE/...).')
_METRIC = flags.DEFINE_enum(
    'metric', 'accuracy', list(results_lib.METRICS), 'The column every table, '
    'test and plot reads: balanced_accuracy or macro_f1 for imbalanced '
    'classes (rows written before they were recorded have none).')
_SELECT_ON = flags.DEFINE_string(
    'select_on', None, 'A validation sweep CSV: adds a method that takes, per '
    'dataset, the augmentation setting best on validation.')


def main(argv):
  if _REGISTRY.value:
    try:
      written = write_registry(_REGISTRY.value, _REFERENCE.value, OUT.value)
    except (results_lib.ResultsError, OSError) as e:
      raise SystemExit(f'error: {e}') from None
    for name, paths in written.items():
      print(f'{name}: {paths["markdown"]}')
    return
  if len(argv) < 2:
    raise app.UsageError('Usage: python -m lstsaug_jax.experiments.summarize '
                         'RESULTS.csv [MORE.csv ...] [--anchors=...] '
                         '[--out=DIR]')
  try:
    written = write_summary(argv[1:], OUT.value, _ANCHORS.value,
                            _SELECT_ON.value, tuple(_ANCHOR_COLUMNS.value),
                            specs.split_top_level(_METHODS.value or ''),
                            _AUTO_BY_CHOICE.value, _METRIC.value)
  except (results_lib.ResultsError, OSError) as e:
    raise SystemExit(f'error: {e}') from None
  with open(written['markdown']) as f:
    print(f.read())
  for name, path in written.items():
    print(f'{name}: {path}')


if __name__ == '__main__':
  app.run(main)
