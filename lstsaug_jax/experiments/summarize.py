"""Tables, statistics and plots from a sweep's results CSV alone.

  python -m lstsaug_jax.experiments.summarize results/experiments/cpu_small.csv \
      --anchors=../shared/reference/anchors_dev.csv

writes, beside the CSV unless --out says otherwise: summary.md (a table per
dataset, mean +- std over seeds per method, the best in bold; mean accuracy
and mean rank per method; wins/ties/losses and a Wilcoxon signed-rank p
against the baseline, with a 95% interval of the mean difference, its
seed noise and the smallest difference the datasets could detect; how
well auto's cross-validation foretells its candidates' test differences;
published accuracies beside ours), summary.json (the
same numbers), scatter.png (each augmentation against the baseline, one
point per dataset), bars.png (per-dataset accuracy with error bars) and
ranks.png (mean ranks with Nemenyi's critical difference, Demsar 2006).

Several CSVs are summarised together (the shards of a sweep; or sweeps whose
protocols differ in VAE fields alone, e.g. methods.csv and
methods_contrastive.csv): see load_many.

With --select_on=VALIDATION.csv (a sweep run with validation_fraction > 0),
a further method takes, per dataset, the augmentation setting with the best
mean validation accuracy: a choice that never looks at test accuracy.

With --auto_by_choice, each auto method gets a companion, "LABEL by its
choices", scored per dataset and seed by the row of the arm it chose (see
add_auto_by_choice).
"""

import json
import os

from absl import app
from absl import flags
import numpy as np
import pandas as pd
from scipy import stats

from lstsaug_jax import configuration
from lstsaug_jax import files
from lstsaug_jax import plotting
from lstsaug_jax.experiments import results as results_lib

BASELINE = results_lib.BASELINE
AUTO = results_lib.AUTO
CHOSEN = 'chosen on validation'
BY_CHOICE = ' by its choices'
DEFAULT_ANCHOR_COLUMNS = ('resnet_fawaz2019_mean5', 'lstsaug_paper_baseline',
                          'lstsaug_paper_LA')
# Means closer than this are a tie (accuracies are multiples of 1/n_test).
TIE = 1e-9


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


def wilcoxon_p(a, b):
  """Two-sided Wilcoxon signed-rank p over paired per-dataset accuracies.

  Zero differences are split between the signs (Demsar 2006's advice for
  comparing classifiers over datasets); all-zero differences give p = 1.
  """
  d = np.asarray(a) - np.asarray(b)
  if len(d) == 0:
    return float('nan')
  if np.all(np.abs(d) <= TIE):
    return 1.0
  return float(stats.wilcoxon(a, b, zero_method='zsplit').pvalue)


def against_baseline(accuracies, baseline):
  """Wins, ties and losses (per dataset, TIE apart) and the Wilcoxon p of
  a method's mean accuracies against the baseline's on the same datasets."""
  diff = np.asarray(accuracies) - np.asarray(baseline)
  return dict(wins=int(np.sum(diff > TIE)),
              ties=int(np.sum(np.abs(diff) <= TIE)),
              losses=int(np.sum(diff < -TIE)),
              wilcoxon_p=wilcoxon_p(accuracies, baseline))


def rank_correlation(a, b):
  """Spearman's r and its p over paired values, as {'r', 'p'}; None with
  fewer than 3 pairs or when either side is constant (no ranking)."""
  a, b = np.asarray(a, float), np.asarray(b, float)
  if len(a) < 3 or np.ptp(a) <= TIE or np.ptp(b) <= TIE:
    return None
  r = stats.spearmanr(a, b)
  return dict(r=float(r.statistic), p=float(r.pvalue))


