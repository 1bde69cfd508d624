"""Pure training functions for the VAE and the classifiers.

Training state is an explicit pytree passed into and returned from jitted
functions. A whole epoch (shuffle and every batch) is one compiled call: the
training set stays on the device, batches are gathered inside a `lax.scan`,
and the last partial batch follows at its own static shape, so each stage
compiles once and trains on every example without computing on padding.
"""

import dataclasses
import functools
import math
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax import contrib as optax_contrib

from lstsaug_jax import buckets


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any


def create_optimizer(learning_rate, steps_per_epoch, plateau_factor=1.0,
                     plateau_patience=0, min_learning_rate=0.0):
  """Adam, optionally scaled down when the epoch loss plateaus.

  The plateau rule sees the mean batch loss of each whole epoch (as the
  original's ReduceLROnPlateau stepped on the epoch loss).
  """
  if plateau_factor >= 1.0:
    return optax.adam(learning_rate)
  return optax.chain(
      optax.adam(learning_rate),
      optax_contrib.reduce_on_plateau(
          factor=plateau_factor, patience=plateau_patience,
          accumulation_size=steps_per_epoch,
          min_scale=min_learning_rate / learning_rate))


def learning_rate_scale(opt_state):
  """The plateau rule's current factor on the learning rate (1 without it)."""
  for s in jax.tree_util.tree_leaves(
      opt_state, is_leaf=lambda x: isinstance(
          x, optax_contrib.ReduceLROnPlateauState)):
    if isinstance(s, optax_contrib.ReduceLROnPlateauState):
      return s.scale
  return jnp.ones(())


def steps_per_epoch(num_examples, batch_size):
  return math.ceil(num_examples / batch_size)


def init_state(model, tx, key, sample_input, *init_args):
  variables = model.init(key, sample_input, *init_args)
  params = variables['params']
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    batch_stats=variables.get('batch_stats', {}),
                    opt_state=tx.init(params))


def apply_gradients(state, tx, grads, loss, batch_stats=None):
  updates, opt_state = tx.update(grads, state.opt_state, state.params,
                                 value=loss)
  return state.replace(
      step=state.step + 1, params=optax.apply_updates(state.params, updates),
      opt_state=opt_state,
      batch_stats=state.batch_stats if batch_stats is None else batch_stats)


def cross_entropy(logits, labels):
  """Integer labels (n,), or class probabilities (n, C): one-hot, or soft
  (mixup)."""
  if labels.ndim == logits.ndim:
    return optax.softmax_cross_entropy(logits, labels)
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def masked_mean(values, weights):
  """The weighted mean of values; weight 0 marks padding."""
  return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1e-12)


# --- VAE ---------------------------------------------------------------------


def contrastive(mean, y, mask):
  """Over the batch's pairs: the squared distance of same-class encoder
  means, and relu(1 - distance)^2 of different-class ones (Hadsell et al.
  2006); the mean over the (unpadded) pairs."""
  d2 = jnp.sum((mean[:, None] - mean[None]) ** 2, axis=-1)
  d = jnp.sqrt(d2 + 1e-12)
  same = (y[:, None] == y[None]).astype(mean.dtype)
  pair = mask[:, None] * mask[None] * (1.0 - jnp.eye(len(y)))
  terms = same * d2 + (1.0 - same) * jax.nn.relu(1.0 - d) ** 2
  return jnp.sum(pair * terms) / jnp.maximum(jnp.sum(pair), 1.0)


