"""Can a dataset's training set foretell whether a method helps on it?

  python -m lstsaug_jax.experiments.dataset_prior RESULTS.csv [MORE.csv ...] \
      --method="jitter(mode='online')" --data_dir=DATA_DIR --out=DIR

`auto` asks each dataset's own folds, and on the cpu_small datasets they
are too small to tell (summary.md's cross-validation table). The other way
to choose is from other datasets: learn, over the datasets of a sweep, which
simple property of a training set goes with a gain, and apply that rule to
a dataset it never saw. This module measures that honestly:

- properties of each training split alone (never the test split): the
  noise level of the series, the training-set size, the series length, the
  number of classes and the series per class;
- per property, Spearman's r between it and the method's effect (mean
  test accuracy minus the baseline's, paired over seeds), over datasets;
- per property, a leave-one-dataset-out rule: for each dataset, a
  threshold and a side (apply the method above or below it) chosen on the
  other datasets' effects alone, then applied to it; the mean effect of
  those choices, against always and never applying the method, with a
  permutation p (the same procedure on effects shuffled over datasets).

Writes prior.md and prior.json. A rule that cannot beat `never` here has
nothing to learn from these properties; the summary's between-dataset
spread (stats.difference_from_baseline) says how much any rule could.
"""

import json
import os

from absl import app
from absl import flags
import numpy as np

from lstsaug_jax import cli
from lstsaug_jax import data
from lstsaug_jax import errors
from lstsaug_jax import files
from lstsaug_jax.experiments import loading
from lstsaug_jax.experiments import results as results_lib
from lstsaug_jax.experiments import stats
from lstsaug_jax.experiments import summarize

PROPERTIES = ('noise', 'train_size', 'length', 'classes', 'per_class')
SIDES = ('above', 'below')


def noise_level(x):
  """The standard deviation of white noise on series x (..., length): per
  series, a robust scale (1.4826 MAD) of the second difference over
  sqrt(6), which a smooth signal leaves near zero and white noise of
  standard deviation s sets to s; the median over series and channels."""
  x = np.asarray(x, np.float64)
  d2 = np.diff(x, n=2, axis=-1)
  mad = np.median(np.abs(d2 - np.median(d2, axis=-1, keepdims=True)),
                  axis=-1)
  return float(np.median(1.4826 * mad / np.sqrt(6)))


def properties(dataset):
  """The PROPERTIES of a dataset's training split (series as loaded, i.e.
  normalised as the classifier sees them)."""
  n = dataset.x_train.shape[0]
  return dict(noise=noise_level(dataset.x_train), train_size=n,
              length=dataset.series_length, classes=dataset.num_classes,
              per_class=n / dataset.num_classes)


def _thresholds(values):
  """Candidate thresholds: midway between consecutive distinct values, and
  beyond both ends (the rule then applies to all or to none)."""
  v = np.unique(values)
  return np.concatenate([[-np.inf], (v[1:] + v[:-1]) / 2, [np.inf]])


