"""Every experiment sweep, selected by a config string:

  python -m lstsaug_jax.experiments --config=configs/experiments/sweep.py:methods
  python -m lstsaug_jax.experiments --config=configs/experiments/sweep.py:methods_final,other12
  python -m lstsaug_jax.experiments --config=configs/experiments/sweep.py:methods_average,other12,seeds45
  python -m lstsaug_jax.experiments --config=configs/experiments/sweep.py:methods,other12,classic
  python -m lstsaug_jax.experiments --config=configs/experiments/sweep.py:minirocket,ratio16

The string is a protocol (PROTOCOLS: how every run trains, the part of the
config that its rows' hash covers), then, in any order, a dataset group
(GROUPS; each protocol has a default), a seed set (SEED_SETS; 42-44 by
default), a method set (METHOD_SETS; each protocol has a default) and a
regime (REGIMES: imbalance ratio 4 or 16, or 2-16 shots per class; its
method set is the default then, as the imbalance methods are for the
imbalanced group). The results CSV is
results/experiments/PROTOCOL[_GROUP][_REGIME][_SEEDS].csv, the group and
seeds named only when not the defaults: a method set adds its rows to the
protocol's CSV. Any field can still be overridden, e.g.
--config.data_dir=DATA_DIR or --config.sweep.datasets=GunPoint,CBF.

Rough times on a 2-core CPU, three seeds: cpu_small or methods, baseline
and one method, 15-25 minutes; every method of `methods` on the 14, 4-6
hours; the other 12 take about three times as long (longer series).
Resumable: a killed sweep reruns only the rows its CSV lacks.
"""

from lstsaug_jax.experiments import defaults

GROUPS = {
    # The 14 shared datasets with the fewest training values (series x
    # length): where the methods were developed.
    'cpu_small': (
        'Chinatown', 'ItalyPowerDemand', 'SmoothSubspace',
        'SonyAIBORobotSurface1', 'MoteStrain', 'TwoLeadECG', 'ECGFiveDays',
        'CBF', 'GunPoint', 'ECG200', 'Coffee', 'ArrowHead', 'Plane',
        'SyntheticControl'),
    # The other 12 of the 26 development datasets, kept for checking.
    'other12': (
        'Beef', 'BeetleFly', 'DiatomSizeReduction', 'DodgerLoopGame',
        'FaceFour', 'Lightning7', 'Meat', 'OSULeaf',
        'PickupGestureWiimoteZ', 'ToeSegmentation1', 'Trace', 'Wine'),
}
GROUPS['dev26'] = tuple(sorted(GROUPS['cpu_small'] + GROUPS['other12']))
# Naturally imbalanced UCR datasets (largest over smallest class 1.8 to
# 33.8), a data_dir of their own: --config.data_dir=DATA_DIR/imbalanced.
GROUPS['imbalanced'] = ('Earthquakes', 'MedicalImages', 'DistalPhalanxTW',
                        'ProximalPhalanxOutlineCorrect', 'Strawberry')

# Training sets made smaller (docs/data.md): controlled imbalance, or k
# series per class; each seed draws its own (subsample_seed=-1).
REGIMES = {
    'ratio4': dict(imbalance_ratio=4.0), 'ratio16': dict(imbalance_ratio=16.0),
    **{f'shots{k}': dict(shots=k) for k in (2, 4, 8, 16)}}

# The first of num_seeds seeds.
SEED_SETS = {'seeds42': 42, 'seeds45': 45}

AUTO_JITTER = 'auto(candidates=("jitter(mode=online)",))'
CLASSIC = ('jitter', 'scaling', 'magnitude_warp', 'time_warp',
           'window_slice', 'window_warp', 'mixup')
