"""Classification metrics."""

import numpy as np


def accuracy(y_true, y_pred):
  return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def weighted_f1(y_true, y_pred):
  """F1 per class, averaged with weights equal to each class's support.

  Classes are those present in y_true or y_pred; a class with no predicted
  (or no true) members scores 0, as in scikit-learn's f1_score
  (average='weighted', zero_division=0).
  """
  y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
  classes = np.union1d(y_true, y_pred)
  true_pos = np.array([np.sum((y_true == c) & (y_pred == c)) for c in classes])
  support = np.array([np.sum(y_true == c) for c in classes])
  predicted = np.array([np.sum(y_pred == c) for c in classes])
  denom = support + predicted
  f1 = np.where(denom > 0, 2 * true_pos / np.maximum(denom, 1), 0.0)
  return float(np.sum(f1 * support) / max(support.sum(), 1))
