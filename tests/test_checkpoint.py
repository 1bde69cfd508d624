"""VAE checkpoints: round trip, names, restore checks, and saves that never
lose what was there."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lstsaug_jax import checkpoint
from lstsaug_jax import data
from lstsaug_jax import models
from tests.conftest import ROOT


def toy_dataset(length=12, shift=0.0):
  rng = np.random.default_rng(0)
  x = (rng.normal(size=(6, 1, length)) + shift).astype(np.float32)
  y = np.arange(6, dtype=np.int32) % 2
  return data.Dataset('synthetic:cbf', x, y, x, y, ('1', '2'))


def make(config, dataset=None, seeds=None):
  dataset = dataset or toy_dataset()
  vae = models.create_vae(config, dataset.series_length, dataset.num_classes)
  key = jax.random.PRNGKey(0)
  params = vae.init(key, jnp.ones((1, 1, dataset.series_length)),
                    key)['params']
  seeds = seeds or [config.seed + k for k in range(config.num_seeds)]
  return params, checkpoint.vae_metadata(config, dataset, seeds)


def test_round_trip(tiny_config):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  assert os.path.basename(path).startswith('synthetic_cbf_vae-16bs-4ld-2e-seed42-')
  checkpoint.save_vae(path, params, meta)
  restored, restored_meta = checkpoint.restore_vae(path, meta, params)
  jax.tree_util.tree_map(np.testing.assert_array_equal, params, restored)
  assert {k: v for k, v in restored_meta.items() if k != 'files'} == meta
  assert restored_meta['files'] and all(
      f.startswith('params') for f in restored_meta['files'])
  # Nothing but the checkpoint is left in model_dir.
  assert os.listdir(tiny_config.model_dir) == [os.path.basename(path)]


@pytest.mark.parametrize('field, value', [
    ('seed', 7), ('vae.hidden_dims', (32, 16)), ('normalisation', 'channel'),
    ('learning_rate', 1e-2), ('vae.plateau_patience', 3),
    ('missing_values', 'error'), ('validation_fraction', 0.25),
    ('vae.beta', 0.01), ('vae.contrastive_weight', 1.0), ('vae.arch', 'conv')])
def test_every_field_that_changes_the_vae_changes_its_name(tiny_config, field,
                                                           value):
  before = checkpoint.checkpoint_name(tiny_config)
  *parents, leaf = field.split('.')
  target = tiny_config
  for p in parents:
    target = target[p]
  target[leaf] = value
  assert checkpoint.checkpoint_name(tiny_config) != before


def test_fields_that_do_not_change_the_vae_keep_its_name(tiny_config):
  before = checkpoint.checkpoint_name(tiny_config)
  # vae.arch came later: at its default ('mlp') it is not in the digest, so
  # the names of checkpoints saved before it existed stay valid.
  assert 'vae.arch' not in checkpoint.vae_fields(tiny_config)
  tiny_config.classifier.learning_rate = 0.5
  tiny_config.noise = 0.7
  tiny_config.results_dir = '/elsewhere'
  tiny_config.validation_seed = 3  # no validation split: unused
  assert checkpoint.checkpoint_name(tiny_config) == before


def test_restore_refuses_a_vae_of_another_seed_naming_the_field(tiny_config):
  params, meta = make(tiny_config)
  path = str(tiny_config.model_dir) + '/explicit'
  checkpoint.save_vae(path, params, meta)
  tiny_config.seed = 7
  _, other = make(tiny_config)
  with pytest.raises(checkpoint.CheckpointError) as e:
    checkpoint.restore_vae(path, other, params)
  assert path in str(e.value)
  assert 'seeds: checkpoint has [42], this run [7]' in str(e.value)


def test_restore_checks_fields_and_the_training_data(tiny_config):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  checkpoint.save_vae(path, params, meta)
  with pytest.raises(checkpoint.CheckpointError,
                     match='latent_dim: checkpoint has 4, this run 8'):
    checkpoint.restore_vae(path, dict(meta, latent_dim=8), params)
  with pytest.raises(checkpoint.CheckpointError,
                     match=r"normalisation: checkpoint has 'series', this run "
                     r"'channel'"):
    checkpoint.restore_vae(path, dict(meta, normalisation='channel'), params)
  _, shifted = make(tiny_config, toy_dataset(shift=1.0))
  with pytest.raises(checkpoint.CheckpointError,
                     match='the training data: same dataset'):
    checkpoint.restore_vae(path, shifted, params)


def test_missing_checkpoint_lists_the_ones_there_and_how_they_differ(
    tiny_config):
  params, meta = make(tiny_config)
  checkpoint.save_vae(checkpoint.checkpoint_path(tiny_config), params, meta)
  tiny_config.latent_dim = 8
  path = checkpoint.checkpoint_path(tiny_config)
  _, wanted = make(tiny_config)
  with pytest.raises(checkpoint.CheckpointError) as e:
    checkpoint.restore_vae(path, wanted, params)
  message = str(e.value)
  assert f'No trained VAE checkpoint at {path}' in message
  assert 'synthetic_cbf_vae-16bs-4ld-2e-seed42-' in message
  assert 'differs in latent_dim: checkpoint has 4, this run 8' in message


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


def test_a_save_never_replaces_what_is_not_ours(tiny_config, tmp_path):
  params, meta = make(tiny_config)
  folder = tmp_path / 'my_thesis'
  folder.mkdir()
  (folder / 'chapter1.tex').write_text('years of work')
  a_file = tmp_path / 'notes.txt'
  a_file.write_text('keep me')
  for target, kind in ((folder, 'a directory that is not a checkpoint'),
                       (a_file, 'a file')):
    with pytest.raises(checkpoint.CheckpointError, match=kind):
      checkpoint.check_save_target(str(target))
    with pytest.raises(checkpoint.CheckpointError, match='nothing there was'):
      checkpoint.save_vae(str(target), params, meta)
  assert (folder / 'chapter1.tex').read_text() == 'years of work'
  assert a_file.read_text() == 'keep me'
  assert sorted(os.listdir(tmp_path)) == ['my_thesis', 'notes.txt']
  # An empty directory holds nothing to lose.
  (tmp_path / 'empty').mkdir()
  checkpoint.save_vae(str(tmp_path / 'empty'), params, meta)
  assert checkpoint.exists(str(tmp_path / 'empty'))


def test_non_finite_parameters_are_never_saved(tiny_config):
  params, meta = make(tiny_config)
  bad = jax.tree_util.tree_map(lambda p: p.at[0].set(jnp.nan), params)
  path = checkpoint.checkpoint_path(tiny_config)
  with pytest.raises(checkpoint.CheckpointError, match='NaN or infinite'):
    checkpoint.save_vae(path, bad, meta)
  assert not os.path.exists(tiny_config.model_dir)


def test_damaged_files_are_named(tiny_config):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  checkpoint.save_vae(path, params, meta)
  with open(os.path.join(path, checkpoint.METADATA)) as f:
    name = sorted(json.load(f)['files'])[-1]
  with open(os.path.join(path, name), 'r+b') as f:
    first = f.read(1)
    f.seek(0)
    f.write(bytes([first[0] ^ 0xFF]))
  with pytest.raises(checkpoint.CheckpointError) as e:
    checkpoint.restore_vae(path, meta, params)
  assert f'is damaged: {name} differs' in str(e.value)
  os.remove(os.path.join(path, name))
  with pytest.raises(checkpoint.CheckpointError, match=f'{name} is missing'):
    checkpoint.restore_vae(path, meta, params)
  with open(os.path.join(path, checkpoint.METADATA), 'w') as f:
    f.write('{"format_version": 2, "trunc')
  with pytest.raises(checkpoint.CheckpointError,
                     match='metadata.json is not readable JSON'):
    checkpoint.restore_vae(path, meta, params)


def test_parameters_of_another_shape_are_named_in_plain_words(tiny_config):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  checkpoint.save_vae(path, params, meta)
  tiny_config.latent_dim = 5
  other, _ = make(tiny_config)
  with pytest.raises(checkpoint.CheckpointError) as e:
    checkpoint.restore_vae(path, meta, other)
  assert "['head']['kernel'] has shape (4, 2), this VAE needs (5, 2)" in str(
      e.value)


KILL_BETWEEN_RENAMES = r'''
import os, signal, sys
import jax, jax.numpy as jnp
from lstsaug_jax import checkpoint
path, = sys.argv[1:]
params = {'w': jnp.full((3,), 2.0)}
meta = dict(format_version=2)
renames = []
real_rename = os.rename
def rename(a, b):
  renames.append((a, b))
  real_rename(a, b)
  if os.path.basename(a) == os.path.basename(path):  # the old one is aside
    os.kill(os.getpid(), signal.SIGKILL)
os.rename = rename
checkpoint.save_vae(path, params, meta)
'''


def test_a_save_killed_between_its_renames_is_recovered(tmp_path):
  path = str(tmp_path / 'ckpt')
  params = {'w': jnp.ones((3,))}
  checkpoint.save_vae(path, params, dict(format_version=2))
  proc = subprocess.run([sys.executable, '-c', KILL_BETWEEN_RENAMES, path],
                        cwd=ROOT, capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, PYTHONPATH=ROOT,
                                 JAX_PLATFORMS='cpu'))
  assert proc.returncode == -9, proc.stderr
  # Killed in the window: no checkpoint at the path, both copies hidden.
  assert not os.path.exists(path)
  hidden = sorted(os.listdir(tmp_path))
  assert len(hidden) == 2 and all(h.startswith('.ckpt.') for h in hidden)
  # The next access puts the complete new copy in place and cleans up.
  restored, _ = checkpoint.restore_vae(path, dict(format_version=2), params)
  np.testing.assert_array_equal(restored['w'], [2.0, 2.0, 2.0])
  assert os.listdir(tmp_path) == ['ckpt']
