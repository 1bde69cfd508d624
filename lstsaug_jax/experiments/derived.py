"""Rows a summary derives from other rows (the setting chosen on
validation, auto scored by its choices), and what rows' details say: how
auto's cross-validation foretells the test, and which machine each row ran
on."""

import json

import numpy as np
import pandas as pd

from lstsaug_jax.experiments import loading
from lstsaug_jax.experiments import results as results_lib
from lstsaug_jax.experiments import stats

BASELINE = results_lib.BASELINE
AUTO = results_lib.AUTO
CHOSEN = results_lib.CHOSEN
BY_CHOICE = results_lib.BY_CHOICE
TIE = stats.TIE


def is_derived(label):
  """A row made from other methods' rows (chosen on validation, auto by
  its choices), not a method that was run: shown, but never part of the
  ranks, the omnibus test or the family of comparisons of those that
  were."""
  return label == CHOSEN or label.endswith(BY_CHOICE)


def add_validation_choice(df, validation):
  """Adds CHOSEN rows: per dataset, the test rows of the augmentation
  setting whose mean validation accuracy is highest (first in method order
  on a tie). Returns (df, {dataset: chosen label})."""
  aug = validation[validation['method'] != BASELINE]
  order = loading.method_order(aug)
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
