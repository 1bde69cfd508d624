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
from lstsaug_jax import ownership
from tests.conftest import ROOT


def toy_dataset(length=12, shift=0.0):
  rng = np.random.default_rng(0)
  x = (rng.normal(size=(6, 1, length)) + shift).astype(np.float32)
  y = np.arange(6, dtype=np.int32) % 2
  return data.Dataset('synthetic:cbf', x, y, x, y, ('1', '2'))


def make(config, dataset=None, seeds=None):
  """Parameters (seed axis first) of the VAE config describes, and its
  metadata."""
  dataset = dataset or toy_dataset()
  seeds = seeds or [config.seed + k for k in range(config.num_seeds)]
  meta = checkpoint.vae_metadata(config, dataset, seeds)
  vae = checkpoint.build_vae(meta)
  keys = jax.random.split(jax.random.PRNGKey(0), len(seeds))
  params = jax.vmap(lambda k: vae.init(
      k, jnp.ones((1, 1, dataset.series_length)), k)['params'])(keys)
  return params, meta


def restore(path, meta, shapes=None):
  return checkpoint.restore_vae(path, meta, shapes)[1:]


def test_round_trip(tiny_config):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  assert os.path.basename(path).startswith('synthetic_cbf_vae-16bs-4ld-2e-seed42-')
  checkpoint.save_vae(path, params, meta)
  restored, restored_meta = restore(path, meta, params)
  jax.tree_util.tree_map(np.testing.assert_array_equal, params, restored)
  assert {k: v for k, v in restored_meta.items()
          if k not in ('files', 'metadata_sha256')} == meta
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
    restore(path, other, params)
  assert path in str(e.value)
  assert 'seeds: checkpoint has [42], this run [7]' in str(e.value)


def test_restore_checks_fields_and_the_training_data(tiny_config):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  checkpoint.save_vae(path, params, meta)
  with pytest.raises(checkpoint.CheckpointError,
                     match='latent_dim: checkpoint has 4, this run 8'):
    restore(path, dict(meta, latent_dim=8), params)
  with pytest.raises(checkpoint.CheckpointError,
                     match=r"normalisation: checkpoint has 'series', this run "
                     r"'channel'"):
    restore(path, dict(meta, normalisation='channel'), params)
  _, shifted = make(tiny_config, toy_dataset(shift=1.0))
  with pytest.raises(checkpoint.CheckpointError,
                     match='the training data: same dataset'):
    restore(path, shifted, params)


def test_missing_checkpoint_lists_the_ones_there_and_how_they_differ(
    tiny_config):
  params, meta = make(tiny_config)
  checkpoint.save_vae(checkpoint.checkpoint_path(tiny_config), params, meta)
  tiny_config.latent_dim = 8
  path = checkpoint.checkpoint_path(tiny_config)
  _, wanted = make(tiny_config)
  with pytest.raises(checkpoint.CheckpointError) as e:
    restore(path, wanted, params)
  message = str(e.value)
  assert f'No trained VAE checkpoint at {path}' in message
  assert 'synthetic_cbf_vae-16bs-4ld-2e-seed42-' in message
  assert 'differs in latent_dim: checkpoint has 4, this run 8' in message


def test_failed_save_keeps_the_good_checkpoint(tiny_config, monkeypatch):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  checkpoint.save_vae(path, params, meta)
  def broken_write(*args, **kwargs):
    raise OSError('disk full')
  monkeypatch.setattr(checkpoint.files, 'write_json', broken_write)
  zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
  with pytest.raises(OSError):
    checkpoint.save_vae(path, zeros, meta)
  monkeypatch.undo()
  restored, _ = restore(path, meta, params)
  jax.tree_util.tree_map(np.testing.assert_array_equal, params, restored)
  assert os.listdir(tiny_config.model_dir) == [os.path.basename(path)]


