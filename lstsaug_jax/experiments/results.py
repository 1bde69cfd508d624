"""The results CSV of a sweep: one row per (dataset, method, seed).

Rows are appended as runs finish (each run's rows in one write, flushed to
disk), so an interrupted sweep keeps every finished run. A rerun reads the
rows back and skips their keys. Every row carries the hash of the config
fields that decide how a run trains; a CSV holds one such protocol only, so
rows trained differently are never mixed in one table.
"""

import csv
import hashlib
import io
import json
import math
import os

from absl import logging

from lstsaug_jax import auto
from lstsaug_jax import configuration
from lstsaug_jax import files
from lstsaug_jax import specs
from lstsaug_jax.errors import LstsaugError
from lstsaug_jax.errors import ResultsError

COLUMNS = (
    'dataset', 'method', 'settings', 'seed',
    'accuracy', 'weighted_f1', 'balanced_accuracy', 'macro_f1',
    'evaluated_on', 'train_size', 'eval_size',
    'epochs', 'steps', 'selected_epoch', 'model_selection', 'batch_size',
    'arch', 'synthetic_accepted', 'vae_r2_train', 'vae_r2_eval', 'vae_kl',
    'vae_active_dims', 'vae_head_accuracy', 'details', 'wall_time_s',
    'vae_wall_time_s', 'program_seeds', 'config_hash', 'version')
# The columns before balanced accuracy and macro F1: such CSVs are read
# (those cells empty) and resumed in their own columns.
PREVIOUS_COLUMNS = tuple(c for c in COLUMNS
                         if c not in ('balanced_accuracy', 'macro_f1'))
METRICS = ('accuracy', 'weighted_f1', 'balanced_accuracy', 'macro_f1')
KEY = ('dataset', 'method', 'settings', 'seed')
BASELINE = 'baseline'
AUTO = 'auto'
# Labels of rows a summary derives from other rows (not methods that ran).
CHOSEN = 'chosen on validation'
BY_CHOICE = ' by its choices'
# The first version's columns: latent augmentation ('lstsaug') at one
# (noise, num_samples). Such CSVs are read (their rows converted to
# method 'latent' with those settings) but not extended.
LEGACY_COLUMNS = (
    'dataset', 'method', 'noise', 'num_samples', 'seed',
    'accuracy', 'weighted_f1', 'evaluated_on', 'train_size', 'eval_size',
    'epochs', 'selected_epoch', 'model_selection', 'batch_size', 'arch',
    'wall_time_s', 'vae_wall_time_s', 'program_seeds', 'config_hash',
    'version')

# Fields that do not change what a run computes (where it reads and writes,
# what it shows, how it is spread over devices), or that are columns of
# each row (dataset, seed, noise, num_samples), or that list the sweep.
# conv_impl: its choices give the same results up to rounding; so does
# deterministic (which GPU kernels run, not what they compute).
UNHASHED = frozenset((
    'dataset', 'seed', 'num_seeds', 'noise', 'num_samples', 'sweep',
    'data_dir', 'download', 'download_url', 'download_timeout', 'model_dir',
    'results_dir', 'checkpoint_path', 'baseline', 'test_augment',
    'use_trained', 'augment_plot', 'export_synthetic', 'plot_neighbours',
    'wandb',
    'wandb_project', 'eval_every', 'eval_batch_size', 'progress',
    'num_devices', 'distributed', 'coordinator_address', 'num_processes',
    'process_id', 'compilation_cache_dir', 'shape_buckets', 'deterministic',
    'classifier.conv_impl',
    'augment'))




def settings_spec(method, settings):
  """A row's method and settings as a spec ('latent(noise=0.1, ...)')."""
  return f'{method}({settings.replace(";", ", ")})' if settings else method


def method_label(method, settings):
  """What tables call a row's method: its name and the settings that
  differ from the defaults."""
  if method == BASELINE:
    return BASELINE
  if method == AUTO:
    return auto.parse(settings_spec(method, settings)).label
  return specs.make_augmentation(settings_spec(method, settings)).label


def outputs(csv_path):
  """Paths beside the CSV: VAE checkpoints, per-run metrics, the summary."""
  stem = os.path.splitext(os.path.abspath(csv_path))[0]
  return dict(vaes=stem + '.vaes', runs=stem + '.runs',
              summary=stem + '.summary')


def row_key(row):
  return tuple(row[k] for k in KEY)


def row_machine(row):
  """The machine a row ran on (reporting.machine_id, kept in its `details`
  JSON), or None for rows written before rows recorded it."""
  try:
    return json.loads(row.get('details') or '{}').get('machine')
  except (json.JSONDecodeError, AttributeError, TypeError):
    return None


