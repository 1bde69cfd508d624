"""Shape buckets: a classifier's (and an MLP VAE's) shapes padded up to a
few sizes, so that datasets of different lengths, sizes and class counts
share one compiled program.

A sweep compiles every stage again for every new shape; on an accelerator
that compiling can cost more than the training. In a bucket, a series is
padded at its end to a power-of-two length (the ResNet zeroes the padding
after every layer and keeps it out of BatchNorm's statistics and the
pooling), a batch to a power-of-two number of rows (padding rows have loss
weight 0 and stay out of BatchNorm's statistics), an epoch to a
power-of-two number of batches (the batches past the data are skipped, not
computed), and the class head to at least MIN_CLASSES outputs (the padded
logits are masked out). The true sizes travel as traced values, so the
results equal the unpadded run's up to float rounding
(tests/test_buckets.py), with the same shuffle and the same batches.
"""

import dataclasses
import math

import jax
import numpy as np

# Class heads are padded to at least this many outputs: one bucket for
# almost every UCR dataset, for the price of a few unused logits.
MIN_CLASSES = 16
# jax.random.permutation sorts by 32-bit keys once per round; a padded
# shuffle must take as many rounds as the unpadded one.
_SHUFFLE_EXPONENT = 3
SETTINGS = ('auto', 'on', 'off')


def power_of_two(value, minimum=1):
  """The smallest power of two >= max(value, minimum)."""
  return 1 << max(0, int(max(value, minimum)) - 1).bit_length()


def shuffle_rounds(size):
  """The sorting rounds of jax.random.permutation over `size` elements."""
  return int(np.ceil(_SHUFFLE_EXPONENT * np.log(max(1, size))
                     / np.log(np.iinfo(np.uint32).max)))


def enabled(setting, platform=None):
  """Whether shapes are bucketed: 'on', 'off', or 'auto' (on accelerators,
  where compiling costs more than the padded compute; off on CPU, where
  the padding's compute costs more than compiling)."""
  if setting not in SETTINGS:
    raise ValueError(f'shape_buckets={setting!r} is not one of {SETTINGS}')
  if setting == 'auto':
    return (platform or jax.default_backend()) != 'cpu'
  return setting == 'on'


@dataclasses.dataclass(frozen=True)
class Shapes:
  """A classifier's padded (static) shapes."""

  length: int  # time steps per series
  classes: int  # outputs of the class head
  batch_rows: int  # rows per batch
  steps: int  # batches per epoch
  rows: int  # training series (steps * batch_rows)
  eval_rows: int  # rows per evaluation batch


def classifier_shapes(length, num_classes, batch_size, num_train,
                      num_eval, eval_batch_size, multiple=1):
  """The Shapes of a classifier that trains on num_train series of
  `length` at `batch_size` (already a multiple of the data-parallel device
  count `multiple`) and is evaluated on num_eval series, or None where a
  bucket cannot reproduce the unpadded run (a shuffle of the padded size
  would take more sorting rounds)."""
  batch_rows = power_of_two(batch_size)
  batch_rows = -(-batch_rows // multiple) * multiple
  # No more than that: on a GPU each trip of the loop costs time even when
  # its batch is skipped.
  steps = power_of_two(math.ceil(num_train / batch_size))
  rows = steps * batch_rows
  if shuffle_rounds(rows) != shuffle_rounds(max(num_train, 2)):
    return None
  eval_rows = power_of_two(min(eval_batch_size, num_eval))
  return Shapes(length=power_of_two(length), classes=power_of_two(
      num_classes, MIN_CLASSES), batch_rows=batch_rows, steps=steps,
                rows=rows, eval_rows=eval_rows)


def pad_axis(a, axis, size):
  """a (a host array) padded with zeros at the end of `axis` to `size`."""
  a = np.asarray(a)
  widths = [(0, 0)] * a.ndim
  widths[axis] = (0, size - a.shape[axis])
  return np.pad(a, widths)


def pad_series(x, rows, length):
  """Series (..., n, channels, L) padded to (..., rows, channels, length)."""
  return pad_axis(pad_axis(x, -3, rows), -1, length)


def pad_labels(y, rows, classes):
  """Integer labels (..., n) or class probabilities (..., n, C), padded to
  `rows` (and to `classes` columns)."""
  y = np.asarray(y)
  if np.issubdtype(y.dtype, np.integer):
    return pad_axis(y, -1, rows)
  return pad_axis(pad_axis(y, -2, rows), -1, classes)


HEAD = 'Dense_0'  # the ResNet's class head (models.ResNet)


def resize_head(tree, classes):
  """Parameters (or anything shaped like them: optimizer moments) with the
  class head's outputs zero-padded, or cut back, to `classes`."""
  def resize(path, leaf):
    if not any(getattr(p, 'key', None) == HEAD for p in path):
      return leaf
    return _resize(leaf, -1, classes)
  return jax.tree_util.tree_map_with_path(resize, tree)


def _resize(leaf, axis, size, channels=1):
  """leaf's `axis`, `channels` blocks of equal width, each zero-padded or
  cut to `size`."""
  # NumPy on the host (no program per shape), jax.numpy when traced.
  xp = np if isinstance(leaf, np.ndarray) else jax.numpy
  axis = axis % leaf.ndim
  blocks = leaf.reshape(leaf.shape[:axis] + (channels, -1)
                        + leaf.shape[axis + 1:])
  width = blocks.shape[axis + 1]
  if width >= size:
    blocks = blocks[(slice(None),) * (axis + 1) + (slice(0, size),)]
  else:
    widths = [(0, 0)] * blocks.ndim
    widths[axis + 1] = (0, size - width)
    blocks = xp.pad(blocks, widths)
  return blocks.reshape(leaf.shape[:axis] + (channels * size,)
                        + leaf.shape[axis + 1:])


def resize_vae(tree, length, classes, channels, depth):
  """An MLP VAE's parameters (or anything shaped like them: optimizer
  moments, with or without a leading seed axis) resized to series of
  `length` and a head of `classes`: the encoder's first layer's inputs and
  the decoder's last layer's outputs, per channel, and the head's outputs,
  zero-padded or cut. `depth`: the number of hidden layers. Zero weights on
  the padded inputs and outputs stay zero in training: their gradients are
  zero (padded inputs are zero, padded outputs are masked out of the loss)."""
  last = f'Dense_{depth}'

  def resize(path, leaf):
    keys = [getattr(p, 'key', None) for p in path]
    layer = keys[-3:-1] if len(keys) >= 3 else []
    if layer == ['encoder', 'Dense_0'] and keys[-1] == 'kernel':
      return _resize(leaf, -2, length, channels)
    if layer == ['decoder', last]:
      return _resize(leaf, -1, length, channels)
    if keys[-2:-1] == ['head']:
      return _resize(leaf, -1, classes)
    return leaf
  return jax.tree_util.tree_map_with_path(resize, tree)