def vae_loss_terms(model, params, x, y, mask, key, beta=1.0,
                   contrastive_weight=0.0, length=None, num_classes=None):
  """Per-batch loss terms, each summed over the (unpadded) batch.

  reconstruction: sum of squared errors; kl: KL(q(z|x) || N(0, I)), weighted
  by beta in the loss; cross_entropy: mean over the batch (the original's
  nn.CrossEntropyLoss); contrastive (with a weight): see `contrastive`.
  length and num_classes: the series' unpadded length and the head's
  unpadded classes, when padded (see buckets).
  """
  recon, mean, logvar, logits = model.apply({'params': params}, x, key)
  squared = (recon - x) ** 2
  if length is not None:
    squared = squared * (jnp.arange(x.shape[-1]) < length)
  reconstruction = jnp.sum(mask * jnp.sum(squared,
                                          axis=tuple(range(1, x.ndim))))
  kl = jnp.sum(mask * -0.5 * jnp.sum(
      1.0 + logvar - mean ** 2 - jnp.exp(logvar), axis=-1))
  ce = masked_mean(cross_entropy(mask_classes(logits, num_classes), y), mask)
  terms = dict(reconstruction=reconstruction, kl=kl, cross_entropy=ce)
  loss = reconstruction + beta * kl + ce
  if contrastive_weight:
    terms['contrastive'] = contrastive(mean, y, mask)
    loss = loss + contrastive_weight * terms['contrastive']
  return dict(loss=loss, **terms)


def vae_train_step(model, tx, state, x, y, weights, key, beta=1.0,
                   contrastive_weight=0.0, length=None, num_classes=None):
  """weights: 1 for a series, 0 for padding."""
  def loss_fn(params):
    terms = vae_loss_terms(model, params, x, y, weights, key, beta,
                           contrastive_weight, length, num_classes)
    return terms['loss'], terms
  grads, terms = jax.grad(loss_fn, has_aux=True)(state.params)
  return apply_gradients(state, tx, grads, terms['loss']), terms


# --- Classifier --------------------------------------------------------------


def mask_classes(logits, num_classes):
  """Logits of a class head padded past num_classes (None: not padded),
  with the padded classes' set so low that their probability is exactly 0
  (finite, so a label's 0 times its log-probability stays 0)."""
  if num_classes is None:
    return logits
  valid = jnp.arange(logits.shape[-1]) < num_classes
  return jnp.where(valid, logits, -1e9)


