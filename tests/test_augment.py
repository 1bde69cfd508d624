import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lstsaug_jax import augment
from lstsaug_jax import models
from lstsaug_jax import specs
from lstsaug_jax import train
from lstsaug_jax.errors import ConfigError


def setup():
  vae = models.VAE(series_length=12, num_classes=3, latent_dim=4,
                   hidden_dims=(16, 8))
  x = jax.random.normal(jax.random.PRNGKey(0), (7, 1, 12))
  y = np.array([0, 1, 2, 0, 1, 2, 0], np.int32)
  params = vae.init(jax.random.PRNGKey(1), x, jax.random.PRNGKey(2))['params']
  return vae, params, x, y


def stacked(tree, k=1):
  return jax.tree_util.tree_map(lambda a: jnp.stack([a] * k), tree)


def latent_sets(vae, params, x, y, keys, **settings):
  """Each seed's fixed training set under Latent(**settings)."""
  probs = jax.nn.one_hot(y, 3)
  return augment.fixed_sets(augment.Latent(**settings), keys, x, probs, vae,
                            params)


def augment_one(vae, params, x, y, key, **settings):
  x_aug, y_aug, w_aug = latent_sets(vae, stacked(params), x, y, key[None],
                                    **settings)
  np.testing.assert_array_equal(w_aug, 1.0)
  return np.asarray(x_aug[0]), np.asarray(y_aug[0]).argmax(-1)


def test_augmented_set_shape_and_labels():
  vae, params, x, y = setup()
  x_aug, y_aug = augment_one(vae, params, x, y, jax.random.PRNGKey(3),
                             noise=0.1, num_samples=3)
  assert x_aug.shape == (7 * 4, 1, 12)
  # The originals come first, each exactly once, then 3 draws per series.
  np.testing.assert_array_equal(x_aug[:7], np.asarray(x))
  np.testing.assert_array_equal(y_aug, np.tile(y, 4))
  assert not np.isnan(x_aug).any()
  # The synthetic series are the latent neighbours, draw by draw.
  neighbours = augment.latent_neighbours(vae, params, x,
                                         jax.random.PRNGKey(3), noise=0.1,
                                         num_samples=3)
  np.testing.assert_allclose(x_aug[7:],
                             np.asarray(neighbours).reshape(21, 1, 12),
                             rtol=1e-6, atol=1e-6)


def test_each_seed_augments_with_its_own_vae_and_key():
  vae, params, x, y = setup()
  other = jax.tree_util.tree_map(lambda a: a * 1.5, params)
  both = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), params, other)
  keys = jnp.stack([jax.random.PRNGKey(3), jax.random.PRNGKey(4)])
  x_aug, _, _ = latent_sets(vae, both, x, y, keys, noise=0.1,
                            num_samples=2)
  assert x_aug.shape == (2, 21, 1, 12)
  alone, _ = augment_one(vae, other, x, y, keys[1], noise=0.1, num_samples=2)
  np.testing.assert_allclose(x_aug[1], alone, rtol=1e-5, atol=1e-5)


def test_neighbours_shape_and_noise_zero_is_the_decoded_sample():
  vae, params, x, _ = setup()
  key = jax.random.PRNGKey(4)
  neighbours = augment.latent_neighbours(vae, params, x, key, noise=0.0,
                                         num_samples=5)
  assert neighbours.shape == (5, 7, 1, 12)
  # With no noise every draw is the decoded latent sample z ~ q(z|x).
  sample_key, _ = jax.random.split(key)
  mean, logvar = vae.apply({'params': params}, x, method=models.VAE.encode)
  z = models.reparameterise(sample_key, mean, logvar)
  decoded = vae.apply({'params': params}, z, method=models.VAE.decode)
  for draw in neighbours:
    np.testing.assert_allclose(draw, decoded, rtol=1e-6, atol=1e-6)


def test_noise_moves_neighbours_in_proportion():
  vae, params, x, _ = setup()
  key = jax.random.PRNGKey(5)
  base = augment.latent_neighbours(vae, params, x, key, noise=0.0,
                                   num_samples=4)
  spread = []
  for noise in (0.01, 1.0):
    n = augment.latent_neighbours(vae, params, x, key, noise=noise,
                                  num_samples=4)
    spread.append(float(jnp.mean(jnp.abs(n - base))))
    assert not np.allclose(n[0], n[1])  # draws differ from each other
  assert 0 < spread[0] < spread[1]


