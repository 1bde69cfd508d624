import warnings

import numpy as np
import pytest

from lstsaug_jax import metrics


def test_accuracy():
  assert metrics.accuracy([0, 1, 2, 1], [0, 2, 2, 1]) == 0.75


def test_weighted_f1_known_values():
  # scikit-learn's documented example for f1_score(average='weighted').
  y_true = [0, 1, 2, 0, 1, 2]
  y_pred = [0, 2, 1, 0, 0, 1]
  assert metrics.weighted_f1(y_true, y_pred) == pytest.approx(0.26666666)


def test_weighted_f1_by_hand_with_unequal_support():
  # Class 0: tp=2, support=3, predicted=2 -> f1=0.8; class 1: tp=1,
  # support=1, predicted=2 -> f1=2/3. Weighted: (3*0.8 + 1*2/3) / 4.
  y_true = [0, 0, 0, 1]
  y_pred = [0, 0, 1, 1]
  assert metrics.weighted_f1(y_true, y_pred) == pytest.approx(
      (3 * 0.8 + 2 / 3) / 4)


def test_weighted_f1_perfect_and_class_never_predicted():
  assert metrics.weighted_f1([1, 0, 1], [1, 0, 1]) == 1.0
  # Class 1 is never predicted: its F1 is 0, class 0 has f1 = 2*1/(1+3).
  assert metrics.weighted_f1([0, 1, 1], [0, 0, 0]) == pytest.approx(0.5 / 3)


def test_balanced_accuracy_and_macro_f1_by_hand():
  # Class 0: 3 of 4 right, class 1: 1 of 1; balanced accuracy (0.75+1)/2,
  # where accuracy is 0.8.
  y_true, y_pred = [0, 0, 0, 0, 1], [0, 0, 0, 1, 1]
  assert metrics.balanced_accuracy(y_true, y_pred) == pytest.approx(0.875)
  # F1: class 0 2*3/(4+3), class 1 2*1/(1+2); unweighted mean.
  assert metrics.macro_f1(y_true, y_pred) == pytest.approx(
      (6 / 7 + 2 / 3) / 2)
  # Always the larger class: accuracy 0.8, balanced accuracy at chance.
  assert metrics.balanced_accuracy(y_true, [0] * 5) == 0.5
  assert metrics.macro_f1(y_true, [0] * 5) == pytest.approx((8 / 9) / 2)


def test_every_metric_matches_scikit_learn():
  sk = pytest.importorskip('sklearn.metrics')
  rng = np.random.default_rng(0)
  for trial in range(30):
    classes = rng.integers(2, 6)
    y_true = rng.choice(classes, size=rng.integers(5, 40),
                        p=rng.dirichlet(np.ones(classes)))
    # Predictions that may miss a class or name one y_true lacks.
    y_pred = np.where(rng.random(len(y_true)) < 0.6, y_true,
                      rng.integers(0, classes + 1, len(y_true)))
    got = metrics.scores(y_true, y_pred)
    assert got['accuracy'] == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert got['weighted_f1'] == pytest.approx(sk.f1_score(
        y_true, y_pred, average='weighted', zero_division=0)), trial
    assert got['macro_f1'] == pytest.approx(sk.f1_score(
        y_true, y_pred, average='macro', zero_division=0)), trial
    with warnings.catch_warnings():  # a class only predicted: sklearn warns
      warnings.simplefilter('ignore')
      expected = sk.balanced_accuracy_score(y_true, y_pred)
    assert got['balanced_accuracy'] == pytest.approx(expected), trial