def test_overwrite_replaces_the_old_checkpoint(tiny_config):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  checkpoint.save_vae(path, params, meta)
  doubled = jax.tree_util.tree_map(lambda p: 2 * p, params)
  checkpoint.save_vae(path, doubled, meta)
  restored, _ = restore(path, meta, params)
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
      ownership.check_save_target(str(target))
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
    restore(path, meta, params)
  assert f'is damaged: {name} differs' in str(e.value)
  os.remove(os.path.join(path, name))
  with pytest.raises(checkpoint.CheckpointError, match=f'{name} is missing'):
    restore(path, meta, params)
  with open(os.path.join(path, checkpoint.METADATA), 'w') as f:
    f.write('{"format_version": 2, "trunc')
  with pytest.raises(checkpoint.CheckpointError,
                     match='metadata.json is not readable JSON'):
    restore(path, meta, params)


def test_parameters_of_another_shape_are_named_in_plain_words(tiny_config):
  params, meta = make(tiny_config)
  path = checkpoint.checkpoint_path(tiny_config)
  checkpoint.save_vae(path, params, meta)
  tiny_config.latent_dim = 5
  other, _ = make(tiny_config)
  with pytest.raises(checkpoint.CheckpointError) as e:
    restore(path, meta, other)
  assert "['head']['kernel'] has shape (1, 4, 2), this VAE needs (1, 5, 2)" in str(
      e.value)


KILL_BETWEEN_RENAMES = r'''
import os, signal, sys
import jax
from configs import tiny
from lstsaug_jax import checkpoint
from tests.test_checkpoint import make
path, = sys.argv[1:]
params, meta = make(tiny.get_config())
params = jax.tree_util.tree_map(lambda a: 2 * a, params)
real_rename = os.rename
def rename(a, b):
  real_rename(a, b)
  if os.path.basename(a) == os.path.basename(path):  # the old one is aside
    os.kill(os.getpid(), signal.SIGKILL)
os.rename = rename
checkpoint.save_vae(path, params, meta)
'''


def test_a_save_killed_between_its_renames_is_recovered(tiny_config,
                                                        tmp_path):
  path = str(tmp_path / 'ckpt')
  params, meta = make(tiny_config)
  checkpoint.save_vae(path, params, meta)
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
  restored, _ = restore(path, meta)
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(a, 2 * b),
                         restored, params)
  assert os.listdir(tmp_path) == ['ckpt']


# --- Ownership: a folder is ours only when proved ---------------------------


def test_a_folder_that_merely_looks_like_a_checkpoint_is_never_replaced(
    tiny_config, tmp_path):
  params, meta = make(tiny_config)
  fake = tmp_path / 'looks_like_one'
  (fake / 'params').mkdir(parents=True)
  (fake / 'metadata.json').write_text('{"format_version": 3}')
  (fake / 'NOTES.txt').write_text('my notes')
  with pytest.raises(checkpoint.CheckpointError,
                     match='not a checkpoint of ours.*not written by'):
    checkpoint.save_vae(str(fake), params, meta)
  # Even a metadata.json that says we wrote it proves nothing without the
  # manifest of params/ that a save writes.
  (fake / 'metadata.json').write_text(
      '{"format_version": 3, "written_by": "lstsaug_jax"}')
  with pytest.raises(checkpoint.CheckpointError, match='lists no parameter'):
    checkpoint.save_vae(str(fake), params, meta)
  # Nor one whose manifest names files that params/ does not hold as listed.
  (fake / 'params' / 'weights').write_text('12345')
  for listed in ({'params/weights': {'size': 3}},
                 {'params/other': {'size': 5}}):
    (fake / 'metadata.json').write_text(json.dumps(
        {'format_version': 3, 'written_by': 'lstsaug_jax', 'files': listed}))
    with pytest.raises(checkpoint.CheckpointError,
                       match='does not hold exactly the files'):
      checkpoint.save_vae(str(fake), params, meta)
  assert (fake / 'params' / 'weights').read_text() == '12345'
  (fake / 'params' / 'weights').unlink()
  assert (fake / 'NOTES.txt').read_text() == 'my notes'
  assert sorted(os.listdir(fake)) == ['NOTES.txt', 'metadata.json', 'params']


