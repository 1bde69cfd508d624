"""Convergence on real data with a small CPU budget."""

import time

import jax

from configs import default
from lstsaug_jax import data
from lstsaug_jax import pipeline
from tests.conftest import SHARED_DATA


class NullLogger:
  def log(self, stage, record):
    pass


def test_resnet_learns_gunpoint_within_a_minute():
  config = default.get_config()
  config.data_dir = SHARED_DATA
  config.dataset = 'GunPoint'
  config.progress = False
  # One full batch of 50 a step; 1e-3 rather than the original's 1e-4 so
  # 60 epochs suffice (test accuracy settles at ~0.99 by epoch 40).
  config.classifier.num_epochs = 60
  config.classifier.learning_rate = 1e-3
  dataset = data.load(config)
  start = time.perf_counter()
  scores = pipeline.train_classifier(
      config, dataset, dataset.x_train, dataset.y_train,
      jax.random.PRNGKey(0)[None], jax.random.PRNGKey(1)[None], NullLogger(),
      'baseline')
  (accuracy,), (f1,) = scores['accuracy'], scores['f1']
  print(f'GunPoint test accuracy {accuracy:.3f}, weighted F1 {f1:.3f}, '
        f'{time.perf_counter() - start:.1f} s')
  assert accuracy >= 0.9
  assert f1 >= 0.9