def fit_rule(values, effects, sides=SIDES):
  """The (side, threshold) whose choices give the largest mean effect over
  these datasets: apply where value > threshold ('above') or < ('below').
  Ties go to the rule that applies the method to fewer datasets, then to
  the first side and the lowest threshold, so that a property with nothing
  to say yields `never`."""
  values, effects = np.asarray(values, float), np.asarray(effects, float)
  t = _thresholds(values)
  v, t_ = values[None, :], t[:, None]
  # (sides x thresholds, datasets): whether each rule applies the method.
  apply = np.concatenate([v > t_ if side == 'above' else v < t_
                          for side in sides])
  means = apply @ effects / len(effects)
  counts = apply.sum(axis=1)
  tied = np.flatnonzero(means >= means.max() - 1e-12)
  best = tied[np.argmin(counts[tied])]  # argmin: the first of equals
  return sides[best // len(t)], float(t[best % len(t)])


def applies(side, threshold, value):
  return value > threshold if side == 'above' else value < threshold


def describe_rule(side, threshold):
  """A rule as JSON can hold it: {'applies': 'always' | 'never' | 'above'
  | 'below', 'threshold': a number or None}."""
  if np.isfinite(threshold):
    return dict(applies=side, threshold=float(threshold))
  everywhere = (side == 'above') == (threshold < 0)
  return dict(applies='always' if everywhere else 'never', threshold=None)


def leave_one_out(values, effects, sides=SIDES):
  """For each dataset, the rule fitted on all the others, applied to it:
  a boolean array (apply the method or not). A dataset's own effect never
  enters its own choice."""
  values, effects = np.asarray(values, float), np.asarray(effects, float)
  chosen = np.zeros(len(values), bool)
  for i in range(len(values)):
    others = np.arange(len(values)) != i
    side, t = fit_rule(values[others], effects[others], sides)
    chosen[i] = applies(side, t, values[i])
  return chosen


def permutation_p(values, effects, rounds=2000, seed=0, sides=SIDES):
  """One-sided p of the leave-one-out rule's mean effect: the share of
  shufflings of the effects over datasets whose rule does as well or
  better (counting the observed one)."""
  values, effects = np.asarray(values, float), np.asarray(effects, float)
  observed = np.mean(effects * leave_one_out(values, effects, sides))
  rng = np.random.default_rng(seed)
  null = [np.mean(e * leave_one_out(values, e, sides))
          for e in (rng.permutation(effects) for _ in range(rounds))]
  return float((1 + np.sum(np.array(null) >= observed - 1e-12))
               / (1 + rounds))


def effects(df, method):
  """{dataset: mean over seeds of method - baseline}, over the seeds both
  ran, for the datasets both ran."""
  if method not in set(df['label']):
    raise results_lib.ResultsError(
        f'--method={method!r} is not in the results; they hold '
        f'{", ".join(map(repr, dict.fromkeys(df["label"])))}.')
  by_seed = df.groupby(['dataset', 'label', 'seed'])['accuracy'].mean()
  out = {}
  for dataset in dict.fromkeys(df['dataset']):
    if (dataset, method) not in by_seed.index or \
        (dataset, results_lib.BASELINE) not in by_seed.index:
      continue
    m = by_seed[(dataset, method)]
    b = by_seed[(dataset, results_lib.BASELINE)]
    seeds = [s for s in m.index if s in b.index]
    if seeds:
      out[dataset] = float(np.mean([m[s] - b[s] for s in seeds]))
  return out


def analyse(effect, props, rounds=2000, seed=0, held_out=(), sides=SIDES):
  """effect: {dataset: effect}; props: {dataset: properties(...)}. The
  numbers of prior.json. held_out: datasets whose effects the rules never
  see: the statistics and rules come from the others, and each property's
  rule, fitted on all of those, is then scored on these. sides: which
  rules may be fitted ('above' alone when the direction was fixed in
  advance)."""
  names = [d for d in effect if d in props and d not in held_out]
  held = [d for d in effect if d in props and d in held_out]
  e = np.array([effect[d] for d in names])
  out = dict(datasets=names, effects={d: effect[d] for d in names + held},
             properties={d: props[d] for d in names + held},
             always=float(e.mean()), never=0.0, sides=list(sides),
             by_property={})
  if held:
    out['held_out'] = dict(datasets=held, always=float(np.mean(
        [effect[d] for d in held])))
  for p in PROPERTIES:
    v = np.array([props[d][p] for d in names], float)
    chosen = leave_one_out(v, e, sides)
    side, t = fit_rule(v, e, sides)
    entry = out['by_property'][p] = dict(
        spearman=stats.rank_correlation(v, e),
        rule_on_all=describe_rule(side, t),
        leave_one_out=float(np.mean(e * chosen)),
        applied=[d for d, c in zip(names, chosen) if c],
        permutation_p=permutation_p(v, e, rounds, seed, sides))
    if held:
      applied = [d for d in held if applies(side, t, props[d][p])]
      entry['held_out'] = dict(
          mean=float(np.sum([effect[d] for d in applied]) / len(held)),
          applied=applied)
  return out


def markdown(result, method):
  n = len(result['datasets'])
  lines = [f'Can a training set foretell whether `{method}` helps? Over {n} '
           'datasets; effect = mean test accuracy minus the baseline\'s, '
           'paired over seeds, in points. `always`: '
           f'{100 * result["always"]:+.2f}; `never`: +0.00. Rules: apply '
           f'the method {" or ".join(result["sides"])} a threshold.']
  held = result.get('held_out')
  if held:
    lines[0] += (f' Held out (never seen by the rules): '
                 f'{", ".join(held["datasets"])}; `always` there: '
                 f'{100 * held["always"]:+.2f}.')
  lines += ['', '| property | Spearman r (p) with the effect | rule on all '
            'datasets | leave-one-out mean effect | datasets applied | '
            'permutation p |' + (' held-out mean effect (applied) |'
                                 if held else ''),
            '|---|---|---|---|---|---|' + ('---|' if held else '')]
  for p, o in result['by_property'].items():
    rho = ('-' if o['spearman'] is None else
           f'{o["spearman"]["r"]:+.2f} ({o["spearman"]["p"]:.2g})')
    rule = o['rule_on_all']
    text = (rule['applies'] if rule['threshold'] is None
            else f'{rule["applies"]} {rule["threshold"]:.4g}')
    line = (f'| {p} | {rho} | {text} | {100 * o["leave_one_out"]:+.2f} '
            f'| {len(o["applied"])} | {o["permutation_p"]:.3g} |')
    if held:
      line += (f' {100 * o["held_out"]["mean"]:+.2f} '
               f'({len(o["held_out"]["applied"])}) |')
    lines.append(line)
  lines += ['', '| dataset | effect (points) | '
            + ' | '.join(PROPERTIES) + ' |', '|---|---|'
            + '---|' * len(PROPERTIES)]
  for d in sorted(result['effects'],
                  key=lambda d: result['properties'][d]['noise']):
    pr = result['properties'][d]
    name = f'{d} (held out)' if held and d in held['datasets'] else d
    lines.append(f'| {name} | {100 * result["effects"][d]:+.2f} | '
                 + ' | '.join(f'{pr[p]:.4g}' for p in PROPERTIES) + ' |')
  return '\n'.join(lines) + '\n'


_METHOD = flags.DEFINE_string(
    'method', None, 'The method, as the summary labels it (e.g. '
    '"jitter(mode=\'online\')").')
_DATA_DIR = cli.data_dir_flag()
_ROUNDS = flags.DEFINE_integer('rounds', 2000, 'Permutations for the p.')
_HELD_OUT = flags.DEFINE_list(
    'held_out', [], 'Datasets whose effects the rules never see; each '
    'property\'s rule, fitted on the rest, is scored on them.')
_SIDES = flags.DEFINE_list(
    'sides', list(SIDES), 'The rules that may be fitted: apply the method '
    'above a threshold, below it, or either (the default); one side when '
    'the direction was fixed in advance.')


def main(argv):
  if len(argv) < 2 or not _METHOD.value:
    raise app.UsageError(
        'Usage: python -m lstsaug_jax.experiments.dataset_prior RESULTS.csv '
        '[MORE.csv ...] --method=LABEL [--data_dir=...] [--held_out=D1,D2] '
        '[--out=DIR] (prior.md and prior.json go in DIR, by default the '
        'summary folder beside the first CSV)')
  if not _SIDES.value or set(_SIDES.value) - set(SIDES):
    raise app.UsageError(f'--sides takes {" and/or ".join(SIDES)}, not '
                         f'{",".join(_SIDES.value)!r}.')
  try:
    effect = effects(loading.load_many(argv[1:]), _METHOD.value)
    unknown = [d for d in _HELD_OUT.value if d not in effect]
    if unknown:
      raise results_lib.ResultsError(
          f'--held_out names {", ".join(unknown)}, which the results do not '
          f'hold for both {_METHOD.value!r} and the baseline; they hold '
          f'{", ".join(effect)}.')
    if len(effect) - len(_HELD_OUT.value) < 3:
      raise results_lib.ResultsError(
          f'{_METHOD.value!r} and the baseline share {len(effect)} datasets, '
          f'{len(_HELD_OUT.value)} of them held out; a rule learned over '
          'datasets needs 3 or more to learn from.')
    options = data.Options(progress=False)
    props = {d: properties(data.load_dataset(_DATA_DIR.value, d, options))
             for d in effect}
  except (errors.LstsaugError, OSError) as e:
    raise SystemExit(f'error: {e}') from None
  result = analyse(effect, props, _ROUNDS.value,
                   held_out=tuple(_HELD_OUT.value), sides=tuple(_SIDES.value))
  # --out is summarize's flag, defined when it is imported: the same
  # folder, so prior.md can sit beside the summary of the same CSVs.
  out = summarize.OUT.value or results_lib.outputs(argv[1])['summary']
  os.makedirs(out, exist_ok=True)
  text = markdown(result, _METHOD.value)
  files.atomic_write(os.path.join(out, 'prior.md'), text)
  files.atomic_write(os.path.join(out, 'prior.json'),
                     json.dumps(dict(method=_METHOD.value, **result),
                                indent=2) + '\n')
  print(text)
  print(f'written: {os.path.join(out, "prior.md")}, prior.json')


if __name__ == '__main__':
  app.run(main)