def difference_from_baseline(method, baseline, level=0.95, power=0.8):
  """How closely the datasets pin down a method's mean accuracy difference
  from the baseline (method minus baseline), and how large a difference
  they could show at all.

  method, baseline: per dataset, {seed: accuracy}, the same datasets in
  the same order. Returns a dict:
    mean: the mean over datasets of the difference of seed means;
    ci: a t interval at `level` over datasets (the datasets are the
      sample; seeds are inside each dataset's mean);
    seed_noise: the standard error that seed noise alone puts on `mean`,
      from the spread over seeds of each dataset's paired difference (a
      seed gives both arms the same initial weights and keys). Near the
      interval's own standard error, the datasets' differences are mostly
      seed noise and more seeds narrow it; far below, the method's effect
      differs between datasets and only more datasets do;
    detectable: the smallest true mean difference that a two-sided paired
      t test over these datasets at 0.05 finds with probability `power`,
      given the spread of the per-dataset differences (the usual normal
      approximation to the noncentral t);
    between_datasets: how much the method's true effect differs between
      datasets, as a standard deviation: the variance of the per-dataset
      differences less the part seed noise alone explains (the mean of
      each dataset's paired variance over its seeds divided by their
      number), 0 when seed noise explains it all. Anything that chooses
      the method per dataset (auto, a rule over dataset properties) has
      at most this much to find;
    split_half: whether the per-dataset differences repeat on other
      seeds: Spearman's r (and p) between each dataset's mean paired
      difference on the first half of the seeds both arms ran (in seed
      order) and on the rest, over the datasets with two such seeds or
      more (None with fewer than 3, or when either half is constant).
  Fields that need two datasets (or two seeds both arms ran) are None
  without them.
  """
  d = np.array([np.mean(list(m.values())) - np.mean(list(b.values()))
                for m, b in zip(method, baseline)])
  n = len(d)
  out = dict(mean=float(d.mean()) if n else None, ci=None, se=None,
             seed_noise=None, detectable=None, between_datasets=None,
             split_half=None)
  if n >= 2:
    se = float(d.std(ddof=1)) / np.sqrt(n)
    t = stats.t.ppf(0.5 + level / 2, n - 1)
    out.update(ci=[float(d.mean() - t * se), float(d.mean() + t * se)],
               se=se, detectable=float(
                   (stats.t.ppf(0.975, n - 1) + stats.t.ppf(power, n - 1))
                   * se))
  paired = [[m[k] - b[k] for k in sorted(m, key=int) if k in b]
            for m, b in zip(method, baseline)]
  if n and all(len(p) >= 2 for p in paired):
    noise = [np.var(p, ddof=1) / len(p) for p in paired]
    out['seed_noise'] = float(np.sqrt(sum(noise)) / n)
    if n >= 2:
      out['between_datasets'] = float(np.sqrt(max(
          0.0, d.var(ddof=1) - np.mean(noise))))
  halves = [(np.mean(p[:len(p) // 2]), np.mean(p[len(p) // 2:]))
            for p in paired if len(p) >= 2]
  agreement = rank_correlation(*np.array(halves).reshape(-1, 2).T)
  if agreement:
    out['split_half'] = dict(agreement, datasets=len(halves))
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
          spearman=rank_correlation(cv, test), one_series=float(np.median(1 / np.array(sizes))),
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


def summarise(df, anchors=None, anchor_columns=DEFAULT_ANCHOR_COLUMNS):
  """The numbers of the summary, as plain Python values."""
  labels = method_order(df[df['label'] != CHOSEN])
  if CHOSEN in set(df['label']):
    labels.append(CHOSEN)
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
  ranks = (np.array([stats.rankdata(-row) for row in table])
           if len(complete) else np.zeros((0, len(labels))))
  overall = {}
  for j, m in enumerate(labels):
    entry = dict(mean_accuracy=float(table[:, j].mean()) if complete else None,
                 mean_rank=float(ranks[:, j].mean()) if complete else None)
    if BASELINE in labels and m != BASELINE:
      entry.update(against_baseline(table[:, j],
                                    table[:, labels.index(BASELINE)]))
    overall[m] = entry
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
        against_baseline(a, b), datasets=len(both),
        mean_accuracy=float(a.mean()) if both else None,
        baseline_mean_accuracy=float(b.mean()) if both else None,
        worst_difference=float((a - b).min()) if both else None,
        difference=difference_from_baseline(
            [by_seed[(d, m)].to_dict() for d in both],
            [by_seed[(d, BASELINE)].to_dict() for d in both]))
  summary = dict(methods=labels, datasets=datasets,
                 complete_datasets=complete, per_dataset=per_dataset,
                 vs_baseline=vs_baseline,
                 overall=overall, seeds=sorted(int(s) for s in
                                               set(df['seed'])),
                 evaluated_on=sorted(set(df['evaluated_on'])),
                 config_hash='+'.join(dict.fromkeys(df['config_hash'])),
                 critical_difference=critical_difference(len(labels),
                                                         len(complete)),
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


def _cell(entry, best):
  text = f'{entry["mean"]:.4f} ± {entry["std"]:.4f}'
  return f'**{text}**' if best else text


def markdown(summary, chosen=None):
  labels = summary['methods']
  anchors = summary.get('anchors', {})
  lines = [f'Accuracy on the {"/".join(summary["evaluated_on"])} set, mean ± '
           f'std over seeds {summary["seeds"]} (config hash '
           f'{summary["config_hash"]}); the best of our methods in bold.',
           '']
  header = ['dataset'] + labels + [f'{c} (published)' for c in anchors]
  lines += ['| ' + ' | '.join(header) + ' |',
            '|' + '---|' * len(header)]
  for d in summary['datasets']:
    entries = summary['per_dataset'][d]
    top = max(e['mean'] for e in entries.values())
    cells = [_cell(entries[m], entries[m]['mean'] >= top - TIE)
             if m in entries else '-' for m in labels]
    cells += [f'{anchors[c][d]:.4f}' if d in anchors[c] else '-'
              for c in anchors]
    lines.append('| ' + ' | '.join([d] + cells) + ' |')
  complete = summary['complete_datasets']
  lines += ['', f'Over the {len(complete)} datasets every method has:', '',
            '| method | mean accuracy | mean rank | wins / ties / losses vs '
            'baseline | Wilcoxon p vs baseline |', '|---|---|---|---|---|']
  for m in labels:
    o = summary['overall'][m]
    wtl = (f'{o["wins"]} / {o["ties"]} / {o["losses"]}' if 'wins' in o
           else '-')
    p = f'{o["wilcoxon_p"]:.3g}' if 'wilcoxon_p' in o else '-'
    mean_acc = '-' if o['mean_accuracy'] is None else f'{o["mean_accuracy"]:.4f}'
    rank = '-' if o['mean_rank'] is None else f'{o["mean_rank"]:.2f}'
    lines.append(f'| {m} | {mean_acc} | {rank} | {wtl} | {p} |')
  pairs = summary.get('vs_baseline', {})
  if any(p['datasets'] > len(complete) for p in pairs.values()):
    lines += ['', 'Each method against the baseline on every dataset both '
              'have:', '',
              '| method | datasets | mean accuracy | baseline on them | '
              'wins / ties / losses | Wilcoxon p | worst difference |',
              '|---|---|---|---|---|---|---|']
    for m, o in pairs.items():
      if not o['datasets']:
        continue
      lines.append(
          f'| {m} | {o["datasets"]} | {o["mean_accuracy"]:.4f} | '
          f'{o["baseline_mean_accuracy"]:.4f} | {o["wins"]} / {o["ties"]} / '
          f'{o["losses"]} | {o["wilcoxon_p"]:.3g} | '
          f'{100 * o["worst_difference"]:+.2f} points |')
  differences = {m: o for m, o in pairs.items()
                 if o['difference']['ci'] is not None}
  if differences:
    lines += ['', 'How closely the datasets pin each difference down '
              '(accuracy points, method minus baseline, over the datasets '
              'both have): a 95% t interval over datasets and its standard '
              'error; the standard error that seed noise alone gives the '
              'mean difference (from each dataset\'s paired differences '
              'over seeds: near the first, more seeds would narrow the '
              'interval; well below it, only more datasets would); the '
              'smallest true difference a paired t test over these '
              'datasets finds with 80% power at 0.05; how much the true '
              'difference varies between datasets beyond seed noise (a '
              'standard deviation: what a per-dataset choice could find); '
              'and whether each dataset\'s difference repeats on other '
              'seeds (Spearman r between the first and second half of the '
              'seeds, over the datasets).', '',
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
          f'{points(diff["between_datasets"])} | {halves(diff["split_half"])} '
          '|')
  foretold = [(a, c, o) for a, per in
              summary.get('auto_cross_validation', {}).items()
              for c, o in per.items()]
  if foretold:
    lines += ['', 'How well auto\'s cross-validation on the training set '
              'foretells the test: per dataset, the mean over seeds of a '
              'candidate\'s cross-validated accuracy minus none\'s, '
              'against the candidate\'s test accuracy minus the '
              'baseline\'s. Ties: datasets where the folds score both the '
              'same. Spearman: the rank correlation of the two over the '
              'datasets. One series: the median share of one training '
              'series in a cross-validated score, the finest step it can '
              'take.', '',
              '| auto | candidate | datasets | ties | Spearman r (p) | '
              'one series (points) |', '|---|---|---|---|---|---|']
    for a, c, o in foretold:
      rho = ('-' if o['spearman'] is None else
             f'{o["spearman"]["r"]:+.2f} ({o["spearman"]["p"]:.2g})')
      lines.append(f'| {a} | {c} | {o["datasets"]} | {o["cv_ties"]} | '
                   f'{rho} | {100 * o["one_series"]:.1f} |')
  cd = summary.get('critical_difference')
  if cd is not None and np.isfinite(cd):
    lines += ['', f'Mean ranks closer than {cd:.2f} (Nemenyi critical '
              f'difference at 0.05 for {len(labels)} methods on '
              f'{len(complete)} datasets) are not distinguishable.']
  if summary.get('anchor_means'):
    lines += ['', 'Published accuracies against ours, each over the '
              'datasets both have (mean accuracy):', '',
              '| published column | datasets | published | '
              + ' | '.join(labels) + ' |', '|---|---|---|'
              + '---|' * len(labels)]
    for c, a in summary['anchor_means'].items():
      if not a['datasets']:
        continue
      lines.append(f'| {c} | {a["datasets"]} | {a["published"]:.4f} | '
                   + ' | '.join(f'{a["ours"][m]:.4f}' for m in labels)
                   + ' |')
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
  return '\n'.join(lines) + '\n'


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


def critical_difference(num_methods, num_datasets, alpha=0.05):
  """Nemenyi's critical difference of mean ranks (Demsar 2006): two methods
  whose mean ranks differ by less are not distinguishable at `alpha`."""
  if num_methods < 2 or num_datasets < 1:
    return float('nan')
  q = stats.studentized_range.ppf(1 - alpha, num_methods, np.inf) / np.sqrt(2)
  return float(q * np.sqrt(num_methods * (num_methods + 1)
                            / (6.0 * num_datasets)))


def plot_ranks(path, summary):
  """Mean ranks on one axis (1 = best, on the left), critical-difference
  style: the bar on top spans Nemenyi's critical difference at 0.05, and
  methods within it of each other are not distinguishable on these
  datasets."""
  labels = summary['methods']
  ranks = {m: summary['overall'][m]['mean_rank'] for m in labels}
  order = sorted(labels, key=lambda m: ranks[m])
  cd = summary['critical_difference']
  k = len(labels)
  half = (k + 1) // 2  # the best half labelled on the left, the rest right
  fig, ax = plotting.figure(figsize=(7.5, 1.0 + 0.3 * half), dpi=120)
  ax.set_xlim(1, k)
  ax.set_ylim(-(half + 0.6), 1.6)
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
  if np.isfinite(cd):
    ax.plot([1, 1 + cd], [1.1, 1.1], color='C3', linewidth=2)
    ax.text(1 + cd / 2, 1.25, f'CD = {cd:.2f} (Nemenyi, 0.05, '
            f'{len(summary["complete_datasets"])} datasets)', ha='center',
            fontsize=7, color='C3')
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
                 bars=plot_bars(os.path.join(out_dir, 'bars.png'), summary))
  if BASELINE in summary['methods'] and len(summary['methods']) > 1 and \
      summary['complete_datasets']:
    written['scatter'] = plot_scatter(os.path.join(out_dir, 'scatter.png'),
                                      summary)
  if len(summary['methods']) > 1 and summary['complete_datasets']:
    written['ranks'] = plot_ranks(os.path.join(out_dir, 'ranks.png'),
                                  summary)
  files.atomic_write(written['markdown'], markdown(summary, chosen))
  files.atomic_write(written['json'], json.dumps(summary, indent=2) + '\n')
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
_SELECT_ON = flags.DEFINE_string(
    'select_on', None, 'A validation sweep CSV: adds a method that takes, per '
    'dataset, the augmentation setting best on validation.')


def main(argv):
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