# Fields added after results CSVs existed, with the value that means what
# the CSVs were run with: left out of the protocol at that value, so their
# hashes stay valid.
LATER_DEFAULTS = {'vae.arch': 'mlp', 'classifier.average_fraction': 0.25,
                  'classifier.average_batch_stats': 'average',
                  'imbalance_ratio': 0.0, 'shots': 0, 'subsample_seed': -1}
# Fields that change a run only when another field has a value: hashed
# only then (so a new field's default leaves other protocols' hashes).
ONLY_WHEN = {'classifier.average_batch_stats': ('classifier.model_selection',
                                                'average')}


def protocol(config):
  """The config fields that decide how each run trains (a flat dict)."""
  flat = configuration.flatten(config)
  proto = {}
  for name, value in flat.items():
    parts = name.split('.')
    if any('.'.join(parts[:k]) in UNHASHED for k in range(1, len(parts) + 1)):
      continue
    if name in LATER_DEFAULTS and LATER_DEFAULTS[name] == value:
      continue
    other, wanted = ONLY_WHEN.get(name, (None, None))
    if other is not None and flat.get(other) != wanted:
      continue
    proto[name] = list(value) if isinstance(value, tuple) else value
  return proto


def config_hash(proto):
  text = json.dumps(proto, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:12]


def format_value(value):
  """Floats as repr (round-trips exactly); others as str."""
  if isinstance(value, float):
    return repr(value)
  return '' if value is None else str(value)


def read_protocols(csv_path):
  """The protocols a CSV's rows were trained under, by config hash (its
  .protocol.json; {} if it has none)."""
  path = csv_path + '.protocol.json'
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise ResultsError(
          f'{path} is not valid JSON ({e}); it records the protocol of each '
          f'config hash in {csv_path}. Restore it from a copy, or delete it '
          'to have the next sweep write it again.') from None


class Lock:
  """An exclusive lock on a results CSV, held by one sweep at a time
  (files.Lock on CSV.lock)."""

  def __init__(self, csv_path):
    self._lock = files.Lock(csv_path + '.lock', f'the results CSV {csv_path}')
    self.path = self._lock.path

  def acquire(self):
    try:
      self._lock.acquire()
    except files.LockHeld as e:
      raise ResultsError(
          f'{self.path[:-5]} is being written by another sweep '
          f'({e.owner or "owner unknown"}). Two sweeps appending to one CSV '
          'would run and write every row twice: wait for that one to '
          'finish (a rerun then resumes), or give this sweep its own file '
          'with --config.sweep.results_csv=NEW.csv.') from None
    return self

  def release(self):
    self._lock.release()

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()


class ResultsFile:
  """Reads an existing results CSV (repairing a torn last line) and appends
  rows to it. Hold its Lock while doing so."""

  def __init__(self, path):
    self.path = os.path.abspath(path)
    self.protocol_path = self.path + '.protocol.json'
    header = _header(self.path)
    self.legacy = header == LEGACY_COLUMNS
    # A CSV of the previous columns is resumed in them (its rows would
    # otherwise have two widths); a new one gets every metric.
    self.columns = PREVIOUS_COLUMNS if header == PREVIOUS_COLUMNS else COLUMNS
    self.rows = read_rows(self.path, repair=True)
    self.keys = {row_key(r) for r in self.rows}

  def check_protocol(self, digest, proto):
    """Refuses to mix rows of another protocol into this CSV."""
    others = sorted({r['config_hash'] for r in self.rows} - {digest})
    if not others:
      return
    known = read_protocols(self.path)
    diffs = []
    for other in others:
      old = known.get(other)
      if old is None:
        continue
      for field in sorted(set(old) | set(proto)):
        if old.get(field) != proto.get(field):
          diffs.append(f'{field}: {old.get(field)!r} there, '
                       f'{proto.get(field)!r} now')
    detail = ('Fields that differ: ' + '; '.join(diffs) + '. ' if diffs
              else '')
    raise ResultsError(
        f'{self.path} holds rows trained under config hash '
        f'{", ".join(others)}, and this config hashes to {digest}. {detail}'
        'Rows trained differently are never mixed in one CSV: give this '
        'sweep its own file with --config.sweep.results_csv=NEW.csv, or '
        'restore the fields above to resume the existing one.')

  def record_protocol(self, digest, proto):
    known = read_protocols(self.path)
    if known.get(digest) == proto:
      return
    known[digest] = proto
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    files.write_json(self.protocol_path, known)

  def __contains__(self, key):
    return key in self.keys

  def append(self, rows):
    """Appends rows in one write and flushes them to disk."""
    if self.legacy:
      raise ResultsError(
          f'{self.path} was written by the first version (columns noise, '
          'num_samples): summarize reads it, but a sweep cannot add rows of '
          'this version to it. Give this sweep a new file with '
          '--config.sweep.results_csv=NEW.csv.')
    rows = [{k: format_value(r.get(k)) for k in self.columns} for r in rows]
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, self.columns, lineterminator='\n')
    if new:
      writer.writeheader()
    writer.writerows(rows)
    with open(self.path, 'a') as f:
      f.write(buffer.getvalue())
      f.flush()
      os.fsync(f.fileno())
    self.rows.extend(rows)
    self.keys.update(row_key(r) for r in rows)