def test_files_a_user_adds_to_a_checkpoint_survive_or_the_save_refuses(
    tiny_config, tmp_path):
  params, meta = make(tiny_config)
  path = tmp_path / 'ckpt'
  checkpoint.save_vae(str(path), params, meta)
  (path / 'NOTES.txt').write_text('how I trained it')
  with pytest.raises(checkpoint.CheckpointError,
                     match=r'also holds files that it did not write '
                     r'\(NOTES.txt\)'):
    checkpoint.save_vae(str(path), params, meta)
  assert (path / 'NOTES.txt').read_text() == 'how I trained it'
  restore(str(path), meta)  # still restores
  # A file added to params/ breaks the proof too: never removed.
  (path / 'NOTES.txt').unlink()
  (path / 'params' / 'mine.txt').write_text('x')
  with pytest.raises(checkpoint.CheckpointError, match='does not hold exactly'):
    checkpoint.save_vae(str(path), params, meta)
  assert (path / 'params' / 'mine.txt').read_text() == 'x'


def test_a_file_added_while_a_save_replaces_the_old_one_is_kept(
    tiny_config, tmp_path, monkeypatch):
  params, meta = make(tiny_config)
  path = tmp_path / 'ckpt'
  checkpoint.save_vae(str(path), params, meta)
  real_rename = os.rename

  def rename(a, b):  # a user's file lands in the old copy as it is retired
    real_rename(a, b)
    if a == str(path):
      with open(os.path.join(b, 'late.txt'), 'w') as f:
        f.write('late')
  monkeypatch.setattr(os, 'rename', rename)
  checkpoint.save_vae(str(path), params, meta)
  monkeypatch.undo()
  kept = [d for d in os.listdir(tmp_path) if d.startswith('.ckpt.old-')]
  assert len(kept) == 1
  assert os.listdir(tmp_path / kept[0]) == ['late.txt']  # only ours went
  restore(str(path), meta)


def test_an_edited_metadata_file_is_refused(tiny_config, tmp_path):
  params, meta = make(tiny_config)
  path = str(tmp_path / 'ckpt')
  checkpoint.save_vae(path, params, meta)
  meta_path = os.path.join(path, checkpoint.METADATA)
  with open(meta_path) as f:
    saved = json.load(f)
  saved['vae.output_activation'] = 'sigmoid'
  with open(meta_path, 'w') as f:
    json.dump(saved, f)
  with pytest.raises(checkpoint.CheckpointError,
                     match='was changed after the checkpoint was saved'):
    checkpoint.restore_vae(path, None)


@pytest.mark.parametrize('arch, hidden', [('mlp', (16, 8)),
                                          ('conv', (4, 8))])
def test_every_architecture_loads_through_both_paths(tiny_config, tmp_path,
                                                     arch, hidden):
  # The command line's restore (expected metadata from the config) and the
  # API's (the checkpoint's own) rebuild the same module with build_vae.
  import lstsaug_jax as lsa  # pylint: disable=g-import-not-at-top
  tiny_config.vae.arch, tiny_config.vae.hidden_dims = arch, hidden
  params, meta = make(tiny_config, toy_dataset(length=16))
  path = str(tmp_path / arch)
  checkpoint.save_vae(path, params, meta)
  model, restored, _ = checkpoint.restore_vae(path, meta)
  assert model == checkpoint.build_vae(meta) and model.arch == arch
  jax.tree_util.tree_map(np.testing.assert_array_equal, params, restored)
  vae = lsa.load_vae(path)
  assert vae.model == model
  jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(a[0], b),
                         params, vae.params)
  # The API's save is read by the command line's restore.
  vae.save(str(tmp_path / 'again'))
  again = dict(meta, seeds=meta['seeds'][:1], num_seeds=1)
  assert checkpoint.restore_vae(str(tmp_path / 'again'), again)[0] == model
  # A config of the other architecture is told apart by name.
  other = dict(meta, **{'vae.arch': 'conv' if arch == 'mlp' else 'mlp'})
  if other['vae.arch'] == 'mlp':
    del other['vae.arch']
  with pytest.raises(checkpoint.CheckpointError, match='vae.arch: checkpoint '
                     f"has '{arch}'"):
    checkpoint.restore_vae(path, other)


def test_the_lock_keeps_a_second_run_out_until_the_first_is_done(tmp_path):
  path = str(tmp_path / 'ckpt')
  with ownership.locked(path):
    with pytest.raises(checkpoint.CheckpointError,
                       match='being saved or read by another run'):
      with ownership.locked(path):
        pass
  with ownership.locked(path):  # released
    pass
  assert os.listdir(tmp_path) == []