METHOD_SETS = {
    'none': (),  # the baseline alone
    'noise': ('latent(noise=0.01)', 'latent(noise=0.1)', 'latent(noise=0.5)'),
    'all': ('latent', 'latent_class', 'latent(mode=online)') + CLASSIC
           + ('auto',),
    'latent': ('latent', 'latent_class', 'latent(mode=online)'),
    'classic': CLASSIC,
    'online': ('jitter(mode=online)', 'window_slice(mode=online)',
               'magnitude_warp(mode=online)'),
    'filter': ('latent(label_filter=baseline)',
               'window_slice(label_filter=baseline)'),
    'contender': ('jitter(mode=online)',),
    'sigma': ('jitter(mode=online, sigma=0.01)',),
    'final': ('jitter(mode=online)', 'latent', AUTO_JITTER),
    'conv': ('latent', 'latent(mode=online)', 'latent(weight=0.5)'),
    'contrastive': ('latent_class',),
    # Class imbalance: the baselines a reviewer asks for, then methods that
    # bring every class up to the largest (strategy=auto).
    'imbalance': ('class_weight', 'ros', 'smote', 'adasyn',
                  'latent(strategy=auto)', 'latent_class(strategy=auto)',
                  'window_warp(strategy=auto)'),
    # A few series per class (balanced): one new series per original.
    'few_shot': ('latent', 'latent_class', 'window_warp'),
}


def fawaz2019(c):
  """Fawaz et al. (2019)'s ResNet protocol: Wang et al.'s ResNet, 1500
  epochs, mini-batches of min(n_train / 10, 64), Adam at 1e-3 halved when
  the epoch's training loss has not improved for 50 epochs (to 1e-4), the
  lowest-training-loss model. The VAE keeps the LSTSAUG defaults."""
  c.num_seeds = 3
  k = c.classifier
  k.arch, k.num_epochs, k.batch_size, k.max_batch_fraction = (
      'resnet_wang', 1500, 64, 0.1)
  k.learning_rate, k.plateau_factor, k.plateau_patience = 1e-3, 0.5, 50
  k.min_learning_rate, k.model_selection = 1e-4, 'min_train_loss'


def cpu_small(c):
  """fawaz2019 cut to 40 classifier epochs (plateau patience 5)."""
  fawaz2019(c)
  c.classifier.num_epochs, c.classifier.plateau_patience = 40, 5


def cpu_small_validation(c):
  """cpu_small evaluated on a quarter of each training set held out: the
  setting to report is chosen there, never on the test set."""
  cpu_small(c)
  c.validation_fraction = 0.25
  c.sweep.baseline, c.sweep.summarize = False, False


def methods(c):
  """Every method against a strong baseline: a batch floor of 8 series
  (batch = min(n, max(8, min(64, n / 10)))), a budget in gradient steps
  (every method takes the baseline's steps on the originals: 40 epochs, at
  least 300 steps), the lowest-training-loss model. The VAE's KL weight
  is 0.01: over the 14 datasets it raises the median reconstruction R^2 of
  the training series from 0.75 (beta = 1) to 0.995, against 0.98 at 0.1
  (benchmarks/results/vae_quality/cpu_small.json, r2_train); the choice
  reads the training series only."""
  cpu_small(c)
  k = c.classifier
  k.min_batch_size, k.budget, k.min_steps = 8, 'steps', 300
  c.vae.beta = 0.01


def methods_contrastive(c):
  """methods with a contrastive term on the VAE's encoder means (for
  latent_class); the classifiers train as in methods, so summarize reads
  its CSV beside methods'."""
  methods(c)
  c.vae.contrastive_weight = 1.0
  c.sweep.baseline = False


def methods_conv(c):
  """methods with the convolutional VAE (hidden channels 32, 64, 64)."""
  methods(c)
  c.vae.arch, c.vae.hidden_dims = 'conv', (32, 64, 64)
  c.sweep.baseline = False


def methods_final(c):
  """methods_conv's VAE and the final model for every arm: no epoch is
  chosen (the lowest-loss rule picks epochs by a loss that, on the fly,
  mixes fresh synthetic series)."""
  methods_conv(c)
  c.classifier.model_selection = 'final'
  c.sweep.baseline = True


def methods_average(c):
  """methods_final with the mean of the last quarter's weights (Polyak
  averaging), BatchNorm statistics averaged with them, as the committed
  rows ran."""
  methods_final(c)
  c.classifier.model_selection = 'average'
  c.classifier.average_batch_stats = 'average'


