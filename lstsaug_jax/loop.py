"""The loop around the compiled epochs: fit (epochs, progress, the NaN
check, which model is reported), predictions, and BatchNorm statistics
recomputed for averaged weights."""

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import buckets
from lstsaug_jax import parallel
from lstsaug_jax import train
from lstsaug_jax.errors import TrainingError


# --- Evaluation --------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=(0, 1))
def _classifier_predictions(model, per_seed, states, x, length=None,
                            num_classes=None):
  def one(state, x):
    variables = {'params': state.params, 'batch_stats': state.batch_stats}
    logits = train.mask_classes(model.apply(variables, x, train=False,
                                      length=length), num_classes)
    return jnp.argmax(logits, -1), jnp.all(jnp.isfinite(logits), axis=-1)
  return jax.vmap(one, in_axes=(0, 0 if per_seed else None))(states, x)


def predict(model, states, x, batch_size=512, desc='classifier',
            shapes=None, length=None, num_classes=None, per_seed=False):
  """Class predictions (seeds, n) of each seed's model, batched, one shape;
  x: the series of all seeds, or with per_seed, each seed's (seed axis
  first).

  With shapes (buckets.Shapes), series of `length` are padded to
  shapes.length and batches to shapes.eval_rows, and the model's head to
  shapes.classes outputs of which num_classes are real (see buckets).
  A model whose outputs are not finite has no predictions worth scoring:
  that is a TrainingError naming `desc`.
  """
  axis = 1 if per_seed else 0
  n = x.shape[axis]
  batch_size = min(batch_size, n) if shapes is None else shapes.eval_rows
  padded = train.steps_per_epoch(n, batch_size) * batch_size
  # Padded on the host: building a program per shape to pad costs more.
  x = np.asarray(parallel.to_host(x))
  if shapes is None:
    dims = ()
  else:
    x = buckets.pad_axis(x, -1, shapes.length)
    dims = (np.int32(length), np.int32(num_classes))
  x = buckets.pad_axis(x, axis, padded)
  preds, finite = zip(*(_classifier_predictions(
      model, per_seed, states, x[(slice(None),) * axis
                                 + (slice(i, i + batch_size),)], *dims)
                        for i in range(0, padded, batch_size)))
  finite = np.concatenate([parallel.to_host(f) for f in finite], axis=1)[:, :n]
  if not finite.all():
    seed, example = np.argwhere(~finite)[0]
    raise TrainingError(
        f'{desc}: the model of seed index {seed} gives NaN or infinite '
        f'outputs (first on evaluation series {example}), so it has no '
        'accuracy to report. Lower the learning rate and train again.')
  return np.concatenate([parallel.to_host(p) for p in preds], axis=1)[:, :n]


# --- The epoch loop ----------------------------------------------------------

# Which model a run reports: the last epoch's; (Fawaz et al. 2019's rule)
# the one whose epoch has the lowest mean training loss; or the average of
# the end-of-epoch weights over the last epochs (Polyak averaging, as in
# stochastic weight averaging, Izmailov et al. 2018), which steadies the
# final model's seed-to-seed spread without choosing anything. All use the
# training data only; test accuracy never selects a model.
MODEL_SELECTIONS = ('final', 'min_train_loss', 'average')


def averaged_epochs(num_epochs, fraction):
  """How many of the last epochs 'average' averages: the last `fraction`
  of them, rounded half up, and at least one."""
  return min(num_epochs, max(1, int(fraction * num_epochs + 0.5)))


@functools.partial(jax.jit, donate_argnums=0)
def _add_to_average(average, states, count):
  """The running mean of the variables: `average` holds `count - 1`
  epochs' mean, `states` the count-th."""
  return jax.tree_util.tree_map(
      lambda mean, new: mean + (new - mean) / count.astype(mean.dtype),
      average, (states.params, states.batch_stats))


@functools.partial(jax.jit, donate_argnums=0)
def _keep_min_loss(best, states, loss, epoch):
  """Per seed, the variables of the lower-loss epoch of `best` and this one
  (a NaN loss never replaces a model)."""
  better = loss < best['loss']
  def pick(new, old):
    return jnp.where(better.reshape(better.shape + (1,) * (new.ndim - 1)),
                     new, old)
  return dict(
      variables=jax.tree_util.tree_map(
          pick, (states.params, states.batch_stats), best['variables']),
      loss=jnp.where(better, loss, best['loss']),
      epoch=jnp.where(better, epoch, best['epoch']))


