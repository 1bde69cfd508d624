"""The default configuration: the original LSTSAUG script's defaults.

The one default every config starts from (configs/default.py returns it;
the Python API uses it when given no config). Every field can be overridden
on the command line, e.g. `--config.num_epochs=50
--config.classifier.arch=resnet_wang`. The config is locked, so a misspelt
field is an error rather than silently ignored.
"""

import ml_collections
from ml_collections import config_dict


def get_config():
  config = ml_collections.ConfigDict()

  # Data and outputs.
  config.data_dir = 'data'  # holds UCRArchive_2018/{dataset}/{dataset}_TRAIN.tsv
  config.dataset = 'Symbols'
  # 'series': z-normalise each channel of each series (the UCR convention;
  # several 2018 datasets are not normalised); 'channel': each channel with
  # the training set's mean and standard deviation (keeps the differences
  # in level between series, which carry the class in some multivariate
  # data, e.g. JapaneseVowels); 'none'.
  config.normalisation = 'series'
  # NaN gaps inside a series: 'interpolate' (linearly) or 'error'.
  config.missing_values = 'interpolate'
  # Series of unequal length (NaN-padded): 'resample' every series to the
  # longest training length (the archive's suggestion) or 'error'.
  config.variable_length = 'resample'
  # An archive dataset absent from data_dir is fetched from download_url.
  config.download = True
  config.download_url = 'https://timeseriesclassification.com/aeon-toolkit'
  config.download_timeout = 60.0
  # dataset='synthetic:cbf': Cylinder-Bell-Funnel, generated.
  config.synthetic_train_size = 30
  config.synthetic_test_size = 900
  config.synthetic_seed = 0
  # > 0: hold out this fraction of the training set (stratified, seeded by
  # validation_seed) and evaluate on it instead of the test set, which is
  # then not used. For choosing settings without looking at test accuracy.
  config.validation_fraction = 0.0
  config.validation_seed = 0
  # A smaller training set, for the imbalance and few-shot protocols (the
  # test set untouched; docs/data.md): imbalance_ratio > 1 cuts a seeded
  # half of the classes to 1/ratio of the largest class; shots > 0 keeps
  # that many series per class. subsample_seed picks which series (-1: the
  # run's seed, so every seed of a sweep draws its own training set).
  config.imbalance_ratio = 0.0
  config.shots = 0
  config.subsample_seed = -1
  config.model_dir = 'checkpoints'  # trained VAEs (Orbax)
  config.results_dir = 'results'  # one sub-directory per run
  # Explicit VAE checkpoint to save to / restore from; empty: a name derived
  # from the run, under model_dir (see README).
  config.checkpoint_path = ''

  # Shared training fields (the original's command-line arguments).
  config.num_epochs = 400
  config.batch_size = 64
  # The VAE's Adam learning rate. The original hard-coded 1e-2, at which the
  # VAE collapses to its prior on GunPoint (see README); 1e-3 does not.
  config.learning_rate = 1e-3
  config.seed = 42

  # Latent augmentation.
  config.latent_dim = 64
  config.noise = 0.1  # std of the Gaussian added to each latent sample
  config.num_samples = 1  # synthetic series per training series

  # Stages.
  config.baseline = False  # train the classifier on the originals only
  config.test_augment = False  # train the classifier on originals + synthetic
  config.use_trained = False  # restore the VAE checkpoint instead of training
  config.augment_plot = False  # save a PNG of a series and its latent neighbours
  # The augmentation of test_augment, as a spec: a method name and its
  # settings, e.g. 'window_warp', 'latent_class(alpha=1.5, margin=1)',
  # 'latent(mode=online, share=0.5, weight=1)' (docs/methods.md). 'latent'
  # takes noise and num_samples from the fields above.
  config.augment = ml_collections.ConfigDict()
  config.augment.method = 'latent'
  # Write the synthetic training series to {run_dir}/synthetic/ in the UCR
  # layout ({dataset}_TRAIN.tsv; .ts for multivariate data).
  config.export_synthetic = False
  config.plot_neighbours = 5
  config.wandb = False  # also log to Weights & Biases (`pip install wandb`)
  config.wandb_project = 'lstsaug_jax'

  # Test-set evaluation during training, every N epochs (0: only at the end).
  # It is logged only: the reported model is always the final one.
  config.eval_every = 0
  config.eval_batch_size = 512
  config.progress = True  # progress bars

  # Speed and scale.
  # Independent runs (seeds seed, seed+1, ...) trained in one vmapped
  # program; results report mean, std and per-seed values.
  config.num_seeds = 1
  config.num_devices = 0  # 0: all devices; seeds or batches are sharded
  # Multi-host: jax.distributed.initialize() before anything else. Empty / 0
  # / -1 leave a field to JAX's auto-detection (SLURM, Open MPI, TPU pods).
  config.distributed = False
  config.coordinator_address = ''
  config.num_processes = 0
  config.process_id = -1
  # The persistent XLA compilation cache of the command lines, so a rerun
  # compiles nothing: 'auto' ($XDG_CACHE_HOME or ~/.cache/lstsaug_jax/xla,
  # or JAX_COMPILATION_CACHE_DIR when set), 'off', or a folder.
  config.compilation_cache_dir = 'auto'
  # GPU runs that repeat bit for bit: XLA's GPU compiler otherwise picks
  # kernels by timing them, so two runs of one seed can train differently
  # (up to 13 points for one seed on an H100; docs/performance.md "Many
  # seeds, many devices"). No effect on a CPU, which is deterministic
  # anyway.
  config.deterministic = True
  # Classifier and MLP VAE shapes padded to a few buckets (lengths, batch
  # rows, batches per epoch and class heads rounded up; the padding
  # masked), so datasets share compiled programs, with the unpadded results: 'auto' (on GPU and
  # TPU, off on CPU, where the padding's compute costs more than
  # compiling), 'on' or 'off'. See lstsaug_jax/buckets.py.
  config.shape_buckets = 'auto'

  config.vae = ml_collections.ConfigDict()
  # 'mlp' (the original's) or 'conv': convolutions with pooling by 2, whose
  # channels are hidden_dims (e.g. (32, 64, 64)); see docs/configuration.md
  # "Config fields".
  config.vae.arch = 'mlp'
  config.vae.hidden_dims = (256, 128, 64)
  # 'linear' (default) or 'sigmoid' (the original's): a sigmoid cannot produce
  # the negative values of z-normalised series.
  config.vae.output_activation = 'linear'
  config.vae.plateau_factor = 0.1  # reduce-on-plateau on the epoch loss
  config.vae.plateau_patience = 150
  # The weight of the KL term (beta-VAE; 1: the ELBO). Below 1 the decoder
  # reconstructs more closely and the posteriors tighten.
  config.vae.beta = 1.0
  # > 0: a contrastive term on the encoder means (same class: squared
  # distance; different classes: relu(1 - distance)^2), so classes are
  # compact in latent space (for latent_class).
  config.vae.contrastive_weight = 0.0

  config.classifier = ml_collections.ConfigDict()
  config.classifier.arch = 'resnet_lstsaug'  # or 'resnet_wang' (Fawaz et al.)
  config.classifier.learning_rate = 1e-4
  # Unset: the same as num_epochs / batch_size.
  config.classifier.num_epochs = config_dict.placeholder(int)
  config.classifier.batch_size = config_dict.placeholder(int)
  # > 0: the batch is min(batch_size, fraction * training series), at least
  # 1 (Fawaz et al. 2019: 0.1 with batch_size 64). 0: batch_size.
  config.classifier.max_batch_fraction = 0.0
  # A floor under the batch size: min(n, max(min_batch_size, the rule
  # above)). Fawaz et al.'s rule trains sets of 17-20 series at batch 1-2.
  config.classifier.min_batch_size = 1
  # At least this many gradient steps (more epochs for small sets).
  config.classifier.min_steps = 0
  # How augmented runs are budgeted against the baseline: 'epochs' (the
  # original: the same epochs over a larger set, so more steps, and the
  # batch rule applied to the set trained on) or 'steps' (the batch size of
  # the original training set and the baseline's number of gradient steps,
  # so a comparison differs in the data alone).
  config.classifier.budget = 'epochs'
  # The reported model: 'final' (last epoch), 'min_train_loss' (the epoch
  # with the lowest mean training loss, Fawaz et al.'s rule) or 'average'
  # (the mean of the end-of-epoch weights and BatchNorm statistics over the
  # last average_fraction of the epochs). Never chosen by test accuracy.
  config.classifier.model_selection = 'final'
  config.classifier.average_fraction = 0.25
  # With 'average': the BatchNorm statistics of the averaged weights,
  # 'recompute'd on the training set (SWA's bn_update), or the 'average'
  # of the epochs' running statistics (the first version's rule).
  config.classifier.average_batch_stats = 'recompute'
  # 1.0 keeps the learning rate constant (the original's classifier).
  config.classifier.plateau_factor = 1.0
  config.classifier.plateau_patience = 50
  config.classifier.min_learning_rate = 0.0
  # 'auto' (see train.conv_plan), 'matmul' (models.Conv1D) or 'xla'.
  config.classifier.conv_impl = 'auto'

  # A sweep's fields (config.sweep) are in lstsaug_jax/experiments/defaults.py.

  return config
