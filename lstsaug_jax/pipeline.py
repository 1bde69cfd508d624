"""The LSTSAUG pipeline: VAE, latent augmentation, baseline vs augmented."""

import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import augment
from lstsaug_jax import checkpoint
from lstsaug_jax import data
from lstsaug_jax import metrics
from lstsaug_jax import models
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
                'eval_batch_size'):
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
  if problems:
    raise ValueError('Invalid config: ' + '; '.join(problems) + '. Fix these '
                     'fields (e.g. --config.FIELD=VALUE) and run again.')


def classifier_settings(config):
  c = config.classifier
  return (c.num_epochs if c.num_epochs is not None else config.num_epochs,
          c.batch_size if c.batch_size is not None else config.batch_size)


def train_vae(config, model, x, y, init_key, train_key, logger):
  tx = train.create_optimizer(
      config.learning_rate,
      train.steps_per_epoch(x.shape[0], config.batch_size),
      config.vae.plateau_factor, config.vae.plateau_patience)
  state = train.init_state(model, tx, init_key, jnp.asarray(x[:1]), init_key)
  epoch_fn = train.make_epoch_fn(train.vae_train_step, model, tx,
                                 config.batch_size)
  state = train.fit(epoch_fn, state, x, y, train_key, config.num_epochs,
                    desc='VAE', learning_rate=config.learning_rate,
                    on_epoch=lambda r: logger.log('vae', r),
                    progress=config.progress)
  return state.params


def train_classifier(config, dataset, x, y, init_key, train_key, logger,
                     stage):
  """Trains a classifier on (x, y); returns final test accuracy and F1."""
  num_epochs, batch_size = classifier_settings(config)
  c = config.classifier
  model = models.create_classifier(c.arch, dataset.num_classes, c.conv_impl)
  tx = train.create_optimizer(
      c.learning_rate, train.steps_per_epoch(x.shape[0], batch_size),
      c.plateau_factor, c.plateau_patience, c.min_learning_rate)
  state = train.init_state(model, tx, init_key, jnp.asarray(x[:1]))
  epoch_fn = train.make_epoch_fn(train.classifier_train_step, model, tx,
                                 batch_size)
  x_test = jnp.asarray(dataset.x_test)

  def evaluate(state):
    preds = train.predict(model, state, x_test, config.eval_batch_size)
    return dict(test_accuracy=metrics.accuracy(dataset.y_test, preds))

  state = train.fit(epoch_fn, state, x, y, train_key, num_epochs,
                    desc=stage, learning_rate=c.learning_rate,
                    on_epoch=lambda r: logger.log(stage, r),
                    evaluate=evaluate, eval_every=config.eval_every,
                    progress=config.progress)
  preds = train.predict(model, state, x_test, config.eval_batch_size)
  return (metrics.accuracy(dataset.y_test, preds),
          metrics.weighted_f1(dataset.y_test, preds))


def run(config):
  """Runs the stages the config asks for; returns the final metrics."""
  validate_config(config)
  dataset = data.load(config)
  vae = models.create_vae(config, dataset.series_length, dataset.num_classes)
  meta = checkpoint.vae_metadata(config, dataset.series_length,
                                 dataset.num_classes, dataset.class_names)
  ckpt_path = checkpoint.checkpoint_path(config)
  keys = dict(zip(KEYS, jax.random.split(jax.random.PRNGKey(config.seed),
                                         len(KEYS))))
  if config.use_trained:
    # Fail on a missing or mismatched checkpoint before any work is done.
    abstract = jax.eval_shape(
        vae.init, keys['vae_init'], jnp.asarray(dataset.x_train[:1]),
        keys['vae_init'])['params']
    checkpoint.read_metadata(ckpt_path)

  run_dir = reporting.make_run_dir(config.results_dir, config.dataset)
  with open(os.path.join(run_dir, 'config.json'), 'w') as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True) + '\n')
  print(f'Run directory: {run_dir}')
  wandb_run = reporting.start_wandb(config, run_dir) if config.wandb else None
  logger = reporting.MetricsLogger(run_dir, wandb_run)
  results = dict(dataset=config.dataset, run_dir=run_dir,
                 train_size=int(dataset.x_train.shape[0]),
                 test_size=int(dataset.x_test.shape[0]),
                 series_length=int(dataset.series_length),
                 num_classes=int(dataset.num_classes),
                 vae_checkpoint=ckpt_path, wall_time_s={})
  try:
    start = time.perf_counter()
    if config.use_trained:
      vae_params, _ = checkpoint.restore_vae(ckpt_path, meta, abstract)
      print(f'Restored the trained VAE from {ckpt_path} (no VAE training).')
      results['vae_source'] = 'restored'
    else:
      vae_params = train_vae(config, vae, dataset.x_train, dataset.y_train,
                             keys['vae_init'], keys['vae_train'], logger)
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
      neighbours = augment.latent_neighbours(
          vae, vae_params, jnp.asarray(x0), keys['plot'], noise=config.noise,
          num_samples=config.plot_neighbours)
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
      acc, f1 = train_classifier(config, dataset, dataset.x_train,
                                 dataset.y_train, keys['classifier_init'],
                                 keys['baseline_train'], logger, 'baseline')
      results.update(baseline_accuracy=acc, baseline_f1=f1)
      results['wall_time_s']['baseline'] = time.perf_counter() - start

    if config.test_augment:
      start = time.perf_counter()
      x_aug, y_aug = augment.augment_dataset(
          vae, vae_params, dataset.x_train, dataset.y_train, keys['augment'],
          noise=config.noise, num_samples=config.num_samples)
      results['augmented_train_size'] = int(x_aug.shape[0])
      acc, f1 = train_classifier(config, dataset, x_aug, y_aug,
                                 keys['classifier_init'],
                                 keys['augmented_train'], logger, 'augmented')
      results.update(augmented_accuracy=acc, augmented_f1=f1)
      results['wall_time_s']['augmented'] = time.perf_counter() - start
  finally:
    logger.close()

  reporting.write_json(os.path.join(run_dir, 'results.json'), results)
  print(reporting.format_table(results))
  print(f'Results written to {run_dir}')
  return results
