"""Tables, statistics and plots from a sweep's results CSV alone.

  python -m lstsaug_jax.experiments.summarize results/experiments/cpu_small.csv \
      --anchors=DATA_DIR/reference/anchors_dev.csv

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
methods no pairwise Wilcoxon-Holm test separates). The statistics are in
experiments/stats.py, the tables in tables.py, the plots in plots.py.

Several CSVs are summarised together (the shards of a sweep; or sweeps whose
protocols differ in VAE fields alone): see load_many.

With --select_on=VALIDATION.csv (a sweep run with validation_fraction > 0),
a further row takes, per dataset, the augmentation setting with the best
mean validation accuracy: a choice that never looks at test accuracy.
With --auto_by_choice, each auto method gets a companion, "LABEL by its
choices", scored per dataset and seed by the row of the arm it chose.
Such derived rows are shown, but are never part of the ranks, Friedman's
test or the family Holm corrects.

With --registry=FILE (e.g. benchmarks/results/summaries.json), every
summary the file lists is written again from its CSVs (see
write_registry).
"""

import json
import os

from absl import app
from absl import flags
import numpy as np
import pandas as pd

from lstsaug_jax import configuration
from lstsaug_jax import files
from lstsaug_jax.experiments import plots
from lstsaug_jax.experiments import results as results_lib
from lstsaug_jax.experiments import stats
from lstsaug_jax.experiments import tables

BASELINE = results_lib.BASELINE
AUTO = results_lib.AUTO
CHOSEN = results_lib.CHOSEN
BY_CHOICE = results_lib.BY_CHOICE
DEFAULT_ANCHOR_COLUMNS = ('resnet_fawaz2019_mean5', 'lstsaug_paper_baseline',
                          'lstsaug_paper_LA')
TIE = stats.TIE


def load(path, evaluated_on=None):
  """A results CSV as a DataFrame with a `label` column per method."""
  if not os.path.isfile(path):
    raise results_lib.ResultsError(
        f'{path} does not exist{" (it is a directory)" if os.path.isdir(path) else ""}: pass the results CSV '
        'that a sweep wrote (sweep.results_csv).')
  rows = results_lib.read_rows(path)
  if not rows:
    raise results_lib.ResultsError(f'{path} holds no results rows.')
  df = pd.DataFrame(rows)
  hashes = sorted(df['config_hash'].unique())
  if len(hashes) > 1:
    raise results_lib.ResultsError(
        f'{path} mixes rows of config hashes {hashes}; summarise one '
        'protocol at a time (filter the rows by config_hash).')
  if evaluated_on and set(df['evaluated_on']) != {evaluated_on}:
    raise results_lib.ResultsError(
        f'{path} holds rows evaluated on {sorted(set(df["evaluated_on"]))}, '
        f'expected {evaluated_on!r} only.')
  for column in ('accuracy', 'weighted_f1'):
    df[column] = df[column].astype(float)
  labels = {}
  for r in df.itertuples():
    if (r.method, r.settings) not in labels:
      labels[(r.method, r.settings)] = results_lib.method_label(r.method,
                                                                r.settings)
  df['label'] = [labels[(r.method, r.settings)] for r in df.itertuples()]
  return df


def _protocol_of(path, digest):
  known = results_lib.read_protocols(path)
  if digest not in known:
    raise results_lib.ResultsError(
        f'{path}.protocol.json does not record protocol {digest}, so what '
        f'differs between {path} and the other CSVs cannot be checked; '
        'summarise it alone.')
  return known[digest]


