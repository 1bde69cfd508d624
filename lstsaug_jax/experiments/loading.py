"""A sweep's results CSVs as one DataFrame, a `label` per method, and the
published accuracies (anchors) to show beside them."""

import os

import numpy as np
import pandas as pd

from lstsaug_jax.experiments import results as results_lib

BASELINE = results_lib.BASELINE
AUTO = results_lib.AUTO
CHOSEN = results_lib.CHOSEN
BY_CHOICE = results_lib.BY_CHOICE
DEFAULT_ANCHOR_COLUMNS = ('resnet_fawaz2019_mean5', 'lstsaug_paper_baseline',
                          'lstsaug_paper_LA')


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
  for column in results_lib.METRICS:
    # astype(float): Python's exact parse (pd.to_numeric's fast one can
    # differ in the last bit, and ranks of tied means with it).
    df[column] = df[column].replace('', 'nan').astype(float)
  labels = {}
  for r in df.itertuples():
    if (r.method, r.settings) not in labels:
      labels[(r.method, r.settings)] = results_lib.method_label(r.method,
                                                                r.settings)
  df['label'] = [labels[(r.method, r.settings)] for r in df.itertuples()]
  return df


def with_metric(df, metric):
  """df with `metric`'s values in the accuracy column, which every table,
  test and plot reads."""
  if metric not in results_lib.METRICS:
    raise results_lib.ResultsError(
        f'metric={metric!r} is not a results column; choose one of '
        f'{list(results_lib.METRICS)}.')
  missing = df[df[metric].isna()]
  if len(missing):
    raise results_lib.ResultsError(
        f'{len(missing)} rows have no {metric} (the first: '
        f'{missing.iloc[0]["dataset"]}, {missing.iloc[0]["label"]}, seed '
        f'{missing.iloc[0]["seed"]}): they were written before the column '
        'was recorded. Summarise them by accuracy, or run them again into '
        'a new CSV.')
  if metric != 'accuracy':
    df = df.assign(accuracy=df[metric])
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