def test_same_key_same_output_other_key_other_output():
  vae, params, x, y = setup()
  a = augment_one(vae, params, x, y, jax.random.PRNGKey(6), noise=0.1,
                  num_samples=2)[0]
  b = augment_one(vae, params, x, y, jax.random.PRNGKey(6), noise=0.1,
                  num_samples=2)[0]
  c = augment_one(vae, params, x, y, jax.random.PRNGKey(7), noise=0.1,
                  num_samples=2)[0]
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a[7:], c[7:])


# --- Class-conditional latent sampling ---------------------------------------


def hand_made_state(method, separation=10.0, scale=0.5):
  """Two classes of three series each, encoder means at x = -s/2 and +s/2
  (latent 2-D), each with posterior standard deviation `scale`."""
  vae = models.VAE(series_length=5, num_classes=2, latent_dim=2,
                   hidden_dims=(4,))
  params = vae.init(jax.random.PRNGKey(0), jnp.zeros((1, 1, 5)),
                    jax.random.PRNGKey(1))['params']
  means = jnp.array([[-separation / 2, 0.0]] * 3 + [[separation / 2, 0.0]] * 3)
  means = means + jnp.array([[0, -1.0], [0, 0], [0, 1.0]] * 2)
  members = jax.nn.one_hot(jnp.array([0, 0, 0, 1, 1, 1]), 2)
  class_means = jnp.array([[-separation / 2, 0.0], [separation / 2, 0.0]])
  cov = jnp.stack([jnp.diag(jnp.array([1e-4, 2 / 3 + 1e-4]))] * 2)
  return augment.ClassModelState(
      params=params, means=means, scales=jnp.full((6, 2), scale),
      members=members, class_means=class_means,
      class_chol=jnp.linalg.cholesky(method.alpha * cov), model=vae)