def load_many(paths, evaluated_on=None):
  """Several results CSVs as one DataFrame.

  CSVs of one protocol (e.g. the shards of a sweep) are joined as they
  are. A CSV whose protocol differs from the first one's in VAE fields alone
  (the classifiers train the same way) adds its methods under labels that
  name the difference, e.g. `latent_class [vae.contrastive_weight=1.0]`;
  any other difference is an error, since the comparison would not control
  it. A (dataset, method, seed) in two CSVs is an error too.
  """
  frames = [load(p, evaluated_on) for p in paths]
  first = frames[0]['config_hash'].iloc[0]
  for path, df in zip(paths[1:], frames[1:]):
    digest = df['config_hash'].iloc[0]
    if digest == first:
      continue
    base, proto = _protocol_of(paths[0], first), _protocol_of(path, digest)
    differ = sorted(k for k in set(base) | set(proto)
                    if base.get(k) != proto.get(k))
    others = [k for k in differ if not k.startswith('vae.')]
    if others:
      raise results_lib.ResultsError(
          f'{path} was run under another protocol than {paths[0]} '
          f'({", ".join(f"{k}: {base.get(k)!r} vs {proto.get(k)!r}" for k in others)}); '
          'only CSVs that differ in VAE fields can be summarised together, '
          'since anything else changes how the classifiers train.')
    if (df['method'] == BASELINE).any():
      raise results_lib.ResultsError(
          f'{path} holds baseline rows, but its protocol differs from '
          f"{paths[0]}'s in VAE fields only, so its baseline repeats the "
          "first CSV's; run it with sweep.baseline=False.")
    suffix = ', '.join(f'{k}={proto.get(k)!r}' for k in differ)
    df['label'] = [f'{label} [{suffix}]' for label in df['label']]
  df = pd.concat(frames, ignore_index=True)
  repeated = df[df.duplicated(['dataset', 'label', 'seed'], keep=False)]
  if len(repeated):
    r = repeated.iloc[0]
    raise results_lib.ResultsError(
        f'{r["dataset"]} / {r["label"]} / seed {r["seed"]} appears in more '
        f'than one of {", ".join(paths)}; each run may be summarised once.')
  return df


def method_order(df):
  """Baseline first, auto last, the others as they first appear."""
  first = list(df.drop_duplicates('label').itertuples())
  key = lambda r: ((r.method != BASELINE) + 2 * (r.method == AUTO),
                   first.index(r))
  return [r.label for r in sorted(first, key=key)]


def add_validation_choice(df, validation):
  """Adds CHOSEN rows: per dataset, the test rows of the augmentation
  setting whose mean validation accuracy is highest (first in method order
  on a tie). Returns (df, {dataset: chosen label})."""
  aug = validation[validation['method'] != BASELINE]
  order = method_order(aug)
  means = aug.groupby(['dataset', 'label'])['accuracy'].mean()
  chosen = {}
  for dataset in sorted(set(df['dataset']) & set(aug['dataset'])):
    candidates = [(-means[(dataset, label)], order.index(label), label)
                  for label in order if (dataset, label) in means.index]
    label = min(candidates)[2]
    rows = df[(df['dataset'] == dataset) & (df['label'] == label)]
    if len(rows):
      chosen[dataset] = label
      df = pd.concat([df, rows.assign(label=CHOSEN)], ignore_index=True)
  return df, chosen


def add_auto_by_choice(df):
  """Adds, for each auto label, a method "LABEL by its choices": per
  dataset and seed, the row of the arm auto chose there (the baseline's for
  `none`), from the same CSVs.

  Why: auto trains the chosen arm exactly (same seed, initial weights and
  batches: equal rows when both run on one machine and commit). Rows added
  to a CSV later, on another CPU or commit, differ by rounding, and under
  the final-model rule that moves single seeds by several points. Scored by
  its choices, auto is compared with the baseline on the rows where both
  arms ran. The choice itself still comes from auto's own cross-validation
  on the training set. A choice whose arm has no row there is an error.
  Returns (df, [the added labels]).
  """
  arms = df.set_index(['dataset', 'label', 'seed'])
  added = []
  for r in _scored_autos(df).itertuples():
    chosen = json.loads(r.details).get('chosen')
    arm = BASELINE if chosen == 'none' else chosen
    if (r.dataset, arm, r.seed) not in arms.index:
      raise results_lib.ResultsError(
          f'--auto_by_choice: {r.label} chose {chosen!r} on {r.dataset}, '
          f'seed {r.seed}, but the results hold no {arm!r} row for that '
          'dataset and seed; run that arm too (sweep.augmentations), or '
          'summarise without --auto_by_choice.')
    row = arms.loc[(r.dataset, arm, r.seed)].to_dict()
    label = r.label + BY_CHOICE
    row.update(dataset=r.dataset, seed=r.seed, method=AUTO, label=label,
               settings=r.settings, details='')
    added.append(row)
  if added:
    df = pd.concat([df, pd.DataFrame(added)], ignore_index=True)
  return df, list(dict.fromkeys(row['label'] for row in added))


def _scored_autos(df):
  """auto's own rows, with their choice and cross-validated scores in
  `details` (the rows "by its choices" have none)."""
  return df[(df['method'] == AUTO) & (df['details'].fillna('') != '')]


