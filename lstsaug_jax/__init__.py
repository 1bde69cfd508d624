"""Latent-space data augmentation for time-series classification, in JAX/Flax."""

__version__ = '0.1.0'
