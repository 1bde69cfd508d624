"""The stages of the method: train the VAE; train a classifier on the
originals (the baseline) or on the originals and synthetic series (an
augmentation, fixed or on the fly; auto chooses one on the training set
first). Each takes a Context: what every stage of a run shares."""

import dataclasses
import time
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import augment
from lstsaug_jax import auto
from lstsaug_jax import balance
from lstsaug_jax import checkpoint
from lstsaug_jax import data
from lstsaug_jax import diagnostics
from lstsaug_jax import loop
from lstsaug_jax import metrics
from lstsaug_jax import parallel
from lstsaug_jax import programs
from lstsaug_jax import resamplers
from lstsaug_jax import rocket
from lstsaug_jax import train
from lstsaug_jax.errors import AugmentationError
from lstsaug_jax.errors import TrainingError


@dataclasses.dataclass(frozen=True)
class Context:
  """What the stages of a run share: the config, the data, the seeds and
  their key streams (pipeline.seed_keys), where metrics go, how the seeds
  are placed on the devices, and the VAE module (None without one)."""

  config: Any
  dataset: data.Dataset
  seeds: tuple
  keys: dict
  logger: Any
  placement: parallel.Placement = parallel.Placement()
  vae: Any = None  # models.VAE

  def replace(self, **changes):
    return dataclasses.replace(self, **changes)


def one_hot(labels, num_classes):
  """Class probabilities (n, num_classes), float32, made on the host."""
  return np.eye(num_classes, dtype=np.float32)[np.asarray(labels)]


# --- The VAE -----------------------------------------------------------------


def train_vae(ctx):
  """Trains one VAE per seed on the training set; returns their parameters
  (seed axis first)."""
  c, placement = ctx.config, ctx.placement
  x, y = ctx.dataset.x_train, ctx.dataset.y_train
  prog = programs.vae_program(c, ctx.vae, x, y, ctx.keys['vae_init'],
                              placement)
  states, _ = loop.fit(prog.epoch_fn, placement.per_seed(prog.states),
                       *placement.shared((prog.x, prog.y)),
                       placement.per_seed(ctx.keys['vae_train']),
                       c.num_epochs, desc='VAE', learning_rate=c.learning_rate,
                       on_epoch=lambda r: ctx.logger.log('vae', r),
                       progress=c.progress, seeds=ctx.seeds, w=prog.w,
                       num_examples=x.shape[0])
  return prog.unpad(parallel.gathered(states.params))


def vae_stage(ctx, vae_params, ckpt_path, meta, results, written):
  """Trains and saves the VAEs, or reports the restored ones; their
  quality goes into results."""
  start = time.perf_counter()
  if vae_params is not None:
    logging.info('Restored the trained VAE from %s (no VAE training).',
                 ckpt_path)
    results['vae_source'] = 'restored'
  else:
    vae_params = train_vae(ctx)
    if parallel.is_writer():
      saving = time.perf_counter()
      checkpoint.save_vae(ckpt_path, vae_params, meta)
      results['checkpoint_save_s'] = time.perf_counter() - saving
      written.add(f'the VAE checkpoint {ckpt_path}')
      logging.info('Saved the trained VAE to %s (%.2f s)', ckpt_path,
                   results['checkpoint_save_s'])
    results['vae_source'] = 'trained'
  results['wall_time_s']['vae'] = time.perf_counter() - start
  d = ctx.dataset
  quality = diagnostics.vae_quality(ctx.vae, vae_params, d.x_train, d.y_train,
                                    d.x_test, d.y_test,
                                    results['evaluated_on'])
  results['vae_quality'] = dict(diagnostics.summary(quality),
                                per_seed=quality)
  return vae_params


# --- The classifiers ----------------------------------------------------------


