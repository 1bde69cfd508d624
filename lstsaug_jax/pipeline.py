"""The LSTSAUG pipeline: VAE, latent augmentation, baseline vs augmented."""

import os
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import augment
from lstsaug_jax import checkpoint
from lstsaug_jax import data
from lstsaug_jax import metrics
from lstsaug_jax import models
from lstsaug_jax import parallel
from lstsaug_jax import plotting
from lstsaug_jax import reporting
from lstsaug_jax import train

# Named streams split from config.seed. Both classifiers start from the same
# initial weights, so baseline and augmented runs differ only in their data.
KEYS = ('vae_init', 'vae_train', 'augment', 'plot', 'classifier_init',
        'baseline_train', 'augmented_train')


def validate_config(config):
  problems = []
  for field in ('num_epochs', 'batch_size', 'num_samples', 'latent_dim',
                'eval_batch_size', 'num_seeds'):
    if getattr(config, field) < (0 if field == 'num_epochs' else 1):
      problems.append(f'{field}={getattr(config, field)} must be positive')
  if config.noise < 0:
    problems.append(f'noise={config.noise} must be >= 0')
  if config.eval_every < 0:
    problems.append(f'eval_every={config.eval_every} must be >= 0 (0: off)')
  if config.vae.output_activation not in models.OUTPUT_ACTIVATIONS:
    problems.append(
        f'vae.output_activation={config.vae.output_activation!r} is not one '
        f'of {sorted(models.OUTPUT_ACTIVATIONS)}')
  if config.classifier.arch not in models.CLASSIFIERS:
    problems.append(f'classifier.arch={config.classifier.arch!r} is not one '
                    f'of {sorted(models.CLASSIFIERS)}')
  if config.classifier.model_selection not in train.MODEL_SELECTIONS:
    problems.append(
        f'classifier.model_selection={config.classifier.model_selection!r} '
        f'is not one of {train.MODEL_SELECTIONS}')
  if not 0.0 <= config.classifier.max_batch_fraction <= 1.0:
    problems.append(f'classifier.max_batch_fraction='
                    f'{config.classifier.max_batch_fraction} must be in '
                    '[0, 1] (0: off)')
  if not 0.0 <= config.validation_fraction < 1.0:
    problems.append(f'validation_fraction={config.validation_fraction} must '
                    'be in [0, 1) (0: evaluate on the test set)')
  if config.classifier.conv_impl not in train.CONV_IMPLS:
    problems.append(f'classifier.conv_impl={config.classifier.conv_impl!r} '
                    f'is not one of {train.CONV_IMPLS}')
  if problems:
    raise ValueError('Invalid config: ' + '; '.join(problems) + '. Fix these '
                     'fields (e.g. --config.FIELD=VALUE) and run again.')


def classifier_settings(config, num_train=None):
  """(epochs, batch size) of the classifiers; with max_batch_fraction, the
  batch size depends on the number of training series."""
  c = config.classifier
  num_epochs = c.num_epochs if c.num_epochs is not None else config.num_epochs
  batch_size = c.batch_size if c.batch_size is not None else config.batch_size
  if c.max_batch_fraction and num_train is not None:
    batch_size = max(1, min(batch_size,
                            int(c.max_batch_fraction * num_train)))
  return num_epochs, batch_size


def run_seeds(config):
  return [config.seed + k for k in range(config.num_seeds)]


def seed_keys(seeds):
  """Per stream, a (len(seeds), 2) stack of keys. Each seed's streams are
  split from PRNGKey(seed) exactly as a one-seed run with that seed splits
  them, so every seed of a many-seed run reproduces its own one-seed run."""
  per_seed = [jax.random.split(jax.random.PRNGKey(s), len(KEYS))
              for s in seeds]
  return {name: jnp.stack([keys[i] for keys in per_seed])
          for i, name in enumerate(KEYS)}


def vae_param_shapes(model, x, init_keys):
  """The shapes of one VAE per init key (seed axis first), computed without
  initialising: what a restored checkpoint must match."""
  sample = jnp.asarray(x[:1])
  return jax.eval_shape(lambda keys: jax.vmap(
      lambda k: model.init(k, sample, k))(keys)['params'], init_keys)


