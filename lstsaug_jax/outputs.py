"""What a run leaves behind, in a new run directory: config.json, the
per-epoch metrics.jsonl (and wandb), the augmentation plot, the exported
synthetic series, predictions.npz and, last, results.json. Process 0 of a
multi-host run writes; the others write nothing."""

import contextlib
import io
import os

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import augment
from lstsaug_jax import data
from lstsaug_jax import files
from lstsaug_jax import formats
from lstsaug_jax import parallel
from lstsaug_jax import plotting
from lstsaug_jax import reporting
from lstsaug_jax.errors import OutputError
from lstsaug_jax.errors import TrainingError


class RunOutputs:
  """A run's directory, its metrics logger, and what it has written so far
  (named in the message if a later write fails). Use as a context manager:
  the logger is closed on the way out."""

  def __init__(self, config):
    self.writer = parallel.is_writer()
    self.run_dir = None
    self.items = []
    if self.writer:
      files.check_writable_dir(config.results_dir, 'results_dir')
      self.run_dir = reporting.make_run_dir(config.results_dir,
                                            config.dataset)
      files.atomic_write(os.path.join(self.run_dir, 'config.json'),
                         config.to_json_best_effort(indent=2, sort_keys=True)
                         + '\n')
      logging.info('Run directory: %s', self.run_dir)
    self.items.append('config.json')
    wandb_run = (reporting.start_wandb(config, self.run_dir)
                 if config.wandb and self.writer else None)
    self.logger = (reporting.MetricsLogger(self.run_dir, wandb_run)
                   if self.writer else reporting.NullLogger())

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.logger.close()

  def add(self, item):
    self.items.append(item)

  def path(self, name):
    return os.path.join(self.run_dir, name)

  @contextlib.contextmanager
  def reporting_failures(self):
    """A training failure or a failed write: the error, then what was
    written (and that results.json was not)."""
    try:
      yield
    except TrainingError as e:
      raise TrainingError(self._failure(e)) from None
    except OSError as e:
      raise OutputError(self._failure(
          e if isinstance(e, OutputError) else
          f'Writing the run\'s outputs failed ({e}).')) from None

  def _failure(self, error):
    records = f'metrics.jsonl ({self.logger.records} whole records)'
    written = [i for i in self.items + [records] if i]
    return (f'{error} Written in {self.run_dir}: {", ".join(written)}. Not '
            'written: results.json (no results are reported for this run).')

  def plot(self, config, dataset, vae, vae_params, keys):
    """augment.png: test series 0 and its decoded latent neighbours."""
    x0 = dataset.x_test[:1]
    first_vae = jax.tree_util.tree_map(lambda a: a[0], vae_params)
    neighbours = augment.latent_neighbours(
        vae, first_vae, jnp.asarray(x0), keys['plot'][0], noise=config.noise,
        num_samples=config.plot_neighbours)
    path = plotting.plot_neighbours(
        self.path('augment.png'), x0[0], np.asarray(neighbours)[:, 0],
        title=f'{config.dataset}: test series 0 and {config.plot_neighbours}'
        f' latent neighbours (noise {config.noise})')
    self.add('augment.png')
    logging.info('Saved the augmentation plot to %s', path)
    return path

  def export(self, dataset, seeds, augmented):
    """Each seed's synthetic training series (not the originals) in the UCR
    layout, labelled by class name (mixup's soft labels by their largest
    class): synthetic/{dataset}_TRAIN.tsv (.ts for several channels),
    under seed{S}/ when there are several seeds. Returns the paths."""
    x_aug, y_aug, w_aug = (np.asarray(a) for a in augmented)
    n = dataset.x_train.shape[0]
    names = np.array(dataset.class_names)
    paths = []
    for k, seed in enumerate(seeds):
      folder = os.path.join(self.run_dir, 'synthetic',
                            *([f'seed{seed}'] if len(seeds) > 1 else []))
      kept = n + np.flatnonzero(w_aug[k, n:] > 0)  # a filter's refusals out
      paths.append(formats.write_split(
          folder, data.file_name(dataset.name), 'TRAIN', x_aug[k, kept],
          names[y_aug[k, kept].argmax(-1)]))
      logging.info('Wrote the synthetic series to %s', paths[-1])
    self.add('synthetic/')
    return paths

  def predictions(self, dataset, predictions):
    """predictions.npz: per stage, each seed's predicted class of every
    evaluation series (class indices into class_names), beside the true
    ones."""
    buffer = io.BytesIO()
    np.savez(buffer, y_true=dataset.y_test, **predictions,
             class_names=np.array(dataset.class_names, dtype=str))
    files.atomic_write(self.path('predictions.npz'), buffer.getvalue())
    self.add('predictions.npz')

  def results(self, results):
    files.write_json(self.path('results.json'), results)
    logging.info('Results written to %s', self.run_dir)


def add_scores(results, prefix, scores):
  """A stage's scores in results.json: mean, std and per-seed accuracy,
  weighted F1, balanced accuracy and macro F1, the selected epochs, and the
  plan trained with."""
  for name in ('accuracy', 'f1', 'balanced_accuracy', 'macro_f1'):
    values = scores[name]
    results[f'{prefix}_{name}'] = float(np.mean(values))
    results[f'{prefix}_{name}_std'] = float(np.std(values))
    results[f'{prefix}_{name}_per_seed'] = [float(v) for v in values]
  results[f'{prefix}_selected_epoch_per_seed'] = scores['selected_epoch']
  for name in ('batch_size', 'num_epochs', 'steps'):
    results[f'{prefix}_{name}'] = scores[name]


@contextlib.contextmanager
def compiles(results, stage):
  """Records the programs a stage builds and what they cost
  (results['compiles'][stage], see reporting.CompileLog)."""
  with reporting.CompileLog() as log:
    yield
  summary = results.setdefault('compiles', {})[stage] = log.summary()
  logging.info('%s: %d programs built (%d from the compilation cache) in '
               '%.2f s of tracing, lowering and compiling.', stage,
               summary['programs'], summary['cache_hits'],
               summary['total_s'])
