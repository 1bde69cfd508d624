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
