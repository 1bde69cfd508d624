import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstsaug_jax import checkpoint
from lstsaug_jax import models


def make(tiny_config):
  vae = models.create_vae(tiny_config, 150, 2)
  key = jax.random.PRNGKey(0)
  params = vae.init(key, jnp.ones((1, 150)), key)['params']
  meta = checkpoint.vae_metadata(tiny_config, 150, 2, ('1', '2'), [42])
  return params, meta


def test_round_trip(tiny_config):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  assert os.path.basename(path) == 'GunPoint_vae-16bs-4ld-2e'
  checkpoint.save_vae(path, params, meta)
  restored, restored_meta = checkpoint.restore_vae(path, meta, params)
  jax.tree_util.tree_map(np.testing.assert_array_equal, params, restored)
  assert restored_meta == meta
  # Nothing but the checkpoint is left in model_dir.
  assert os.listdir(tiny_config.model_dir) == [os.path.basename(path)]


def test_mismatch_names_path_and_field(tiny_config):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  checkpoint.save_vae(path, params, meta)
  other = dict(meta, latent_dim=8)
  with pytest.raises(checkpoint.CheckpointError) as e:
    checkpoint.restore_vae(path, other, params)
  assert path in str(e.value)
  assert 'latent_dim: checkpoint has 4, this run 8' in str(e.value)


def test_missing_checkpoint_lists_the_ones_there(tiny_config):
  params, meta = make(tiny_config)
  checkpoint.save_vae(checkpoint.checkpoint_path(tiny_config), params, meta)
  tiny_config.latent_dim = 8
  path = checkpoint.checkpoint_path(tiny_config)
  with pytest.raises(checkpoint.CheckpointError) as e:
    checkpoint.restore_vae(path, meta, params)
  message = str(e.value)
  assert f'No trained VAE checkpoint at {path}' in message
  assert 'GunPoint_vae-16bs-4ld-2e (latent_dim=4' in message


def test_failed_save_keeps_the_good_checkpoint(tiny_config, monkeypatch):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  checkpoint.save_vae(path, params, meta)
  def broken_dump(*args, **kwargs):
    raise OSError('disk full')
  monkeypatch.setattr(json, 'dump', broken_dump)
  zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
  with pytest.raises(OSError):
    checkpoint.save_vae(path, zeros, meta)
  monkeypatch.undo()
  restored, _ = checkpoint.restore_vae(path, meta, params)
  jax.tree_util.tree_map(np.testing.assert_array_equal, params, restored)
  assert os.listdir(tiny_config.model_dir) == [os.path.basename(path)]


def test_overwrite_replaces_the_old_checkpoint(tiny_config):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  checkpoint.save_vae(path, params, meta)
  doubled = jax.tree_util.tree_map(lambda p: 2 * p, params)
  checkpoint.save_vae(path, doubled, meta)
  restored, _ = checkpoint.restore_vae(path, meta, params)
  jax.tree_util.tree_map(np.testing.assert_array_equal, doubled, restored)
  assert os.listdir(tiny_config.model_dir) == [os.path.basename(path)]