# The ResNets' BatchNorm momentum (models.py): a running statistic moves by
# (1 - momentum) times the batch's.
BATCH_NORM_MOMENTUM = 0.9
BATCH_STATS = ('average', 'recompute')


@functools.partial(jax.jit, static_argnums=(0, 1))
def _batch_statistics(model, per_seed, states, x, mask, length=None):
  """Per seed, each BatchNorm layer's statistics of one batch, in train
  mode (normalised by the batch's own statistics, as training sees it)."""
  def one(state, x):
    zeros = jax.tree_util.tree_map(jnp.zeros_like, state.batch_stats)
    _, updates = model.apply(
        {'params': state.params, 'batch_stats': zeros}, x, train=True,
        mask=mask, length=length, mutable=['batch_stats'])
    return jax.tree_util.tree_map(lambda v: v / (1 - BATCH_NORM_MOMENTUM),
                                  updates['batch_stats'])
  return jax.vmap(one, in_axes=(0, 0 if per_seed else None))(states, x)


def recompute_batch_stats(model, states, x, batch_size, w=None,
                          length=None):
  """The states with BatchNorm statistics recomputed for their weights on
  the training set x (SWA's bn_update, Izmailov et al. 2018): averaged
  weights are a new network, whose statistics are not the average of the
  statistics of the networks averaged. The training set is read in order
  in batches of batch_size, in train mode; each statistic is the mean over
  the batches of the batch's, weighted by its series. x has a seed axis
  first if x.ndim == 4; w: loss weights, 0 for a series the statistics
  leave out (padding, a refused draw)."""
  x = np.asarray(parallel.to_host(x))
  per_seed = x.ndim == 4
  n = x.shape[1] if per_seed else x.shape[0]
  w = (np.ones(x.shape[:-2], np.float32) if w is None
       else np.asarray(parallel.to_host(w)))
  valid = (w > 0) if per_seed else np.broadcast_to(w > 0, (n,))
  # The mask must be the same for every seed: a row is in if it is in for
  # the first seed (refused draws are where the seeds agree on the rows'
  # layout; their own statistics differ only by which are kept).
  rows = valid[0] if per_seed else valid
  total, count = None, 0.0
  for start in range(0, n, batch_size):
    mask = rows[start:start + batch_size]
    if not mask.any():
      continue
    part = x[:, start:start + batch_size] if per_seed else x[
        start:start + batch_size]
    dims = () if length is None else (np.int32(length),)
    stats = _batch_statistics(model, per_seed, states, part, mask, *dims)
    weight = float(mask.sum())
    total = jax.tree_util.tree_map(
        lambda s: weight * np.asarray(s), stats) if total is None else (
            jax.tree_util.tree_map(lambda t, s: t + weight * np.asarray(s),
                                   total, stats))
    count += weight
  return states.replace(batch_stats=jax.tree_util.tree_map(
      lambda t: (t / count).astype(np.float32), total))


class _Selection:
  """Which variables fit reports (MODEL_SELECTIONS), kept on the device as
  training runs: each seed's lowest-loss epoch's, or the running mean of
  the last epochs'. Buffers are made on the host: op by op, every leaf's
  shape would build a program."""

  def __init__(self, rule, states, num_epochs, average_fraction):
    if rule not in MODEL_SELECTIONS:
      raise ValueError(f'model_selection={rule!r} is not one of '
                       f'{MODEL_SELECTIONS}')
    self.num_epochs = num_epochs
    self.num_seeds = states.step.shape[0]
    self.first_averaged = num_epochs - averaged_epochs(num_epochs,
                                                       average_fraction)
    zeros = lambda: jax.tree_util.tree_map(
        lambda a: np.zeros(a.shape, a.dtype),
        (states.params, states.batch_stats))
    self.best = self.average = None
    if rule == 'average' and num_epochs:
      self.average = zeros()
    if rule == 'min_train_loss' and num_epochs:
      self.best = dict(variables=zeros(),
                       loss=np.full((self.num_seeds,), np.inf, np.float32),
                       epoch=np.zeros((self.num_seeds,), np.int32))

  def update(self, epoch, states, loss):
    if self.best is not None:
      self.best = _keep_min_loss(self.best, states, loss, epoch + 1)
    if self.average is not None and epoch >= self.first_averaged:
      self.average = _add_to_average(
          self.average, states, np.int32(epoch - self.first_averaged + 1))

  def result(self, states):
    """(states with the reported variables, 1-based selected epochs)."""
    last = np.full((self.num_seeds,), self.num_epochs)
    if self.average is not None:
      params, batch_stats = self.average
      return states.replace(params=params, batch_stats=batch_stats), last
    if self.best is None:
      return states, last
    params, batch_stats = self.best['variables']
    return (states.replace(params=params, batch_stats=batch_stats),
            parallel.to_host(self.best['epoch']))