def auto_agreement(df, by_choice):
  """For each "LABEL by its choices": how its rows (the chosen arms') and
  auto's own rows differ, per seed: {label: {seeds, equal, median_difference,
  max_difference}} (absolute accuracy differences). On one machine they are
  equal; elsewhere this is the size of the machines' rounding."""
  out = {}
  for label in by_choice:
    own = df[df['label'] == label[:-len(BY_CHOICE)]].set_index(
        ['dataset', 'seed'])['accuracy']
    if not len(own):  # --methods left auto's own rows out
      continue
    arm = df[df['label'] == label].set_index(['dataset', 'seed'])['accuracy']
    gap = (own - arm.reindex(own.index)).abs().to_numpy()
    out[label] = dict(seeds=len(gap), equal=int(np.sum(gap <= TIE)),
                      median_difference=float(np.median(gap)),
                      max_difference=float(gap.max()))
  return out


def auto_cross_validation(df):
  """How well `auto`'s choice, made on the training set, foretells the test.

  For each auto label and each of its candidates whose own rows are in df
  (with the baseline's), per dataset: `cv`, the mean over auto's seeds of
  the candidate's cross-validated accuracy minus none's (from the rows'
  `details`), and `test`, the candidate's mean test accuracy minus the
  baseline's. Over those datasets: `cv_ties`, how many have cv = 0 (the
  folds cannot tell the two apart); `spearman`, the rank correlation of cv
  and test (None when either is constant); and `one_series`, the median
  over auto's rows (datasets x seeds) of one training series' share of a
  cross-validated score (1 / train_size), the finest step that score can
  take. Returns
  {auto label: {candidate: {...}}}.
  """
  out = {}
  autos = _scored_autos(df)
  if not len(autos) or BASELINE not in set(df['label']):
    return out
  test_mean = df.groupby(['dataset', 'label'])['accuracy'].mean()
  for label, rows in autos.groupby('label', sort=False):
    scores = [(r.dataset, int(r.train_size),
               json.loads(r.details)['cross_validated'])
              for r in rows.itertuples()]
    candidates = dict.fromkeys(c for _, _, cv in scores for c in cv
                               if c != 'none')
    for candidate in candidates:
      per_dataset, sizes = {}, []
      for dataset in dict.fromkeys(d for d, _, _ in scores):
        if ((dataset, candidate) not in test_mean.index
            or (dataset, BASELINE) not in test_mean.index):
          continue
        cv = [c[candidate] - c['none'] for d, _, c in scores
              if d == dataset and candidate in c and 'none' in c]
        if not cv:
          continue
        per_dataset[dataset] = dict(
            cv=float(np.mean(cv)),
            test=float(test_mean[(dataset, candidate)]
                       - test_mean[(dataset, BASELINE)]))
        sizes += [n for d, n, _ in scores if d == dataset]
      if not per_dataset:
        continue
      cv = np.array([v['cv'] for v in per_dataset.values()])
      test = np.array([v['test'] for v in per_dataset.values()])
      out.setdefault(label, {})[candidate] = dict(
          datasets=len(per_dataset), cv_ties=int(np.sum(np.abs(cv) <= TIE)),
          spearman=stats.rank_correlation(cv, test), one_series=float(np.median(1 / np.array(sizes))),
          per_dataset=per_dataset)
  return out


def mixed_machines(df):
  """{dataset: [machines]} for the datasets whose rows ran on more than one
  machine (results_lib.row_machine; rows that do not record it are left
  out). Their methods' differences mix in the machines' rounding."""
  machines = {}
  for r in df.itertuples():
    machine = results_lib.row_machine(r._asdict())
    if machine is not None:
      machines.setdefault(r.dataset, set()).add(machine)
  return {d: sorted(m) for d, m in machines.items() if len(m) > 1}


def is_derived(label):
  """A row made from other methods' rows (chosen on validation, auto by
  its choices), not a method that was run: shown, but never part of the
  ranks, the omnibus test or the family of comparisons of those that
  were."""
  return label == CHOSEN or label.endswith(BY_CHOICE)