def classifier_train_step(model, tx, state, x, y, weights, key, length=None,
                          num_classes=None):
  """y: integer labels or class probabilities; weights: each series' loss
  weight (synthetic_weight for synthetic series, 0 for padding, which also
  stays out of the BatchNorm statistics). length and num_classes: the
  series' unpadded length and the head's unpadded classes, when padded
  (see buckets)."""
  del key  # the ResNets are deterministic given the batch
  def loss_fn(params):
    logits, updates = model.apply(
        {'params': params, 'batch_stats': state.batch_stats}, x, train=True,
        mask=weights > 0, length=length, mutable=['batch_stats'])
    logits = mask_classes(logits, num_classes)
    loss = masked_mean(cross_entropy(logits, y), weights)
    labels = jnp.argmax(y, -1) if y.ndim == logits.ndim else y
    correct = jnp.sum((weights > 0) * (jnp.argmax(logits, -1) == labels))
    return loss, (updates['batch_stats'], correct)
  (loss, (batch_stats, correct)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  state = apply_gradients(state, tx, grads, loss, batch_stats)
  return state, dict(loss=loss, correct=correct)


# --- Epochs ------------------------------------------------------------------


def epoch_batches(key, num_examples, batch_size, multiple=1):
  """A shuffled epoch: the full batches as (steps, batch_size) indices, then
  the remainder (None if there is none) as one smaller batch of its own
  static shape, padded only up to a multiple of the data-parallel device
  count, with its validity mask. Every example is used once: the last
  partial batch is trained on, and no compute is spent on padding."""
  full = num_examples // batch_size
  remainder = num_examples - full * batch_size
  order = jax.random.permutation(key, num_examples)
  full_indices = order[:full * batch_size].reshape(full, batch_size)
  if not remainder:
    return full_indices, None, None
  size = -(-remainder // multiple) * multiple
  last = jnp.concatenate([order[full * batch_size:],
                          jnp.zeros(size - remainder, order.dtype)])
  mask = (jnp.arange(size) < remainder).astype(jnp.float32)
  return full_indices, last, mask


@dataclasses.dataclass(frozen=True)
class Online:
  """Augmentation inside the compiled epoch: in every batch, the first
  round(share * batch) series (a random subset: the batch is a shuffle) are
  replaced by `method`'s synthetic versions of them, with loss weight
  `weight` times the method's own acceptance weight."""

  method: Any
  share: float = 0.5
  weight: float = 1.0


def online_batch(online, aug_state, key, x, y, w):
  """The batch with its first round(share * size) series made synthetic."""
  r = int(round(online.share * x.shape[0]))
  if not r:
    return x, y, w
  xs, ys, accept = online.method.sample(aug_state, key, x[:r], y[:r])
  return (jnp.concatenate([xs.astype(x.dtype), x[r:]]),
          jnp.concatenate([ys.astype(y.dtype), y[r:]]),
          jnp.concatenate([w[:r] * online.weight * accept, w[r:]]))


def run_epoch(train_step, batch_size, batch_sharding, unroll, online, state,
              x, y, key, epoch, w=None, aug_state=None):
  """One epoch of `train_step` over a shuffle of (x, y) with per-series loss
  weights w (default 1); returns the mean of each per-step metric, except
  `correct`, which is summed."""
  shuffle_key, step_key = jax.random.split(jax.random.fold_in(key, epoch))
  multiple = batch_sharding.mesh.size if batch_sharding is not None else 1
  full, last, last_mask = epoch_batches(shuffle_key, x.shape[0], batch_size,
                                        multiple)
  step_keys = jax.random.split(step_key, full.shape[0] + (last is not None))
  if w is None:
    w = jnp.ones(x.shape[:1], jnp.float32)

  def body(state, batch):
    idx, m, k = batch
    xb, yb, wb = x[idx], y[idx], w[idx] * m
    if online is not None:
      k, aug_key = jax.random.split(k)
      xb, yb, wb = online_batch(online, aug_state, aug_key, xb, yb, wb)
    if batch_sharding is not None:
      # Data parallelism: each device takes a slice of the batch; XLA
      # all-reduces gradients and BatchNorm statistics.
      xb, yb, wb = (jax.lax.with_sharding_constraint(a, batch_sharding)
                    for a in (xb, yb, wb))
    return train_step(state, xb, yb, wb, k)

  per_step = []
  ones = jnp.ones(full.shape[1:], jnp.float32)
  if unroll is True:
    # Straight-line code: lax.scan keeps a one-trip loop even when fully
    # unrolled, and XLA:CPU's native convolutions are slow in any loop.
    for i in range(full.shape[0]):
      state, metrics = body(state, (full[i], ones, step_keys[i]))
      per_step.append(jax.tree_util.tree_map(lambda v: v[None], metrics))
  elif full.shape[0]:
    state, metrics = jax.lax.scan(
        body, state, (full, jnp.broadcast_to(ones, full.shape),
                      step_keys[:full.shape[0]]), unroll=unroll)
    per_step.append(metrics)
  if last is not None:
    state, metrics = body(state, (last, last_mask, step_keys[-1]))
    per_step.append(jax.tree_util.tree_map(lambda v: v[None], metrics))
  metrics = jax.tree_util.tree_map(lambda *v: jnp.concatenate(v), *per_step)
  summary = {k: jnp.sum(v) if k == 'correct' else jnp.mean(v)
             for k, v in metrics.items()}
  summary['learning_rate_scale'] = learning_rate_scale(state.opt_state)
  return state, summary


def epoch_batch_size(batch_size, multiple=1):
  """batch_size rounded up to a multiple of the data-parallel device count."""
  return -(-batch_size // multiple) * multiple


def make_epoch_fn(train_step, model, tx, batch_size, *, per_seed_x=False,
                  batch_sharding=None, unroll=1, online=None):
  """A jitted `(states, x, y, keys, epoch, w=None, aug_states=None) ->
  (states, metrics)`.

  `states` and `keys` carry a leading seed axis: K independent models train
  in one vmapped program (K=1 included: one code path). x, y and w (loss
  weights) are shared by all seeds; with per_seed_x, they have a leading
  seed axis (each seed's augmented set). With `online` (an Online),
  aug_states (seed axis first) are its method's fitted states.
  unroll is lax.scan's over the full batches (see conv_plan).
  """
  step = functools.partial(train_step, model, tx)
  epoch = functools.partial(run_epoch, step, batch_size, batch_sharding,
                            unroll, online)
  data = 0 if per_seed_x else None
  compiled = jax.jit(jax.vmap(epoch, in_axes=(0, data, data, 0, None, data,
                                              0)), donate_argnums=0)

  def epoch_fn(states, x, y, keys, epoch, w=None, aug_states=None):
    return compiled(states, x, y, keys, epoch, w, aug_states)
  epoch_fn.jitted = compiled  # for .lower() (benchmark, cost analysis)
  return epoch_fn


def padded_shuffle(key, num_examples, size):
  """jax.random.permutation(key, num_examples), then num_examples .. size-1,
  for a traced num_examples: the first num_examples indices are the
  unpadded shuffle's. (Random bits are drawn per element index, so the
  first n of `size` bits are those of n; the padding sorts last, stably.)
  The caller makes sure both sizes take the same sorting rounds
  (buckets.shuffle_rounds)."""
  order = jnp.arange(size)
  padding = order >= num_examples
  for _ in range(buckets.shuffle_rounds(size)):
    key, subkey = jax.random.split(key)
    bits = jax.random.bits(subkey, (size,), jnp.uint32)
    bits = jnp.where(padding, jnp.uint32(np.iinfo(np.uint32).max), bits)
    _, order = jax.lax.sort_key_val(bits, order)
  return order


def run_padded_epoch(train_step, make_tx, batch_rows, steps, batch_sharding,
                     state, x, y, key, epoch, w, sizes):
  """run_epoch at padded shapes (buckets): x, y, w hold `sizes['examples']`
  series padded to steps * batch_rows rows; each of `steps` batches holds
  `sizes['batch']` series padded to batch_rows rows, and the batches past
  the data are skipped. The same shuffle, batches, step keys and metrics
  as run_epoch's (up to float rounding), so one program serves every
  dataset of the bucket."""
  shuffle_key, step_key = jax.random.split(jax.random.fold_in(key, epoch))
  order = padded_shuffle(shuffle_key, sizes['examples'], x.shape[0])
  step_keys = jax.random.split(step_key, steps)
  step = functools.partial(train_step, tx=make_tx(sizes['plateau_steps']),
                           length=sizes['length'],
                           num_classes=sizes['classes'])
  slot = jnp.arange(batch_rows)

  def body(state, batch):
    i, k = batch
    position = i * sizes['batch'] + slot
    valid = (slot < sizes['batch']) & (position < sizes['examples'])
    idx = order[jnp.minimum(position, x.shape[0] - 1)]
    xb, yb, wb = x[idx], y[idx], w[idx] * valid
    if batch_sharding is not None:
      xb, yb, wb = (jax.lax.with_sharding_constraint(a, batch_sharding)
                    for a in (xb, yb, wb))
    run = lambda s: step(state=s, x=xb, y=yb, weights=wb, key=k)
    metrics = jax.eval_shape(run, state)[1]
    skip = lambda s: (s, jax.tree_util.tree_map(
        lambda m: jnp.zeros(m.shape, m.dtype), metrics))
    # The predicate is the same for every seed, so under vmap this stays a
    # branch: a batch past the data costs nothing.
    state, metrics = jax.lax.cond(i * sizes['batch'] < sizes['examples'],
                                  run, skip, state)
    return state, metrics

  state, metrics = jax.lax.scan(body, state, (jnp.arange(steps), step_keys))
  active = (jnp.arange(steps) * sizes['batch'] < sizes['examples']).astype(
      jnp.float32)
  summary = {k: jnp.sum(v * active) if k == 'correct'
             else jnp.sum(v * active) / jnp.sum(active)
             for k, v in metrics.items()}
  summary['learning_rate_scale'] = learning_rate_scale(state.opt_state)
  return state, summary


# Padded epochs by their static shapes, so datasets of a bucket share one
# jitted function (and so its compiled program) within a process.
_PADDED_EPOCHS = {}


def make_padded_epoch_fn(train_step, model, optimizer, shapes, sizes, *,
                         batch_sharding=None, per_seed_x=True,
                         step_settings=()):
  """make_epoch_fn's counterpart at a bucket's shapes (buckets.Shapes):
  `optimizer` is a hashable tuple (learning_rate, plateau_factor,
  plateau_patience, min_learning_rate) and `sizes` the true sizes
  (examples, batch, plateau_steps, length, classes), which the program
  takes as traced values; x, y and the loss weights w (given: 1 per series)
  have a seed axis first with per_seed_x, as make_epoch_fn's. step_settings:
  train_step's keyword settings as hashable (name, value) pairs. The
  returned function has make_epoch_fn's signature."""
  key = (train_step, tuple(step_settings), model, optimizer,
         shapes.batch_rows, shapes.steps, batch_sharding, per_seed_x)
  if key not in _PADDED_EPOCHS:
    learning_rate, factor, patience, min_learning_rate = optimizer
    make_tx = lambda plateau_steps: create_optimizer(
        learning_rate, plateau_steps, factor, patience, min_learning_rate)
    step = functools.partial(train_step, model, **dict(step_settings))
    epoch = functools.partial(run_padded_epoch, step, make_tx,
                              shapes.batch_rows, shapes.steps, batch_sharding)
    data = 0 if per_seed_x else None
    _PADDED_EPOCHS[key] = jax.jit(
        jax.vmap(epoch, in_axes=(0, data, data, 0, None, data, None)),
        donate_argnums=0)
  compiled = _PADDED_EPOCHS[key]
  sizes = {k: np.int32(v) for k, v in sizes.items()}  # no program to convert

  def epoch_fn(states, x, y, keys, epoch, w=None, aug_states=None):
    assert aug_states is None, 'padded epochs take no online augmentation'
    return compiled(states, x, y, keys, epoch, w, sizes)
  epoch_fn.jitted = compiled
  return epoch_fn


# XLA's CPU backend runs a native convolution's weight gradient an order of
# magnitude slower (12x on a GunPoint epoch, README) inside a while loop (a rolled lax.scan) than outside one, but outside one
# it beats our matmul form by ~30% (benchmark: 61% vs 45% of the matmul
# peak). So on CPU, epochs of up to MAX_CPU_UNROLL steps are unrolled and use
# native convolutions; longer ones stay rolled (compile time grows with the
# unrolled length) and use the matmul form. Other backends keep native
# convolutions in a rolled loop.
MAX_CPU_UNROLL = 4
CONV_IMPLS = ('auto', 'matmul', 'xla')


def conv_plan(conv_impl, steps, platform=None, seeds_sharded=False):
  """(convolution implementation, lax.scan unroll) for an epoch of `steps`
  full batches (a last partial batch runs outside the loop).

  With seeds sharded over devices, 'auto' takes the matmul form: XLA's
  partitioning of vmapped native convolutions gave wrong gradients on CPU
  (jaxlib 0.10.2; tests/test_parallel.py catches it).
  """
  platform = platform or jax.default_backend()
  if conv_impl == 'auto' and seeds_sharded:
    conv_impl = 'matmul'
  if conv_impl == 'auto':
    if platform != 'cpu':
      return 'xla', 1
    conv_impl = 'xla' if steps <= MAX_CPU_UNROLL else 'matmul'
  # True: straight-line steps, no loop (see run_epoch).
  unroll = True if (platform == 'cpu' and conv_impl == 'xla'
                    and steps <= MAX_CPU_UNROLL) else 1
  return conv_impl, unroll


def init_states(model, tx, keys, init_args, transform=None):
  """One TrainState per key, stacked on a leading seed axis;
  `init_args(key)` gives the model's init arguments after the key;
  `transform` (optional) maps each initial TrainState (e.g.
  buckets.resize_head)."""
  transform = transform or (lambda state: state)
  # Jitted: run op by op, initialisation compiles every primitive on its own
  # (seconds per stage on a GPU).
  return jax.jit(jax.vmap(
      lambda k: transform(init_state(model, tx, k, *init_args(k)))))(keys)