def train_classifier(ctx, x, y, stage, train_keys, w=None, online=None,
                     aug_states=None, class_weight=None):
  """Trains one classifier per seed on (x, y) with loss weights w (x, y, w
  with a leading seed axis if x.ndim == 4; y class indices or
  probabilities), from the keys' shared initial weights; with `online`
  (a train.Online), synthetic series are made in every batch from
  aug_states (seed axis first).

  Returns a dict: per seed, `accuracy` and `f1` on the test set of the
  model chosen by classifier.model_selection, its `predictions` and its
  `selected_epoch`; the `num_epochs`, `batch_size` and `steps` trained
  with; the `model` and its trained `states` (seed axis first). With
  classifier.arch='minirocket', aeon's MiniRocket per seed instead (no
  model or states kept; class_weight='balanced' for its ridge).
  """
  c, d, placement = ctx.config, ctx.dataset, ctx.placement
  if rocket.enabled(c):
    rocket.check(online is not None)
    preds = rocket.fit_predict(parallel.to_host(x), parallel.to_host(y),
                               None if w is None else parallel.to_host(w),
                               d.x_test, ctx.seeds, class_weight)
    return dict(per_seed_scores(d.y_test, preds), predictions=preds,
                selected_epoch=[1] * len(ctx.seeds), num_epochs=1,
                batch_size=int(x.shape[-3]), steps=1, model=None, states=None)
  n = x.shape[-3]
  plan = programs.classifier_plan(c, d.x_train.shape[0], n,
                                  placement.batch_multiple)
  prog = programs.classifier_program(c, d, x, y, w, ctx.keys[
      'classifier_init'], plan, placement, online)
  x, y = prog.put(prog.x), prog.put(prog.y)
  w = None if prog.w is None else prog.put(prog.w)
  x_test = placement.shared(jax.device_put(d.x_test))
  predict = lambda states: loop.predict(prog.model, states, x_test,
                                        c.eval_batch_size, desc=stage,
                                        **prog.dims)
  states, selected = loop.fit(
      prog.epoch_fn, placement.per_seed(prog.states), x, y,
      placement.per_seed(train_keys), plan.num_epochs, desc=stage,
      learning_rate=c.classifier.learning_rate,
      on_epoch=lambda r: ctx.logger.log(stage, r),
      evaluate=lambda states: dict(test_accuracy=np.array(
          [metrics.accuracy(d.y_test, p) for p in predict(states)])),
      eval_every=c.eval_every, progress=c.progress,
      model_selection=c.classifier.model_selection,
      average_fraction=c.classifier.average_fraction, seeds=ctx.seeds, w=w,
      aug_states=None if aug_states is None else placement.per_seed(
          aug_states), num_examples=n)
  states = parallel.gathered(states)
  if (c.classifier.model_selection == 'average'
      and c.classifier.average_batch_stats == 'recompute'):
    states = loop.recompute_batch_stats(prog.model, states, x,
                                        plan.batch_size, w, prog.length)
  preds = predict(states)
  model, states = prog.unpad(states)
  return dict(per_seed_scores(d.y_test, preds), predictions=preds, selected_epoch=[int(e) for e in selected],
              num_epochs=int(plan.num_epochs),
              batch_size=int(plan.batch_size), steps=int(plan.steps),
              model=model, states=states)


def per_seed_scores(y_true, predictions):
  """{metric: [per seed]}: accuracy, f1 (weighted), balanced_accuracy and
  macro_f1 of each seed's predictions."""
  per_seed = [metrics.scores(y_true, p) for p in predictions]
  out = {name: [s[name] for s in per_seed] for name in per_seed[0]}
  out['f1'] = out.pop('weighted_f1')
  return out


# --- Augmented ---------------------------------------------------------------


def fit_augmentation(aug, vae, vae_params, x, probs, num_seeds):
  """The method's fitted state per seed (seed axis first)."""
  if aug.method.needs_vae:
    return jax.jit(jax.vmap(lambda p, x, probs: aug.method.fit(
        x, probs, (vae, p)), in_axes=(0, None, None)))(vae_params, x, probs)
  return jax.jit(lambda x, probs: jax.tree_util.tree_map(
      lambda a: jnp.stack([a] * num_seeds),
      aug.method.fit(x, probs, None)))(x, probs)