def _overall(labels, derived, table):
  """Mean accuracy, mean rank, W/T/L and Wilcoxon p (raw and Holm) per
  method over the datasets of `table` (rows; columns labels + derived)."""
  run = table[:, :len(labels)]
  ranked = stats.ranks(run) if len(run) else np.zeros((0, len(labels)))
  out = {m: dict(mean_accuracy=float(run[:, j].mean()) if len(run) else None,
                 mean_rank=float(ranked[:, j].mean()) if len(run) else None)
         for j, m in enumerate(labels)}
  for j, m in enumerate(derived):
    column = table[:, len(labels) + j]
    out[m] = dict(mean_accuracy=float(column.mean()) if len(run) else None,
                  mean_rank=None)
  if BASELINE not in labels:
    return out
  b = table[:, labels.index(BASELINE)]
  others = [m for m in labels if m != BASELINE]
  for m in others + derived:
    out[m].update(stats.against_baseline(
        table[:, (labels + derived).index(m)], b))
  family = stats.holm([out[m]['wilcoxon_p'] for m in others])
  for m, q in zip(others, family):
    out[m]['wilcoxon_p_holm'] = q
  for m in derived:  # a further comparison: the run methods' family plus it
    out[m]['wilcoxon_p_holm'] = stats.holm(
        [out[o]['wilcoxon_p'] for o in others] + [out[m]['wilcoxon_p']])[-1]
  return out


def summarise(df, anchors=None, anchor_columns=DEFAULT_ANCHOR_COLUMNS):
  """The numbers of the summary, as plain Python values."""
  run_labels = method_order(df[~df['label'].map(is_derived)])
  derived = list(dict.fromkeys(l for l in df['label'] if is_derived(l)))
  labels = run_labels + derived
  grouped = df.groupby(['dataset', 'label'])['accuracy']
  by_seed = df.groupby(['dataset', 'label', 'seed'])['accuracy'].mean()
  mean, std, count = grouped.mean(), grouped.std(ddof=0), grouped.count()
  datasets = list(dict.fromkeys(df['dataset']))
  per_dataset = {
      d: {m: dict(mean=float(mean[(d, m)]), std=float(std[(d, m)]),
                  seeds=int(count[(d, m)]))
          for m in labels if (d, m) in mean.index} for d in datasets}
  # Overall figures only over datasets every method has.
  complete = [d for d in datasets if len(per_dataset[d]) == len(labels)]
  table = np.array([[per_dataset[d][m]['mean'] for m in labels]
                    for d in complete]).reshape(len(complete), len(labels))
  overall = _overall(run_labels, derived, table)
  run_table = table[:, :len(run_labels)]
  pairwise = (stats.pairwise_wilcoxon_holm(run_table, run_labels)
              if len(complete) >= 2 else {})
  mean_ranks = {m: overall[m]['mean_rank'] for m in run_labels}
  # Each method against the baseline on every dataset both have (the
  # table above needs every method; this one does not).
  vs_baseline = {}
  for m in labels:
    if BASELINE not in labels or m == BASELINE:
      continue
    both = [d for d in datasets
            if m in per_dataset[d] and BASELINE in per_dataset[d]]
    a = np.array([per_dataset[d][m]['mean'] for d in both])
    b = np.array([per_dataset[d][BASELINE]['mean'] for d in both])
    vs_baseline[m] = dict(
        stats.against_baseline(a, b), datasets=len(both),
        mean_accuracy=float(a.mean()) if both else None,
        baseline_mean_accuracy=float(b.mean()) if both else None,
        worst_difference=float((a - b).min()) if both else None,
        difference=stats.difference_from_baseline(
            [by_seed[(d, m)].to_dict() for d in both],
            [by_seed[(d, BASELINE)].to_dict() for d in both]))
  family = [m for m in vs_baseline if not is_derived(m)]
  for m, q in zip(family, stats.holm(
      [vs_baseline[m]['wilcoxon_p'] for m in family])):
    vs_baseline[m]['wilcoxon_p_holm'] = q
  for m in vs_baseline:
    if is_derived(m):
      vs_baseline[m]['wilcoxon_p_holm'] = stats.holm(
          [vs_baseline[o]['wilcoxon_p'] for o in family]
          + [vs_baseline[m]['wilcoxon_p']])[-1]
  summary = dict(methods=labels, derived_methods=derived, datasets=datasets,
                 complete_datasets=complete, per_dataset=per_dataset,
                 vs_baseline=vs_baseline,
                 overall=overall, seeds=sorted(int(s) for s in
                                               set(df['seed'])),
                 evaluated_on=sorted(set(df['evaluated_on'])),
                 config_hash='+'.join(dict.fromkeys(df['config_hash'])),
                 friedman=stats.friedman(run_table),
                 pairwise=[dict(a=a, b=b, **v) for (a, b), v in
                           pairwise.items()],
                 cliques=(stats.cliques(mean_ranks, pairwise)
                          if pairwise else []),
                 critical_difference=stats.critical_difference(
                     len(run_labels), len(complete)),
                 auto_cross_validation=auto_cross_validation(df))
  mixed = mixed_machines(df)
  if mixed:
    summary['mixed_machines'] = mixed
  if anchors is not None:
    if not set(datasets) & set(anchors['dataset']):
      raise results_lib.ResultsError(
          'The anchors file has none of the datasets of the results '
          f'({", ".join(datasets[:5])}{"..." if len(datasets) > 5 else ""}): '
          'check that it is the right file, or leave --anchors out.')
    columns = [c for c in anchor_columns if c in anchors.columns]
    ref = anchors.set_index('dataset')
    summary['anchors'] = {
        c: {d: float(ref.at[d, c]) for d in datasets
            if d in ref.index and pd.notna(ref.at[d, c])} for c in columns}
    # Each published column against ours on the datasets both have.
    summary['anchor_means'] = {}
    for c in columns:
      shared = [d for d in complete if d in summary['anchors'][c]]
      summary['anchor_means'][c] = dict(
          datasets=len(shared),
          published=float(np.mean([summary['anchors'][c][d]
                                    for d in shared])) if shared else None,
          ours={m: float(np.mean([per_dataset[d][m]['mean'] for d in shared]))
                if shared else None for m in labels})
  return summary


