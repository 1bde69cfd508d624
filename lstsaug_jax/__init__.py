"""Latent-space data augmentation for time-series classification, in JAX/Flax.

  import lstsaug_jax as lsa
  d = lsa.load_dataset('synthetic:cbf')
  vae = lsa.fit_vae(d.x_train, d.y_train, seed=0)
  x_new, y_new = lsa.generate(vae, d.x_train, d.y_train, 0, method='latent')

See README "Python API".
"""

__version__ = '0.2.0'

from lstsaug_jax import transforms
from lstsaug_jax.api import export
from lstsaug_jax.api import fit_vae
from lstsaug_jax.api import generate
from lstsaug_jax.api import load_dataset
from lstsaug_jax.api import load_vae
from lstsaug_jax.api import make_config
from lstsaug_jax.api import run
from lstsaug_jax.api import TrainedVAE
from lstsaug_jax.augment import METHODS
from lstsaug_jax.augment import method_settings
from lstsaug_jax.errors import LstsaugError

__all__ = ['export', 'fit_vae', 'generate', 'load_dataset', 'load_vae',
           'make_config', 'run', 'TrainedVAE', 'METHODS', 'method_settings',
           'transforms', 'LstsaugError']