def fixed_sets(ctx, aug, vae_params, stage):
  """Each seed's originals and fixed synthetic set (augment.fixed_sets),
  the synthetic series at loss weight aug.weight, with aug.label_filter
  applied (filter_labels). A synthetic set with a NaN or an infinity is an
  AugmentationError: it is never trained on."""
  d = ctx.dataset
  vae_args = ((ctx.vae, vae_params) if aug.method.needs_vae
              else (None, None))
  if aug.strategy == 'auto':
    fixed = balanced_sets(ctx, aug, *vae_args)
  else:
    fixed = augment.fixed_sets(aug.method, ctx.keys['augment'], d.x_train,
                               one_hot(d.y_train, d.num_classes), *vae_args,
                               weight=aug.weight)
  n = d.x_train.shape[0]
  x_new, y_new = (parallel.to_host(a)[:, n:] for a in fixed[:2])
  augment.check_finite(x_new.reshape((-1,) + x_new.shape[2:]),
                       y_new.reshape((-1,) + y_new.shape[2:]),
                       f'{stage}: {aug.label}')
  if aug.label_filter == 'baseline':
    fixed = filter_labels(ctx, fixed, f'{stage}/label_filter')
  return fixed


def balanced_sets(ctx, aug, vae=None, vae_params=None):
  """fixed_sets with strategy='auto': per seed, the originals then new
  series bringing every class up to the largest's size (a class-imbalance
  baseline's on the host with the seed as its random_state; a method's
  class by class, balance.balanced_synthetic); class_weight adds none and
  weighs the originals by n / (C n_c)."""
  d = ctx.dataset
  counts = np.bincount(d.y_train, minlength=d.num_classes)
  wanted = balance.targets('auto', counts, np.arange(d.num_classes))
  xs, ys = [], []
  for i, seed in enumerate(ctx.seeds):
    if getattr(aug.method, 'host', False):
      x_new, y_new = aug.method.resample(d.x_train, d.y_train, int(seed))
    else:
      x_new, y_new = balance.balanced_synthetic(
          aug.method, ctx.keys['augment'][i], d.x_train, d.y_train,
          d.num_classes, wanted, vae, None if vae_params is None else
          jax.tree_util.tree_map(lambda a, i=i: a[i], vae_params))
    xs.append(np.concatenate([d.x_train, x_new]))
    ys.append(np.concatenate([d.y_train, y_new]))
  if len({len(x) for x in xs}) > 1:
    raise AugmentationError(f'{aug.label} drew training sets of sizes '
                            f'{[len(x) for x in xs]} for the seeds, which '
                            'train in one program; run the seeds one by one.')
  n = len(d.y_train)
  w = np.ones((len(xs), len(xs[0])), np.float32)
  w[:, n:] *= aug.weight
  if isinstance(aug.method, resamplers.ClassWeight):
    w[:, :n] = resamplers.balanced_class_weights(d.y_train, d.num_classes)
  return np.stack(xs), one_hot(np.stack(ys), d.num_classes), w


def filter_labels(ctx, fixed, stage):
  """The fixed set (x, y, w) with loss weight 0 for each synthetic series
  whose label the baseline's classifier of its seed does not predict (that
  classifier trained here again: the baseline's data, initial weights and
  steps, so the same model; the test set plays no part)."""
  d = ctx.dataset
  baseline = train_classifier(ctx, d.x_train, d.y_train, stage,
                              ctx.keys['baseline_train'])
  n = d.x_train.shape[0]
  x, y, w = (np.asarray(parallel.to_host(a)) for a in fixed)
  predicted = loop.predict(baseline['model'], baseline['states'], x[:, n:],
                           ctx.config.eval_batch_size, desc=stage,
                           per_seed=True)
  w = w.copy()
  w[:, n:] *= predicted == y[:, n:].argmax(-1)
  return x, y, w


