"""Latent-space data augmentation for time-series classification, in JAX/Flax.

  import lstsaug_jax as lsa
  d = lsa.load_dataset('synthetic:cbf')
  vae = lsa.fit_vae(d.x_train, d.y_train, seed=0)
  x_new, y_new = lsa.generate(vae, d.x_train, d.y_train, 0, method='latent')

See README "Python API".
"""

import importlib

__version__ = '0.2.0'

# name -> the module that defines it. Imported on first use (PEP 562), so
# that `import lstsaug_jax` is cheap and `python -m lstsaug_jax.data` does
# not find its own module already imported by the package.
_EXPORTS = {
    'export': 'lstsaug_jax.api', 'fit_vae': 'lstsaug_jax.api',
    'generate': 'lstsaug_jax.api', 'load_dataset': 'lstsaug_jax.api',
    'load_vae': 'lstsaug_jax.api', 'make_config': 'lstsaug_jax.api',
    'run': 'lstsaug_jax.api', 'TrainedVAE': 'lstsaug_jax.api',
    'Sampler': 'lstsaug_jax.sampler',
    'METHODS': 'lstsaug_jax.augment',
    'method_settings': 'lstsaug_jax.augment',
    'LstsaugError': 'lstsaug_jax.errors',
    'transforms': None,  # the module lstsaug_jax.transforms itself
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
  if name not in _EXPORTS:
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
  module = importlib.import_module(_EXPORTS[name] or f'{__name__}.{name}')
  value = module if _EXPORTS[name] is None else getattr(module, name)
  globals()[name] = value
  return value


def __dir__():
  return sorted(set(globals()) | set(_EXPORTS))