def methods_average_recompute(c):
  """methods_average with the BatchNorm statistics recomputed on the
  training set for the averaged weights (the default rule)."""
  methods_average(c)
  c.classifier.average_batch_stats = 'recompute'


def minirocket(c):
  """aeon's MiniRocket downstream (classifier.arch='minirocket'; five
  seeds: it fits in seconds), the VAE as in methods (KL weight 0.01)."""
  methods(c)
  c.classifier.arch = 'minirocket'
  c.num_seeds = 5


# name -> (the fields it sets, its default group, its default methods)
PROTOCOLS = {
    'fawaz2019': (fawaz2019, 'dev26', ('latent(noise=0.1)',
                                       'latent(noise=0.5)')),
    'cpu_small': (cpu_small, 'cpu_small', ('latent(noise=0.1)',)),
    'cpu_small_validation': (cpu_small_validation, 'cpu_small',
                             METHOD_SETS['noise']),
    'methods': (methods, 'cpu_small', METHOD_SETS['all']),
    'methods_contrastive': (methods_contrastive, 'cpu_small',
                            METHOD_SETS['contrastive']),
    'methods_conv': (methods_conv, 'cpu_small', METHOD_SETS['conv']),
    'methods_final': (methods_final, 'cpu_small', METHOD_SETS['final']),
    'methods_average': (methods_average, 'cpu_small',
                        METHOD_SETS['contender']),
    'methods_average_recompute': (methods_average_recompute, 'cpu_small',
                                  METHOD_SETS['none']),
    'minirocket': (minirocket, 'dev26', METHOD_SETS['imbalance']),
}


def parse(arg):
  """(protocol, group, seed set, method set or None, regime or None) of
  a config string; a ValueError naming the choices for anything else."""
  tokens = [t.strip() for t in (arg or 'methods').split(',') if t.strip()]
  protocol, rest = tokens[0], tokens[1:]
  if protocol not in PROTOCOLS:
    raise ValueError(f'{protocol!r} is not a sweep protocol; they are '
                     f'{sorted(PROTOCOLS)}.')
  group, seeds, method_set, regime = (PROTOCOLS[protocol][1], 'seeds42',
                                     None, None)
  for token in rest:
    if token in GROUPS:
      group = token
    elif token in REGIMES:
      regime = token
    elif token in SEED_SETS:
      seeds = token
    elif token in METHOD_SETS:
      method_set = token
    else:
      raise ValueError(
          f'{token!r} in {arg!r} is not a dataset group {sorted(GROUPS)}, '
          f'a seed set {sorted(SEED_SETS)}, a method set '
          f'{sorted(METHOD_SETS)} or a regime {sorted(REGIMES)}.')
  return protocol, group, seeds, method_set, regime


def csv_name(protocol, group, seeds, regime=None):
  parts = [protocol]
  if group != PROTOCOLS[protocol][1]:
    parts.append(group)
  if regime:
    parts.append(regime)
  if seeds != 'seeds42':
    parts.append(seeds)
  return f'results/experiments/{"_".join(parts)}.csv'


def get_config(arg='methods'):
  protocol, group, seeds, method_set, regime = parse(arg)
  apply, _, default_methods = PROTOCOLS[protocol]
  config = defaults.get_config()
  apply(config)
  if regime:
    config.update(REGIMES[regime])
    default_methods = METHOD_SETS['few_shot' if 'shots' in regime
                                  else 'imbalance']
  elif group == 'imbalanced':
    # Naturally imbalanced sets are compared with the resampling baselines,
    # as the controlled-imbalance regimes are.
    default_methods = METHOD_SETS['imbalance']
  config.seed = SEED_SETS[seeds]
  config.sweep.datasets = GROUPS[group]
  config.sweep.augmentations = (METHOD_SETS[method_set] if method_set
                                else default_methods)
  config.sweep.results_csv = csv_name(protocol, group, seeds, regime)
  return config