def _online(ctx, aug, vae_params, stage):
  d = ctx.dataset
  probs = one_hot(d.y_train, d.num_classes)
  states = fit_augmentation(aug, ctx.vae, vae_params, d.x_train, probs,
                            len(ctx.seeds))
  try:
    scores = train_classifier(
        ctx, d.x_train, probs, stage, ctx.keys['augmented_train'],
        online=train.Online(aug.method, aug.share, aug.weight),
        aug_states=states)
  except TrainingError as e:
    raise TrainingError(
        f'{e} With mode=online, {aug.label} makes synthetic series in every '
        'batch: a setting too large for float32 (a sigma or noise far above '
        'the data\'s scale) makes them infinite; lower it.') from None
  return dict(scores, train_size=int(d.x_train.shape[0]))


def train_with(ctx, aug, vae_params, stage):
  """Trains the classifiers of ctx's seeds on the dataset augmented by
  `aug` (None: the originals alone, the baseline). The same initial
  weights (keys['classifier_init']) for every method.

  Returns (scores as train_classifier's, with `train_size` and, for
  augmentations, `augmentation` and `synthetic_accepted`; the fixed set
  (x, y, w) or None).
  """
  d = ctx.dataset
  if aug is None:
    scores = train_classifier(ctx, d.x_train, d.y_train, stage,
                              ctx.keys['baseline_train'])
    return dict(scores, train_size=int(d.x_train.shape[0])), None
  if aug.online:
    return dict(_online(ctx, aug, vae_params, stage),
                augmentation=aug.label), None
  if rocket.enabled(ctx.config):
    rocket.check(False, aug.label_filter != 'none')
  fixed = fixed_sets(ctx, aug, vae_params, stage)
  class_weight = ('balanced' if isinstance(aug.method, resamplers.ClassWeight)
                  else None)
  scores = train_classifier(ctx, fixed[0], fixed[1], stage,
                            ctx.keys['augmented_train'], w=fixed[2],
                            class_weight=class_weight)
  n = d.x_train.shape[0]
  # The share of draws kept (loss weight > 0), whatever aug.weight is.
  return dict(scores, augmentation=aug.label,
              train_size=int(fixed[0].shape[1]),
              synthetic_accepted=float(np.mean(
                  parallel.to_host(fixed[2])[:, n:] > 0))
              if fixed[0].shape[1] > n else None), fixed


def train_method(ctx, method, vae_params, stage):
  """train_with for a method that may be auto.Auto: auto first chooses on
  the training set alone (its details in scores['details']), then trains
  the winner on the whole training set."""
  if not isinstance(method, auto.Auto):
    return train_with(ctx, method, vae_params, stage)

  def fold_run(fold, aug, fold_vae_params, fold_stage):
    scores, _ = train_with(ctx.replace(dataset=fold), aug, fold_vae_params,
                           f'{stage}/{fold_stage}')
    return scores['accuracy']

  chosen, cv, problem = auto.choose(
      method, ctx.dataset, fold_run,
      lambda fold: train_vae(ctx.replace(dataset=fold)))
  label = 'none' if chosen is None else chosen.label
  if problem:
    logging.warning('auto chose none without scoring anything: %s.', problem)
  else:
    logging.info('auto chose %s (cross-validated accuracy: %s)', label,
                 ', '.join(f'{k} {v:.4f}' for k, v in cv.items()))
  scores, fixed = train_with(ctx, chosen, vae_params, stage)
  scores['details'] = dict(chosen=label, cross_validated=cv)
  if problem:
    scores['details']['not_estimated'] = problem
  scores['augmentation'] = f'{method.label} -> {label}'
  return scores, fixed