def read_anchors(path, columns=DEFAULT_ANCHOR_COLUMNS):
  """An anchors CSV: one row per dataset, one column per published
  accuracy. Every cell of the `columns` shown must be a number in [0, 1]
  or empty."""
  if not os.path.isfile(path):
    raise results_lib.ResultsError(
        f'The anchors file {path} does not exist. Pass --anchors (or '
        'sweep.anchors) a CSV of published accuracies, or leave it empty for '
        'none.')
  try:
    anchors = pd.read_csv(path, dtype=str, keep_default_na=False)
  except (pd.errors.ParserError, pd.errors.EmptyDataError,
          UnicodeDecodeError) as e:
    raise results_lib.ResultsError(
        f'{path} is not a readable CSV ({e}).') from None
  if 'dataset' not in anchors.columns:
    raise results_lib.ResultsError(
        f'{path} has no "dataset" column; an anchors file has one row per '
        'dataset and one column per published accuracy.')
  duplicated = anchors['dataset'][anchors['dataset'].duplicated()]
  if len(duplicated):
    lines = [i + 2 for i in np.flatnonzero(
        anchors['dataset'] == duplicated.iloc[0])]
    raise results_lib.ResultsError(
        f'{path}: dataset {duplicated.iloc[0]!r} has more than one row '
        f'(lines {", ".join(map(str, lines))}); keep one.')
  for column in [c for c in anchors.columns
                 if c in columns]:
    for i, cell in enumerate(anchors[column]):
      try:
        value = float(cell) if cell.strip() else None
      except ValueError:
        value = -1.0
      if value is not None and not 0.0 <= value <= 1.0:
        raise results_lib.ResultsError(
            f'{path}, line {i + 2}, column {column}: {cell!r} is not an '
            'accuracy (a number in [0, 1], or empty when unknown).')
    anchors[column] = pd.to_numeric(anchors[column].replace('', np.nan))
  return anchors


def select_methods(df, methods):
  """The rows of the methods labelled `methods` (as the tables label
  them), in that order of preference; an unknown label is an error."""
  known = list(dict.fromkeys(df['label']))
  unknown = [m for m in methods if m not in known]
  if unknown:
    raise results_lib.ResultsError(
        f'--methods names {", ".join(map(repr, unknown))}, which the results '
        f'do not hold; they hold {", ".join(map(repr, known))}.')
  return df[df['label'].isin(methods)]