def train_vae(config, model, x, y, init_keys, train_keys, logger,
              placement=parallel.Placement()):
  """Trains one VAE per seed; returns their parameters (seed axis first)."""
  batch_size = train.epoch_batch_size(config.batch_size,
                                      placement.batch_multiple)
  tx = train.create_optimizer(
      config.learning_rate, train.steps_per_epoch(x.shape[0], batch_size),
      config.vae.plateau_factor, config.vae.plateau_patience)
  sample = jnp.asarray(x[:1])
  states = placement.per_seed(
      train.init_states(model, tx, init_keys, lambda k: (sample, k)))
  epoch_fn = train.make_epoch_fn(train.vae_train_step, model, tx, batch_size,
                                 batch_sharding=placement.batch_sharding)
  states, _ = train.fit(epoch_fn, states, *placement.shared((x, y)),
                        placement.per_seed(train_keys), config.num_epochs,
                        desc='VAE', learning_rate=config.learning_rate,
                        on_epoch=lambda r: logger.log('vae', r),
                        progress=config.progress)
  return states.params


def train_classifier(config, dataset, x, y, init_keys, train_keys, logger,
                     stage, placement=parallel.Placement()):
  """Trains one classifier per seed on (x, y) (x with a leading seed axis
  if x.ndim == 3).

  Returns:
    a dict: per seed, `accuracy` and `f1` on the test set of the model
    chosen by classifier.model_selection and its `selected_epoch`; and the
    `num_epochs` and `batch_size` trained with.
  """
  n = x.shape[-2]
  num_epochs, batch_size = classifier_settings(config, n)
  batch_size = train.epoch_batch_size(batch_size, placement.batch_multiple)
  c = config.classifier
  steps = train.steps_per_epoch(n, batch_size)
  conv_impl, unroll = train.conv_plan(
      c.conv_impl, n // batch_size, seeds_sharded=placement.mode == 'seeds')
  model = models.create_classifier(c.arch, dataset.num_classes, conv_impl)
  tx = train.create_optimizer(c.learning_rate, steps, c.plateau_factor,
                              c.plateau_patience, c.min_learning_rate)
  per_seed_x = x.ndim == 3
  sample = jnp.asarray(x[0, :1] if per_seed_x else x[:1])
  states = placement.per_seed(
      train.init_states(model, tx, init_keys, lambda k: (sample,)))
  epoch_fn = train.make_epoch_fn(train.classifier_train_step, model, tx,
                                 batch_size, per_seed_x=per_seed_x,
                                 batch_sharding=placement.batch_sharding,
                                 unroll=unroll)
  x = placement.per_seed(x) if per_seed_x else placement.shared(x)
  x_test = placement.shared(jnp.asarray(dataset.x_test))

  def evaluate(states):
    preds = train.predict(model, states, x_test, config.eval_batch_size)
    return dict(test_accuracy=np.array(
        [metrics.accuracy(dataset.y_test, p) for p in preds]))

  states, selected = train.fit(
      epoch_fn, states, x, placement.shared(y),
      placement.per_seed(train_keys), num_epochs, desc=stage,
      learning_rate=c.learning_rate, on_epoch=lambda r: logger.log(stage, r),
      evaluate=evaluate, eval_every=config.eval_every,
      progress=config.progress, model_selection=c.model_selection)
  preds = train.predict(model, states, x_test, config.eval_batch_size)
  return dict(accuracy=[metrics.accuracy(dataset.y_test, p) for p in preds],
              f1=[metrics.weighted_f1(dataset.y_test, p) for p in preds],
              selected_epoch=[int(e) for e in selected],
              num_epochs=int(num_epochs), batch_size=int(batch_size))


def summarise(results, prefix, scores):
  for name in ('accuracy', 'f1'):
    values = scores[name]
    results[f'{prefix}_{name}'] = float(np.mean(values))
    results[f'{prefix}_{name}_std'] = float(np.std(values))
    results[f'{prefix}_{name}_per_seed'] = [float(v) for v in values]
  results[f'{prefix}_selected_epoch_per_seed'] = scores['selected_epoch']
  results[f'{prefix}_batch_size'] = scores['batch_size']


def run(config):
  """Runs the stages the config asks for; returns the final metrics."""
  validate_config(config)
  if config.compilation_cache_dir:
    jax.config.update('jax_compilation_cache_dir',
                      os.path.abspath(config.compilation_cache_dir))
  placement = parallel.make_placement(config.num_seeds, config.num_devices)
  dataset = data.load(config)
  vae = models.create_vae(config, dataset.series_length, dataset.num_classes)
  seeds = run_seeds(config)
  meta = checkpoint.vae_metadata(config, dataset.series_length,
                                 dataset.num_classes, dataset.class_names,
                                 seeds)
  ckpt_path = checkpoint.checkpoint_path(config)
  keys = seed_keys(seeds)
  if config.use_trained:
    # Fail on a missing or mismatched checkpoint before any work is done.
    abstract = vae_param_shapes(vae, dataset.x_train, keys['vae_init'])
    checkpoint.read_metadata(ckpt_path)

  run_dir = reporting.make_run_dir(config.results_dir, config.dataset)
  with open(os.path.join(run_dir, 'config.json'), 'w') as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True) + '\n')
  print(f'Run directory: {run_dir}')
  if placement.mode != 'single':
    print(f'{placement.num_devices} devices, sharding the '
          f'{"seeds" if placement.mode == "seeds" else "batches"}.')
  wandb_run = reporting.start_wandb(config, run_dir) if config.wandb else None
  logger = reporting.MetricsLogger(run_dir, wandb_run)
  results = dict(dataset=config.dataset, run_dir=run_dir,
                 seeds=seeds,
                 evaluated_on=('validation' if config.validation_fraction
                               else 'test'),
                 train_size=int(dataset.x_train.shape[0]),
                 test_size=int(dataset.x_test.shape[0]),
                 series_length=int(dataset.series_length),
                 num_classes=int(dataset.num_classes),
                 data=dataset.provenance, devices=placement.num_devices,
                 vae_checkpoint=ckpt_path, wall_time_s={})
  try:
    start = time.perf_counter()
    if config.use_trained:
      vae_params, _ = checkpoint.restore_vae(ckpt_path, meta, abstract)
      print(f'Restored the trained VAE from {ckpt_path} (no VAE training).')
      results['vae_source'] = 'restored'
    else:
      vae_params = train_vae(config, vae, dataset.x_train, dataset.y_train,
                             keys['vae_init'], keys['vae_train'], logger,
                             placement)
      checkpoint.save_vae(ckpt_path, vae_params, meta)
      print(f'Saved the trained VAE to {ckpt_path}')
      results['vae_source'] = 'trained'
    results['wall_time_s']['vae'] = time.perf_counter() - start

    if not (config.test_augment or config.augment_plot or config.baseline):
      print('Trained and saved the VAE only. Add --config.test_augment=True '
            '(and --config.baseline=True) to train the classifiers, or '
            '--config.augment_plot=True for a plot of latent neighbours.')

    if config.augment_plot:
      x0 = dataset.x_test[:1]
      first_vae = jax.tree_util.tree_map(lambda a: a[0], vae_params)
      neighbours = augment.latent_neighbours(
          vae, first_vae, jnp.asarray(x0), keys['plot'][0],
          noise=config.noise, num_samples=config.plot_neighbours)
      path = plotting.plot_neighbours(
          os.path.join(run_dir, 'augment.png'), x0[0],
          np.asarray(neighbours)[:, 0],
          title=f'{config.dataset}: test series 0 and '
          f'{config.plot_neighbours} latent neighbours (noise '
          f'{config.noise})')
      results['augment_plot'] = path
      print(f'Saved the augmentation plot to {path}')

    if config.baseline:
      start = time.perf_counter()
      summarise(results, 'baseline', train_classifier(
          config, dataset, dataset.x_train, dataset.y_train,
          keys['classifier_init'], keys['baseline_train'], logger, 'baseline',
          placement))
      results['wall_time_s']['baseline'] = time.perf_counter() - start

    if config.test_augment:
      start = time.perf_counter()
      x_aug, y_aug = augment.augment_dataset(
          vae, vae_params, dataset.x_train, dataset.y_train, keys['augment'],
          noise=config.noise, num_samples=config.num_samples)
      results['augmented_train_size'] = int(x_aug.shape[1])
      summarise(results, 'augmented', train_classifier(
          config, dataset, x_aug, y_aug, keys['classifier_init'],
          keys['augmented_train'], logger, 'augmented', placement))
      results['wall_time_s']['augmented'] = time.perf_counter() - start
  finally:
    logger.close()

  results['peak_host_memory_mb'] = (
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  reporting.write_json(os.path.join(run_dir, 'results.json'), results)
  print(reporting.format_table(results))
  print(f'Results written to {run_dir}')
  return results
