"""Every field and its default: the package's defaults
(lstsaug_jax/defaults.py), which every other config starts from.

  python -m lstsaug_jax.main --config=configs/default.py --config.dataset=GunPoint
"""

from lstsaug_jax.defaults import get_config  # pylint: disable=unused-import
