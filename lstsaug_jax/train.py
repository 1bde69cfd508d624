"""Pure training functions for the VAE and the classifiers.

Training state is an explicit pytree passed into and returned from jitted
functions. A whole epoch (shuffle and every batch) is one compiled call: the
training set stays on the device, batches are gathered inside a `lax.scan`,
and the last partial batch is padded and masked so every epoch has one shape.
"""

import functools
import math
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax import contrib as optax_contrib


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


def current_learning_rate(opt_state, learning_rate):
  """The learning rate in force, reading the plateau scale if there is one."""
  for s in jax.tree_util.tree_leaves(
      opt_state, is_leaf=lambda x: isinstance(
          x, optax_contrib.ReduceLROnPlateauState)):
    if isinstance(s, optax_contrib.ReduceLROnPlateauState):
      return learning_rate * s.scale
  return jnp.asarray(learning_rate)


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
  return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


def masked_mean(values, mask):
  return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


# --- VAE ---------------------------------------------------------------------


def vae_loss_terms(model, params, x, y, mask, key):
  """Per-batch loss terms, each summed over the (unpadded) batch.

  reconstruction: sum of squared errors; kl: KL(q(z|x) || N(0, I));
  cross_entropy: mean over the batch (the original's nn.CrossEntropyLoss).
  """
  recon, mean, logvar, logits = model.apply({'params': params}, x, key)
  reconstruction = jnp.sum(mask * jnp.sum((recon - x) ** 2, axis=-1))
  kl = jnp.sum(mask * -0.5 * jnp.sum(
      1.0 + logvar - mean ** 2 - jnp.exp(logvar), axis=-1))
  ce = masked_mean(cross_entropy(logits, y), mask)
  return dict(loss=reconstruction + kl + ce, reconstruction=reconstruction,
              kl=kl, cross_entropy=ce)


def vae_train_step(model, tx, state, x, y, mask, key):
  def loss_fn(params):
    terms = vae_loss_terms(model, params, x, y, mask, key)
    return terms['loss'], terms
  grads, terms = jax.grad(loss_fn, has_aux=True)(state.params)
  return apply_gradients(state, tx, grads, terms['loss']), terms


# --- Classifier --------------------------------------------------------------


def classifier_train_step(model, tx, state, x, y, mask, key):
  del key  # the ResNets are deterministic given the batch
  def loss_fn(params):
    logits, updates = model.apply(
        {'params': params, 'batch_stats': state.batch_stats}, x, train=True,
        mask=mask, mutable=['batch_stats'])
    loss = masked_mean(cross_entropy(logits, y), mask)
    correct = jnp.sum(mask * (jnp.argmax(logits, -1) == y))
    return loss, (updates['batch_stats'], correct)
  (loss, (batch_stats, correct)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  state = apply_gradients(state, tx, grads, loss, batch_stats)
  return state, dict(loss=loss, correct=correct)


# --- Epochs ------------------------------------------------------------------


def batch_indices(key, num_examples, batch_size):
  """A shuffled epoch as (steps, batch_size) indices and a validity mask."""
  steps = steps_per_epoch(num_examples, batch_size)
  padding = steps * batch_size - num_examples
  order = jax.random.permutation(key, num_examples)
  indices = jnp.concatenate([order, jnp.zeros(padding, order.dtype)])
  mask = jnp.concatenate([jnp.ones(num_examples, jnp.float32),
                          jnp.zeros(padding, jnp.float32)])
  return (indices.reshape(steps, batch_size),
          mask.reshape(steps, batch_size))


def run_epoch(train_step, batch_size, state, x, y, key):
  """One epoch of `train_step` over a shuffle of (x, y); returns the mean
  of each per-step metric, except `correct`, which is summed."""
  shuffle_key, step_key = jax.random.split(key)
  indices, mask = batch_indices(shuffle_key, x.shape[0], batch_size)
  step_keys = jax.random.split(step_key, indices.shape[0])

  def body(state, batch):
    idx, m, k = batch
    return train_step(state, x[idx], y[idx], m, k)

  state, metrics = jax.lax.scan(body, state, (indices, mask, step_keys))
  summary = {k: jnp.sum(v) if k == 'correct' else jnp.mean(v)
             for k, v in metrics.items()}
  return state, summary


def make_epoch_fn(train_step, model, tx, batch_size):
  """A jitted `(state, x, y, key) -> (state, metrics)` for whole epochs."""
  step = functools.partial(train_step, model, tx)
  return jax.jit(functools.partial(run_epoch, step, batch_size),
                 donate_argnums=0)


# --- Evaluation --------------------------------------------------------------


@functools.partial(jax.jit, static_argnums=0)
def _classifier_logits(model, variables, x):
  return model.apply(variables, x, train=False)


def predict(model, state, x, batch_size=512):
  """Class predictions for x (numpy or device array), batched, one shape."""
  variables = {'params': state.params, 'batch_stats': state.batch_stats}
  n = x.shape[0]
  batch_size = min(batch_size, n)
  padded = steps_per_epoch(n, batch_size) * batch_size
  x = jnp.concatenate([jnp.asarray(x),
                       jnp.zeros((padded - n,) + x.shape[1:], x.dtype)])
  preds = [jnp.argmax(_classifier_logits(model, variables,
                                         x[i:i + batch_size]), -1)
           for i in range(0, padded, batch_size)]
  return np.asarray(jnp.concatenate(preds)[:n])


# --- The epoch loop ----------------------------------------------------------


def fit(epoch_fn, state, x, y, key, num_epochs, *, desc, learning_rate,
        on_epoch=None, evaluate=None, eval_every=0, progress=True):
  """Runs `num_epochs` epochs; returns the final state.

  Epoch e's metrics are read back while epoch e+1 runs, so the host never
  stalls the device to draw the progress bar. `on_epoch(record)` receives
  one dict per epoch; `evaluate(state)` (a dict of test metrics) runs every
  `eval_every` epochs and is only logged, never used to pick a model.
  """
  from tqdm import auto as tqdm  # pylint: disable=g-import-not-at-top

  x, y = jnp.asarray(x), jnp.asarray(y)
  bar = tqdm.tqdm(total=num_epochs, desc=desc, unit='epoch',
                  disable=not progress, dynamic_ncols=True)
  pending = None

  def record(epoch, metrics, lr, extra):
    metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
    if 'correct' in metrics:
      metrics['train_accuracy'] = metrics.pop('correct') / x.shape[0]
    row = dict(epoch=epoch + 1, **metrics, learning_rate=float(lr), **extra)
    bar.set_postfix(loss=f'{metrics["loss"]:.4g}', refresh=False)
    bar.update(1)
    if on_epoch is not None:
      on_epoch(row)

  for epoch in range(num_epochs):
    state, metrics = epoch_fn(state, x, y, jax.random.fold_in(key, epoch))
    lr = current_learning_rate(state.opt_state, learning_rate)
    extra = {}
    if evaluate is not None and eval_every and (epoch + 1) % eval_every == 0:
      extra = evaluate(state)
    if pending is not None:
      record(*pending)
    pending = (epoch, metrics, lr, extra)
  if pending is not None:
    record(*pending)
  bar.close()
  return state