def test_latent_class_fit_builds_each_class_model():
  vae = models.VAE(series_length=5, num_classes=2, latent_dim=2,
                   hidden_dims=(4,))
  params = vae.init(jax.random.PRNGKey(0), jnp.zeros((1, 1, 5)),
                    jax.random.PRNGKey(1))['params']
  x = jax.random.normal(jax.random.PRNGKey(2), (6, 1, 5))
  y = jax.nn.one_hot(jnp.array([0, 1, 0, 1, 1, 1]), 2)
  state = augment.LatentClass(alpha=2.0).fit(x, y, (vae, params))
  mean, logvar = vae.apply({'params': params}, x, method=models.VAE.encode)
  np.testing.assert_allclose(state.means, mean, rtol=1e-6)
  np.testing.assert_allclose(state.scales, np.exp(0.5 * logvar), rtol=1e-6)
  np.testing.assert_allclose(state.class_means[0], mean[jnp.array([0, 2])].mean(0),
                             rtol=1e-5)
  cov = np.cov(np.asarray(mean)[[1, 3, 4, 5]].T, bias=True) + 1e-4 * np.eye(2)
  chol = np.asarray(state.class_chol[1])
  np.testing.assert_allclose(chol @ chol.T, 2.0 * cov, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('density', ['mixture', 'gaussian'])
def test_latent_class_draws_from_its_class_and_alpha_widens_them(density):
  classes = jnp.array([0] * 2000 + [1] * 2000)
  spreads = []
  for alpha in (1.0, 4.0):
    method = augment.LatentClass(alpha=alpha, density=density)
    state = hand_made_state(method)
    z = np.asarray(method.draw(state, jax.random.PRNGKey(0), classes))
    # Well separated: every draw sits on its own class's side...
    assert (z[:2000, 0] < 0).all() and (z[2000:, 0] > 0).all()
    # ...and the own class is by far the more likely.
    logp = np.asarray(method.log_density(state, jnp.asarray(z)))
    assert (logp[np.arange(4000), np.asarray(classes)]
            > logp[np.arange(4000), 1 - np.asarray(classes)]).all()
    spreads.append(z[:2000, 1].std())
  if density == 'mixture':
    # Along y: the mix of the three components (-1, 0, 1), each with
    # variance alpha * 0.25.
    expected = [np.sqrt(2 / 3 + a * 0.25) for a in (1.0, 4.0)]
  else:
    expected = [np.sqrt(a * (2 / 3 + 1e-4)) for a in (1.0, 4.0)]
  np.testing.assert_allclose(spreads, expected, rtol=0.06)


def test_the_filters_rejection_rate_rises_with_the_margin():
  accepted = []
  classes = jnp.array([0, 1] * 500)
  y = jax.nn.one_hot(classes, 2)
  x = jnp.zeros((1000, 1, 5))
  for margin in (0.0, 2.0, 8.0):
    # Overlapping classes: many draws are ambiguous.
    method = augment.LatentClass(margin=margin, candidates=1)
    state = hand_made_state(method, separation=1.0, scale=1.0)
    xs, ys, w = method.sample(state, jax.random.PRNGKey(3), x, y)
    assert xs.shape == (1000, 1, 5)
    np.testing.assert_array_equal(ys, y)
    accepted.append(float(w.mean()))
  assert 1.0 > accepted[0] > accepted[1] > accepted[2]
  # More candidates per slot: more slots filled at the same margin.
  method = augment.LatentClass(margin=2.0, candidates=8)
  _, _, w = method.sample(hand_made_state(method, 1.0, 1.0),
                          jax.random.PRNGKey(3), x, y)
  assert float(w.mean()) > accepted[1]


def test_latent_class_fixed_set_is_class_balanced_or_topped_up():
  y = jax.nn.one_hot(jnp.array([0] * 6 + [1] * 2), 2)
  assert np.bincount(augment.LatentClass().targets(y)).tolist() == [4, 4]
  assert np.bincount(augment.LatentClass(num_samples=2).targets(
      y)).tolist() == [8, 8]
  assert np.bincount(augment.LatentClass(top_up=True).targets(
      y)).tolist() == [4, 8]
  method = augment.LatentClass()
  state = hand_made_state(method)
  x = jnp.zeros((8, 1, 5))
  fixed = jax.jit(method.fixed)
  x_aug, y_aug, w_aug = fixed(state, jax.random.PRNGKey(0),
                              *method.slots(x, y))
  assert x_aug.shape == (8, 1, 5)
  assert np.asarray(y_aug).argmax(-1).tolist() == [0] * 4 + [1] * 4
  np.testing.assert_array_equal(w_aug, 1.0)  # well separated: all kept
  again = fixed(state, jax.random.PRNGKey(0), *method.slots(x, y))
  np.testing.assert_array_equal(again[0], x_aug)


def test_settings_that_differ_only_in_value_share_one_fixed_set_program():
  vae, params, x, y = setup()
  probs = jax.nn.one_hot(y, 3)
  keys = jax.random.PRNGKey(3)[None]
  before = augment._fixed_sets._cache_size()
  sets = {noise: augment.fixed_sets(augment.Latent(noise=noise), keys, x,
                                    probs, vae, stacked(params))[0]
          for noise in (0.1, 0.5)}
  assert augment._fixed_sets._cache_size() == before + 1
  # ...and each noise value still acts: the draws are its neighbours.
  for noise, x_aug in sets.items():
    want = augment.latent_neighbours(vae, params, x, jax.random.PRNGKey(3),
                                     noise=noise, num_samples=1)
    np.testing.assert_allclose(x_aug[0, 7:], want[0], rtol=1e-5, atol=1e-5)
  # A transform's sigma (no VAE) as well; its other settings stay static.
  before = augment._fixed_sets._cache_size()
  jittered = [augment.fixed_sets(augment.make_method('jitter', sigma=sigma),
                                 keys, x, probs)[0] for sigma in (0.0, 2.0)]
  assert augment._fixed_sets._cache_size() == before + 1
  np.testing.assert_array_equal(jittered[0][0, 7:], x)
  assert float(jnp.std(jittered[1][0, 7:] - x)) > 1.0
  method = augment.make_method('window_slice', reduce_ratio=0.5)
  assert method.split() == (method, {})


# --- Online augmentation, specs ----------------------------------------------


def test_online_batch_replaces_a_share_with_weighted_synthetic_series():
  method = augment.make_method('jitter', sigma=1.0)
  online = train.Online(method, share=0.25, weight=0.5)
  x = jnp.zeros((8, 1, 6))
  y = jax.nn.one_hot(jnp.arange(8) % 2, 2)
  w = jnp.array([1.0] * 7 + [0.0])  # the last row is padding
  xb, yb, wb = train.online_batch(online, (), jax.random.PRNGKey(0), x, y, w)
  assert not np.allclose(xb[:2], 0) and np.allclose(xb[2:], 0)
  np.testing.assert_array_equal(yb, y)
  np.testing.assert_array_equal(wb, [0.5, 0.5, 1, 1, 1, 1, 1, 0])


def test_an_online_epoch_trains_on_fresh_synthetic_series():
  model = models.create_classifier('resnet_tiny', 2)
  tx = optax.sgd(0.1)
  x = jax.random.normal(jax.random.PRNGKey(0), (8, 1, 16))
  y = jax.nn.one_hot(jnp.arange(8) % 2, 2)
  keys = jax.random.split(jax.random.PRNGKey(1), 1)
  results = []
  for online in (None, train.Online(augment.make_method('jitter', sigma=0.0),
                                    share=1.0),
                 train.Online(augment.make_method('jitter', sigma=1.0),
                              share=1.0)):
    states = train.init_states(model, tx, keys, lambda k: (x[:1],))
    epoch = train.make_epoch_fn(train.classifier_train_step, model, tx, 4,
                                online=online)
    aug_states = None if online is None else ()
    results.append(epoch(states, x, y, keys, 0, None, aug_states)[0].params)
  leaves = [jax.tree_util.tree_leaves(r) for r in results]
  # jitter with sigma 0 changes nothing; sigma 1 changes the training.
  for a, b in zip(leaves[0], leaves[1]):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  assert any(not np.allclose(a, c) for a, c in zip(leaves[0], leaves[2]))


def test_label_filter_is_a_fixed_set_setting_and_old_keys_still_match():
  # The CSV key of every method at its defaults is what it was before
  # label_filter existed, so earlier sweeps' rows resume and summarise.
  assert specs.make_augmentation('latent').key == (
      "mode='fixed';noise=0.1;num_samples=1;share=0.5;weight=1.0")
  aug = specs.make_augmentation('latent(label_filter=baseline)')
  assert aug.label_filter == 'baseline'
  assert "label_filter='baseline'" in aug.key
  assert aug.label == "latent(label_filter='baseline')"
  with pytest.raises(ConfigError, match="mode='fixed'"):
    specs.make_augmentation('jitter(label_filter=baseline, mode=online)')
  with pytest.raises(ConfigError, match='label_filter'):
    specs.make_augmentation('jitter(label_filter=vae)')


def test_a_zero_weight_is_refused_as_the_baseline_in_disguise():
  # With weight 0 no synthetic series counts, so the run is the baseline
  # and synthetic_accepted (the share of weights > 0) would read 0.
  with pytest.raises(ConfigError, match=r'weight=0.0 must be > 0.*baseline'):
    specs.make_augmentation('jitter(weight=0)')
  with pytest.raises(ConfigError, match='weight=-1.0'):
    specs.make_augmentation('latent(weight=-1, mode=online)')
  assert specs.make_augmentation('jitter(weight=0.25)').weight == 0.25


def test_specs_parse_name_settings_and_training():
  aug = specs.make_augmentation(
      "latent_class(alpha=2, density=gaussian, mode=online, share=0.25)")
  assert aug.name == 'latent_class' and aug.online and aug.share == 0.25
  assert aug.method == augment.LatentClass(alpha=2.0, density='gaussian')
  assert aug.label == "latent_class(alpha=2, density='gaussian', " \
                      "mode='online', share=0.25)"
  # One spelling per setting: 2 and 2.0 are the same run.
  assert aug.key == specs.make_augmentation(
      'latent_class(share=0.25, mode=online, density=gaussian, '
      'alpha=2.0)').key
  warp = specs.make_augmentation('window_warp(scales=(0.25, 4.0))')
  assert warp.method.settings == (('scales', (0.25, 4.0)),
                                  ('window_ratio', 0.1))
  assert specs.make_augmentation('latent', dict(noise=0.3)).label == (
      'latent(noise=0.3)')
