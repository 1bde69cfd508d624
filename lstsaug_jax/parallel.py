"""Placing seeds and batches on devices.

One mesh axis, 'devices'. When the number of seeds is a multiple of the
device count, each device trains its own seeds (no communication). Otherwise
batches are split across devices (data parallelism: parameters replicated,
gradients and BatchNorm statistics all-reduced by XLA). With one device
nothing is placed and nothing changes.
"""

import dataclasses

import jax
from jax.experimental import multihost_utils
import numpy as np
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from lstsaug_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Placement:
  num_devices: int = 1
  mode: str = 'single'  # 'single', 'seeds' or 'data'
  mesh: Mesh | None = None

  @property
  def batch_sharding(self):
    """Constraint on a (batch, ...) array inside the epoch, or None."""
    return NamedSharding(self.mesh, P('devices')) if self.mode == 'data' else None

  @property
  def batch_multiple(self):
    return self.num_devices if self.mode == 'data' else 1

  def _put(self, tree, spec):
    if self.mode == 'single':
      return tree
    sharding = NamedSharding(self.mesh, spec)
    def put(a):
      a = to_host(a)
      return jax.make_array_from_callback(a.shape, sharding, lambda i: a[i])
    return jax.tree_util.tree_map(put, tree)

  def per_seed(self, tree):
    """Arrays with a leading seed axis: split over devices in 'seeds' mode."""
    return self._put(tree, P('devices') if self.mode == 'seeds' else P())

  def shared(self, tree):
    """Arrays every device needs whole (the training and test data)."""
    return self._put(tree, P())


def spans_processes(a):
  """Whether `a` is an array with parts on other processes' devices."""
  return isinstance(a, jax.Array) and not a.is_fully_addressable


def to_host(tree):
  """Every array of `tree` as a NumPy array holding its whole value; arrays
  that span several processes (multi-host) are gathered from all of them
  first. Every process must call it, in the same order."""
  def get(a):
    if spans_processes(a):
      return np.asarray(multihost_utils.process_allgather(a, tiled=True))
    return np.asarray(a)
  return jax.tree_util.tree_map(get, tree)


def gathered(tree):
  """Arrays that span several processes as NumPy arrays (gathered); the
  others as they are. At stage boundaries, so that what a stage returns is
  whole on every process."""
  return jax.tree_util.tree_map(
      lambda a: to_host(a) if spans_processes(a) else a, tree)


def is_writer():
  """Whether this process writes files: process 0 of a multi-host run (the
  others compute the same results and write nothing)."""
  return jax.process_index() == 0


def make_placement(num_seeds, num_devices=0):
  """num_devices=0: every device of the run (all hosts' after
  jax.distributed.initialize)."""
  devices = jax.devices()
  if num_devices:
    if num_devices > len(devices):
      raise ConfigError(
          f'num_devices={num_devices} but only {len(devices)} devices are '
          f'visible ({devices[0].platform}); set --config.num_devices=0 to use '
          'them all.')
    devices = devices[:num_devices]
  if len(devices) == 1:
    return Placement()
  mesh = Mesh(np.array(devices), ('devices',))
  mode = 'seeds' if num_seeds % len(devices) == 0 else 'data'
  return Placement(len(devices), mode, mesh)