class _Records:
  """Epoch metrics read back to the host: the progress bar, a NaN check,
  and one record per seed and epoch for on_epoch."""

  def __init__(self, num_epochs, desc, learning_rate, on_epoch, progress,
               seeds, num_examples):
    from tqdm import auto as tqdm  # pylint: disable=g-import-not-at-top
    self.bar = tqdm.tqdm(total=num_epochs, desc=desc, unit='epoch',
                         disable=not progress, dynamic_ncols=True)
    self.desc, self.learning_rate, self.on_epoch = desc, learning_rate, on_epoch
    self.seeds, self.num_examples = seeds, num_examples
    self.start = time.perf_counter()

  def check(self, epoch, loss):
    bad = np.flatnonzero(~np.isfinite(loss))
    if len(bad):
      self.bar.close()
      seed = (f'seed {self.seeds[bad[0]]}' if self.seeds is not None
              else f'seed index {bad[0]}')
      raise TrainingError(
          f'{self.desc}: the training loss became {loss[bad[0]]} at epoch '
          f'{epoch + 1} ({seed}), so training stopped and nothing of this '
          'stage was saved or reported. Lower its learning rate, or check '
          'the data for extreme values.')

  def __call__(self, epoch, metrics, extra):
    metrics, extra = parallel.to_host((metrics, extra))
    self.check(epoch, metrics['loss'])
    lr = self.learning_rate * metrics.pop('learning_rate_scale')
    if 'correct' in metrics:
      metrics['train_accuracy'] = metrics.pop('correct') / self.num_examples
    elapsed = time.perf_counter() - self.start  # the first includes compiling
    self.bar.set_postfix(loss=f'{np.mean(metrics["loss"]):.4g}', refresh=False)
    self.bar.update(1)
    if self.on_epoch is None:
      return
    for seed in range(len(lr)):
      self.on_epoch(dict(epoch=epoch + 1, seed_index=seed,
                         **{k: float(v[seed]) for k, v in metrics.items()},
                         learning_rate=float(lr[seed]),
                         **{k: float(v[seed]) for k, v in extra.items()},
                         elapsed_s=round(elapsed, 4)))


def fit(epoch_fn, states, x, y, keys, num_epochs, *, desc, learning_rate,
        on_epoch=None, evaluate=None, eval_every=0, progress=True,
        model_selection='final', average_fraction=0.25, seeds=None, w=None,
        aug_states=None, num_examples=None):
  """Runs `num_epochs` epochs of K seeds' states.

  Epoch e's metrics are read back while epoch e+1 runs, so the host never
  stalls the device to draw the progress bar. `on_epoch(record)` receives
  one dict per seed and epoch; `evaluate(states)` (a dict of per-seed test
  metrics) runs every `eval_every` epochs and is only logged, never used to
  pick a model. A training loss that becomes NaN or infinite stops training
  with a TrainingError naming `desc`, the epoch and the seed (`seeds`, for
  the message), so no such model is ever reported or saved.

  Returns:
    (states, selected_epochs): with model_selection='min_train_loss' the
    states' params and batch_stats are those of each seed's lowest-loss
    epoch; with 'average', the mean of the end-of-epoch params and
    BatchNorm statistics over the last `average_fraction` of the epochs
    (see averaged_epochs). selected_epochs (K,) are 1-based epoch numbers
    (num_epochs for 'final' and 'average').
  """
  selection = _Selection(model_selection, states, num_epochs,
                         average_fraction)
  x, y = (a if isinstance(a, jax.Array) else jax.device_put(a) for a in (x, y))
  if num_examples is None:  # series per epoch, for the train accuracy
    num_examples = x.shape[-3] if x.ndim >= 3 else x.shape[-2]
  record = _Records(num_epochs, desc, learning_rate, on_epoch, progress,
                    seeds, num_examples)
  pending = None
  for epoch in range(num_epochs):
    states, metrics = epoch_fn(states, x, y, keys, epoch, w, aug_states)
    selection.update(epoch, states, metrics['loss'])
    extra = {}
    if evaluate is not None and eval_every and (epoch + 1) % eval_every == 0:
      extra = evaluate(states)
    if pending is not None:
      record(*pending)
    pending = (epoch, metrics, extra)
  if pending is not None:
    record(*pending)
  record.bar.close()
  return selection.result(states)