def read_rows(path, repair=False):
  """The rows of a results CSV as dicts of strings ([] if it is absent).

  A last line without its newline is a row torn by an interrupted write:
  with repair it is cut off (its run is redone), else it is an error.
  """
  if not os.path.exists(path):
    return []
  with open(path, 'rb') as f:
    content = f.read()
  if content and not content.endswith(b'\n'):
    if not repair:
      raise ResultsError(
          f'The last line of {path} is incomplete (an interrupted write). '
          'Resume the sweep, which drops it and redoes that run, or delete '
          'the line.')
    cut = content.rfind(b'\n') + 1
    logging.warning('%s: dropping an incomplete last line (an interrupted '
                    'write); its run will be redone.', path)
    with open(path, 'r+b') as f:
      f.truncate(cut)
    content = content[:cut]
  if not content:
    return []
  reader = csv.DictReader(io.StringIO(content.decode()))
  header = tuple(reader.fieldnames or ())
  if header not in (COLUMNS, PREVIOUS_COLUMNS, LEGACY_COLUMNS):
    raise ResultsError(
        f'{path} is not a results CSV of this version: its header is '
        f'{reader.fieldnames}, expected {list(COLUMNS)}. Point '
        '--config.sweep.results_csv at a new file (or at one this version '
        'wrote).')
  rows = list(reader)
  seen = {}
  for i, row in enumerate(rows, start=2):
    if None in row or None in row.values():
      raise ResultsError(f'{path}, line {i}: expected {len(header)} '
                         'comma-separated fields. Delete the line (its run '
                         'will be redone) and run again.')
  if header == LEGACY_COLUMNS:
    rows = [_from_legacy(r) for r in rows]
  elif header == PREVIOUS_COLUMNS:
    rows = [{k: r.get(k, '') for k in COLUMNS} for r in rows]
  for i, row in enumerate(rows, start=2):
    check_row(path, i, row)
    key = row_key(row)
    if key in seen:
      raise ResultsError(
          f'{path}, lines {seen[key]} and {i}: the same run twice '
          f'({", ".join(f"{k}={v}" for k, v in zip(KEY, key) if v)}); two '
          'sweeps wrote this CSV at once, or rows were copied twice. Keep one '
          'of each (or delete both: the run is redone) and run again.')
    seen[key] = i
  return rows


def _header(path):
  if not os.path.isfile(path):
    return None
  with open(path, newline='') as f:
    return tuple(next(csv.reader(f), ()))


def _from_legacy(row):
  """A first-version row in this version's columns."""
  new = {k: row.get(k, '') for k in COLUMNS}
  if row['method'] == 'lstsaug':
    try:
      new.update(method='latent', settings=specs.make_augmentation(
          f'latent(noise={float(row["noise"])!r}, '
          f'num_samples={int(row["num_samples"])})').key)
    except (ValueError, LstsaugError):
      pass  # check_row names the bad cell
  return new


def _cell_error(path, line, column, value, requirement):
  return ResultsError(f'{path}, line {line}, column {column}: {value!r} is '
                      f'not {requirement}. Fix or delete the line (its run is '
                      'redone by the next sweep).')


def check_row(path, line, row):
  """Every cell of a row parses as its column's type and range."""
  def number(column, low=None, high=None, empty=False, integer=False):
    value = row[column]
    if empty and value == '':
      return
    try:
      v = int(value) if integer else float(value)
    except ValueError:
      v = None
    if v is None or (not integer and not math.isfinite(v)) or (
        low is not None and v < low) or (high is not None and v > high):
      what = 'an integer' if integer else 'a number'
      bounds = (f' in [{low}, {high}]' if high is not None
                else f' >= {low}' if low is not None else '')
      raise _cell_error(path, line, column, value, what + bounds)
  for column in ('accuracy', 'weighted_f1'):
    number(column, 0, 1)
  for column in ('balanced_accuracy', 'macro_f1'):  # empty: an older row
    number(column, 0, 1, empty=True)
  number('seed', 0, integer=True)
  for column in ('train_size', 'eval_size', 'epochs', 'batch_size',
                 'program_seeds'):
    number(column, 1, integer=True)
  number('selected_epoch', 0, integer=True)
  number('steps', 1, integer=True, empty=True)
  number('synthetic_accepted', 0, 1, empty=True)
  try:
    method_label(row['method'], row['settings'])
  except LstsaugError as e:
    raise _cell_error(path, line, 'method', settings_spec(
        row['method'], row['settings']), f'a method of this version ({e})'
                      ) from None
  if not row['dataset']:
    raise _cell_error(path, line, 'dataset', row['dataset'], 'a dataset name')
