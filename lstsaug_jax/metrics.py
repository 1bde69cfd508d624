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


def balanced_accuracy(y_true, y_pred):
  """The mean of the recalls of the classes in y_true (a class that is only
  predicted counts for nothing), as scikit-learn's balanced_accuracy_score.
  Chance is 1/C whatever the class sizes."""
  y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
  classes = np.unique(y_true)
  return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in classes]))


def macro_f1(y_true, y_pred):
  """F1 per class, averaged without weights over the classes in y_true or
  y_pred (zero where a class has no true positives), as scikit-learn's
  f1_score(average='macro', zero_division=0): a rare class counts as much
  as a common one."""
  y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
  f1 = []
  for c in np.union1d(y_true, y_pred):
    true_pos = np.sum((y_true == c) & (y_pred == c))
    denom = np.sum(y_true == c) + np.sum(y_pred == c)
    f1.append(2 * true_pos / denom if denom else 0.0)
  return float(np.mean(f1))


def scores(y_true, y_pred):
  """Every metric a results row holds, by its column's name."""
  return dict(accuracy=accuracy(y_true, y_pred),
              weighted_f1=weighted_f1(y_true, y_pred),
              balanced_accuracy=balanced_accuracy(y_true, y_pred),
              macro_f1=macro_f1(y_true, y_pred))
