"""How many programs a sweep compiles, with and without shape buckets.

  python benchmarks/sweep_programs.py --config=configs/experiments/sweep.py:fawaz2019 \
      --data_dir=../shared/data --json=OUT.json

Runs the sweep config once per --buckets setting, every stage at one epoch
(the programs are those of the full sweep: epochs are a loop count, not a
shape), each setting in a fresh process-wide state with its own empty
persistent compilation cache (as a sweep has one), and counts the programs
built, those read back from the cache and those compiled, with the seconds
spent tracing, lowering and compiling (reporting.CompileLog). Then it
compares the settings' results row by row: the accuracies of each dataset,
method and seed (after one epoch) and how many agree.
"""

import importlib.util
import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags
import jax
import numpy as np

# Run as a script from the repository's root: its packages come first.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from lstsaug_jax import files
from lstsaug_jax import buckets
from lstsaug_jax import data
from lstsaug_jax import programs
from lstsaug_jax import reporting
from lstsaug_jax.experiments import results as results_lib
from lstsaug_jax.experiments import runner

_CONFIG = flags.DEFINE_string('config', 'configs/experiments/sweep.py:fawaz2019',
                              'A sweep config file.')
_DATA_DIR = flags.DEFINE_string('data_dir', '../shared/data',
                                'Archive folder.')
_DATASETS = flags.DEFINE_list('datasets', None,
                              "The config's datasets if unset.")
_BUCKETS = flags.DEFINE_list('buckets', ['off', 'on'],
                             'shape_buckets settings to compare.')
_JSON = flags.DEFINE_string('json', None, 'Write the results here too.')


def load_config(path):
  spec = importlib.util.spec_from_file_location('sweep_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def count(setting, folder):
  config = load_config(_CONFIG.value)
  config.data_dir = _DATA_DIR.value
  if _DATASETS.value:
    config.sweep.datasets = tuple(_DATASETS.value)
  config.num_epochs = 1
  config.classifier.num_epochs = 1
  config.classifier.min_steps = 0
  config.progress = False
  config.shape_buckets = setting
  config.sweep.summarize = False
  config.sweep.anchors = ''
  config.sweep.results_csv = os.path.join(folder, f'{setting}.csv')
  jax.clear_caches()
  jax.config.update('jax_compilation_cache_dir',
                    os.path.join(folder, f'xla-{setting}'))
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)
  start = time.perf_counter()
  with reporting.CompileLog() as log:
    runner.run_sweep(config)
  summary = dict(log.summary(), wall_s=round(time.perf_counter() - start, 2),
                 datasets=len(config.sweep.datasets),
                 methods=len(runner.methods(config)),
                 seeds=config.num_seeds)
  rows = {(r['dataset'], r['method'], r['settings'], r['seed']): float(
      r['accuracy']) for r in results_lib.ResultsFile(
          config.sweep.results_csv).rows}
  return summary, rows


def padded_work(config):
  """Over the datasets, the arithmetic of a bucketed training step against
  an unpadded one (rows x length, summed over each stage's real steps), for
  the baseline (n series) and a fixed set twice as large (n + n synthetic,
  as latent's default makes)."""
  padded = unpadded = 0
  for name in config.sweep.datasets:
    c = runner.dataset_config(config, name)
    dataset = data.load(c)
    n = dataset.x_train.shape[0]
    for size in (n, 2 * n):
      batch = programs.classifier_plan(c, n, size).batch_size
      shapes = buckets.classifier_shapes(
          dataset.series_length, dataset.num_classes, batch, size,
          dataset.x_test.shape[0], c.eval_batch_size)
      steps = -(-size // batch)
      padded += steps * shapes.batch_rows * shapes.length
      unpadded += size * dataset.series_length
  return padded / unpadded


def main(argv):
  del argv
  report = dict(machine=reporting.machine(), config=_CONFIG.value,
                settings={})
  config = load_config(_CONFIG.value)
  config.data_dir = _DATA_DIR.value
  if _DATASETS.value:
    config.sweep.datasets = tuple(_DATASETS.value)
  report['padded_work'] = round(padded_work(config), 3)
  print('bucketed steps do', report['padded_work'],
        'times the arithmetic of unpadded ones', flush=True)
  accuracies = {}
  with tempfile.TemporaryDirectory() as folder:
    for setting in _BUCKETS.value:
      report['settings'][setting], accuracies[setting] = count(setting,
                                                               folder)
      print(setting, json.dumps(report['settings'][setting]), flush=True)
      if _JSON.value:  # after each setting: a long run keeps what it has
        files.atomic_write(_JSON.value, json.dumps(report, indent=1) + '\n')
  if len(accuracies) == 2:
    a, b = accuracies.values()
    diffs = np.array([abs(a[k] - b[k]) for k in a])
    report['same_rows'] = dict(rows=len(diffs), identical=int(np.sum(
        diffs == 0)), max_abs_difference=float(diffs.max()))
    print('accuracy per row:', json.dumps(report['same_rows']))
    counts = [report['settings'][s]['compiled'] for s in _BUCKETS.value]
    print(f'compiled programs: {counts[0]} -> {counts[1]} '
          f'({counts[0] / max(counts[1], 1):.2f}x fewer)')
  if _JSON.value:
    files.atomic_write(_JSON.value, json.dumps(report, indent=1) + '\n')


if __name__ == '__main__':
  app.run(main)
