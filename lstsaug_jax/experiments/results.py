"""The results CSV of a sweep: one row per (dataset, method, seed).

Rows are appended as runs finish (each run's rows in one write, flushed to
disk), so an interrupted sweep keeps every finished run. A rerun reads the
rows back and skips their keys. Every row carries the hash of the config
fields that decide how a run trains; a CSV holds one such protocol only, so
rows trained differently are never mixed in one table.
"""

import csv
import dataclasses
import hashlib
import io
import json
import os

COLUMNS = (
    'dataset', 'method', 'noise', 'num_samples', 'seed',
    'accuracy', 'weighted_f1', 'evaluated_on', 'train_size', 'eval_size',
    'epochs', 'selected_epoch', 'model_selection', 'batch_size', 'arch',
    'wall_time_s', 'vae_wall_time_s', 'program_seeds', 'config_hash',
    'version')
KEY = ('dataset', 'method', 'noise', 'num_samples', 'seed')
BASELINE = 'baseline'
LSTSAUG = 'lstsaug'

# Fields that do not change what a run computes (where it reads and writes,
# what it shows, how it is spread over devices), or that are columns of
# each row (dataset, seed, noise, num_samples), or that list the sweep.
# conv_impl: its choices give the same results up to rounding.
UNHASHED = frozenset((
    'dataset', 'seed', 'num_seeds', 'noise', 'num_samples', 'sweep',
    'data_dir', 'download', 'download_url', 'download_timeout', 'model_dir',
    'results_dir', 'checkpoint_path', 'baseline', 'test_augment',
    'use_trained', 'augment_plot', 'plot_neighbours', 'wandb',
    'wandb_project', 'eval_every', 'eval_batch_size', 'progress',
    'num_devices', 'distributed', 'coordinator_address', 'num_processes',
    'process_id', 'compilation_cache_dir', 'classifier.conv_impl'))


class ResultsError(ValueError):
  """A results CSV that cannot be read or extended as asked."""


@dataclasses.dataclass(frozen=True)
class Method:
  """The baseline, or latent augmentation at one (noise, num_samples)."""

  name: str
  noise: float | None = None
  num_samples: int | None = None

  @property
  def label(self):
    if self.name == BASELINE:
      return BASELINE
    return f'{self.name} noise={self.noise:g} n={self.num_samples}'

  @property
  def stage(self):
    """A name for logs and file names."""
    if self.name == BASELINE:
      return BASELINE
    return f'{self.name}-noise{self.noise:g}-n{self.num_samples}'

  def key(self, dataset, seed):
    return (dataset, self.name,
            '' if self.noise is None else repr(float(self.noise)),
            '' if self.num_samples is None else str(int(self.num_samples)),
            str(int(seed)))


def outputs(csv_path):
  """Paths beside the CSV: VAE checkpoints, per-run metrics, the summary."""
  stem = os.path.splitext(os.path.abspath(csv_path))[0]
  return dict(vaes=stem + '.vaes', runs=stem + '.runs',
              summary=stem + '.summary')


def row_key(row):
  return tuple(row[k] for k in KEY)


def protocol(config):
  """The config fields that decide how each run trains (a flat dict)."""
  flat = {}

  def walk(prefix, d):
    for k, v in d.items():
      name = f'{prefix}{k}'
      if name in UNHASHED:
        continue
      if isinstance(v, dict):
        walk(name + '.', v)
      else:
        flat[name] = list(v) if isinstance(v, tuple) else v
  walk('', config.to_dict())
  return flat


def config_hash(proto):
  text = json.dumps(proto, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:12]


def format_value(value):
  """Floats as repr (round-trips exactly); others as str."""
  if isinstance(value, float):
    return repr(value)
  return '' if value is None else str(value)


class ResultsFile:
  """Reads an existing results CSV (repairing a torn last line) and appends
  rows to it."""

  def __init__(self, path):
    self.path = os.path.abspath(path)
    self.protocol_path = self.path + '.protocol.json'
    self.rows = read_rows(self.path, repair=True)
    self.keys = {row_key(r) for r in self.rows}

  def check_protocol(self, digest, proto):
    """Refuses to mix rows of another protocol into this CSV."""
    others = sorted({r['config_hash'] for r in self.rows} - {digest})
    if not others:
      return
    known = {}
    if os.path.exists(self.protocol_path):
      with open(self.protocol_path) as f:
        known = json.load(f)
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
    known = {}
    if os.path.exists(self.protocol_path):
      with open(self.protocol_path) as f:
        known = json.load(f)
    if known.get(digest) == proto:
      return
    known[digest] = proto
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    tmp = self.protocol_path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(known, f, indent=2, sort_keys=True, default=str)
      f.write('\n')
    os.replace(tmp, self.protocol_path)

  def __contains__(self, key):
    return key in self.keys

  def append(self, rows):
    """Appends rows in one write and flushes them to disk."""
    rows = [{k: format_value(r[k]) for k in COLUMNS} for r in rows]
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator='\n')
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
    print(f'{path}: dropping an incomplete last line (an interrupted '
          'write); its run will be redone.')
    with open(path, 'r+b') as f:
      f.truncate(cut)
    content = content[:cut]
  if not content:
    return []
  reader = csv.DictReader(io.StringIO(content.decode()))
  if tuple(reader.fieldnames or ()) != COLUMNS:
    raise ResultsError(
        f'{path} is not a results CSV of this version: its header is '
        f'{reader.fieldnames}, expected {list(COLUMNS)}. Point '
        '--config.sweep.results_csv at a new file (or at one this version '
        'wrote).')
  rows = list(reader)
  for i, row in enumerate(rows, start=2):
    if None in row or any(row[k] is None for k in COLUMNS):
      raise ResultsError(f'{path}, line {i}: expected {len(COLUMNS)} '
                         'comma-separated fields. Delete the line (its run '
                         'will be redone) and run again.')
  return rows
