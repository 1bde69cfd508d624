"""MiniRocket downstream: aeon's classifier on the same originals and
synthetic sets as the ResNets, its rows, and what it refuses."""

import numpy as np
import pytest

import lstsaug_jax as lsa
from lstsaug_jax import pipeline
from lstsaug_jax import rocket
from lstsaug_jax.errors import ConfigError
from lstsaug_jax.experiments import results
from lstsaug_jax.experiments import runner

convolution_based = pytest.importorskip(
    'aeon.classification.convolution_based')


def rocket_config(config):
  config.classifier.arch = 'minirocket'
  config.baseline, config.num_seeds = True, 2
  return config


def test_a_run_is_aeons_minirocket_seed_by_seed(tiny_config):
  config = rocket_config(tiny_config)
  run = pipeline.run(config)
  d = run.dataset
  for i, seed in enumerate((42, 43)):
    model = convolution_based.MiniRocketClassifier(random_state=seed)
    model.fit(d.x_train, d.y_train)
    expected = model.predict(d.x_test)
    assert run.results['baseline_accuracy_per_seed'][i] == pytest.approx(
        np.mean(expected == d.y_test))
  # CBF is easy for MiniRocket even from 30 series.
  assert run.results['baseline_accuracy'] >= 0.9
  assert run.results['baseline_num_epochs'] == 1


def test_a_sweep_row_of_minirocket_on_a_synthetic_set(tiny_config, tmp_path):
  config = rocket_config(tiny_config)
  config.sweep.datasets = ('synthetic:cbf',)
  config.sweep.augmentations = ('window_warp',)
  config.sweep.results_csv = str(tmp_path / 'rocket.csv')
  config.sweep.summarize = False
  runner.run_sweep(config)
  rows = results.read_rows(config.sweep.results_csv)
  assert [(r['method'], r['arch'], r['train_size']) for r in rows] == [
      ('baseline', 'minirocket', '30')] * 2 + [
          ('window_warp', 'minirocket', '60')] * 2
  assert all(0.5 <= float(r['balanced_accuracy']) <= 1 for r in rows)


def test_class_weight_reaches_the_ridge_and_zero_weights_drop_series(
    monkeypatch):
  seen = []

  class Recording:
    def __init__(self, random_state, class_weight):
      seen.append((random_state, class_weight))

    def fit(self, x, y):
      seen.append(len(x))

    def predict(self, x):
      return np.zeros(len(x), np.int64)
  monkeypatch.setattr(rocket, '_classifier_class', lambda: Recording)
  x = np.zeros((2, 6, 1, 8), np.float32)
  y = np.eye(2, dtype=np.float32)[[0, 0, 0, 0, 1, 1]][None].repeat(2, 0)
  w = np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]], np.float32)
  rocket.fit_predict(x, y, w, np.zeros((3, 1, 8)), (7, 8), 'balanced')
  assert seen == [(7, 'balanced'), 5, (8, 'balanced'), 4]
  with pytest.raises(ConfigError, match='takes no loss weights'):
    rocket.fit_predict(x, y, w * 0.5, np.zeros((3, 1, 8)), (7, 8))


@pytest.mark.parametrize('method, message', [
    ('latent(mode=online)', "mode='online'"),
    ('mixup', 'hard labels'),
    ("jitter(label_filter='baseline')", 'label_filter'),
])
def test_what_minirocket_cannot_train_is_refused(tiny_config, method,
                                                 message):
  config = rocket_config(tiny_config)
  config.baseline, config.test_augment = False, True
  config.augment.method = method
  with pytest.raises(ConfigError, match=message):
    pipeline.run(config)


def test_the_sampler_in_an_imblearn_pipeline_with_minirocket():
  pipeline_lib = pytest.importorskip('imblearn.pipeline')
  model_selection = pytest.importorskip('sklearn.model_selection')
  d = lsa.load_dataset('synthetic:cbf', download=False,
                       synthetic_train_size=45, synthetic_test_size=3)
  keep = np.flatnonzero((d.y_train != 2) | (np.arange(45) % 5 == 0))
  x, y = d.x_train[keep], np.array(d.class_names)[d.y_train[keep]]
  model = pipeline_lib.make_pipeline(
      lsa.Sampler('window_warp', seed=0),
      convolution_based.MiniRocketClassifier(random_state=0))
  scores = model_selection.cross_val_score(
      model, x, y, cv=model_selection.StratifiedKFold(3), error_score='raise')
  assert len(scores) == 3 and scores.mean() >= 0.8