def write_summary(csv_path, out_dir=None, anchors=None, select_on=None,
                  anchor_columns=DEFAULT_ANCHOR_COLUMNS, methods=None,
                  auto_by_choice=False):
  """Writes summary.md, summary.json and the plots; returns their paths.
  csv_path: one results CSV, or a list (see load_many); the summary goes
  beside the first. methods: only these (labels), e.g. to rank the methods
  that ran on more datasets than one that did not. auto_by_choice: see
  add_auto_by_choice."""
  paths = [csv_path] if isinstance(csv_path, str) else list(csv_path)
  csv_path = paths[0]
  df = load_many(paths)
  by_choice = []
  if auto_by_choice:
    df, by_choice = add_auto_by_choice(df)
  if methods:
    df = select_methods(df, methods)
  chosen = None
  if select_on:
    if set(df['evaluated_on']) != {'test'}:
      raise results_lib.ResultsError(
          f'--select_on chooses settings for test results, but {csv_path} '
          f'holds rows evaluated on {sorted(set(df["evaluated_on"]))}.')
    df, chosen = add_validation_choice(df, load(select_on, 'validation'))
  summary = summarise(df, read_anchors(anchors, anchor_columns) if anchors
                      else None,
                      anchor_columns)
  if chosen is not None:
    summary['chosen_on_validation'] = chosen
  by_choice = [label for label in by_choice if label in summary['methods']]
  if by_choice:
    summary['auto_by_choice'] = by_choice
    summary['auto_by_choice_agreement'] = auto_agreement(df, by_choice)
  out_dir = out_dir or results_lib.outputs(csv_path)['summary']
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise results_lib.ResultsError(
        f'{out_dir} is a file, but the summary is a folder of files '
        '(summary.md, summary.json, plots). Pass --out a folder name (new or '
        'existing), or move that file away.')
  os.makedirs(out_dir, exist_ok=True)
  written = dict(markdown=os.path.join(out_dir, 'summary.md'),
                 json=os.path.join(out_dir, 'summary.json'),
                 bars=plots.plot_bars(os.path.join(out_dir, 'bars.png'),
                                      summary))
  if BASELINE in summary['methods'] and len(summary['methods']) > 1 and \
      summary['complete_datasets']:
    written['scatter'] = plots.plot_scatter(
        os.path.join(out_dir, 'scatter.png'), summary)
  run = [m for m in summary['methods'] if not is_derived(m)]
  if len(run) > 1 and summary['complete_datasets']:
    written['ranks'] = plots.plot_ranks(os.path.join(out_dir, 'ranks.png'),
                                        summary)
  files.atomic_write(written['markdown'], tables.markdown(summary, chosen))
  files.atomic_write(written['json'], json.dumps(summary, indent=2) + '\n')
  return written


def read_registry(path):
  """A registry of summaries: {out folder: {csvs: [...], and optional
  anchors, select_on, methods, auto_by_choice}}, paths relative to the
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


def write_registry(path, reference_dir, out_root=None, only=None):
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
        methods=configuration.split_top_level(entry.get('methods', '')),
        auto_by_choice=bool(entry.get('auto_by_choice')))
  return written


_OUT = flags.DEFINE_string('out', None, 'Folder for the summary (default: '
                           'RESULTS.summary beside the CSV).')
_ANCHORS = flags.DEFINE_string(
    'anchors', None, 'A CSV of published accuracies (one row per dataset), '
    'e.g. ../shared/reference/anchors_dev.csv.')
_ANCHOR_COLUMNS = flags.DEFINE_list(
    'anchor_columns', list(DEFAULT_ANCHOR_COLUMNS),
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
    'reference_dir', '../shared/reference', 'With --registry: the folder '
    'of the published accuracies its anchors name (REFERENCE/...).')
_SELECT_ON = flags.DEFINE_string(
    'select_on', None, 'A validation sweep CSV: adds a method that takes, per '
    'dataset, the augmentation setting best on validation.')


def main(argv):
  if _REGISTRY.value:
    try:
      written = write_registry(_REGISTRY.value, _REFERENCE.value, _OUT.value)
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
    written = write_summary(argv[1:], _OUT.value, _ANCHORS.value,
                            _SELECT_ON.value, tuple(_ANCHOR_COLUMNS.value),
                            configuration.split_top_level(_METHODS.value or ''),
                            _AUTO_BY_CHOICE.value)
  except (results_lib.ResultsError, OSError) as e:
    raise SystemExit(f'error: {e}') from None
  with open(written['markdown']) as f:
    print(f.read())
  for name, path in written.items():
    print(f'{name}: {path}')


if __name__ == '__main__':
  app.run(main)
