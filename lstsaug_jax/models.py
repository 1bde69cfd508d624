"""Flax linen modules: the VAE and the ResNet classifiers. No training logic."""

from collections.abc import Sequence
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from lstsaug_jax.errors import ConfigError

OUTPUT_ACTIVATIONS = {
    'linear': lambda x: x,
    'sigmoid': nn.sigmoid,
    'tanh': nn.tanh,
}


class Encoder(nn.Module):
  """MLP from a series (all its channels, flattened) to the mean and
  log-variance of q(z|x)."""

  hidden_dims: Sequence[int]
  latent_dim: int

  @nn.compact
  def __call__(self, x):
    x = x.reshape(x.shape[0], -1)
    for width in self.hidden_dims:
      x = nn.relu(nn.Dense(width)(x))
    stats = nn.Dense(2 * self.latent_dim)(x)
    mean, logvar = jnp.split(stats, 2, axis=-1)
    return mean, logvar


class Decoder(nn.Module):
  """MLP from a latent point back to a series, (channels, length)."""

  hidden_dims: Sequence[int]
  output_shape: Sequence[int]
  output_activation: str = 'linear'

  @nn.compact
  def __call__(self, z):
    for width in reversed(self.hidden_dims):
      z = nn.relu(nn.Dense(width)(z))
    out = nn.Dense(math.prod(self.output_shape))(z)
    return OUTPUT_ACTIVATIONS[self.output_activation](
        out.reshape(z.shape[:-1] + tuple(self.output_shape)))


def _pool2(x):
  """Average pooling by 2 along the length axis of (batch, length, c)."""
  return x.reshape(x.shape[0], x.shape[1] // 2, 2, x.shape[2]).mean(axis=2)


class ConvEncoder(nn.Module):
  """Convolutional encoder: per width, a 'same' convolution, ReLU and
  average pooling by 2; then a dense layer to the mean and log-variance.
  Its weights are shared along time, so a pattern learnt at one position is
  recognised at another (what an MLP cannot learn from 20 series)."""

  channels: Sequence[int]
  latent_dim: int
  kernel_size: int = 5

  @nn.compact
  def __call__(self, x):
    h = jnp.swapaxes(x, 1, 2)  # (batch, length, channels)
    stride = 2 ** len(self.channels)
    pad = -h.shape[1] % stride
    h = jnp.pad(h, ((0, 0), (0, pad), (0, 0)))
    for width in self.channels:
      h = _pool2(nn.relu(Conv1D(width, self.kernel_size)(h)))
    stats = nn.Dense(2 * self.latent_dim)(h.reshape(h.shape[0], -1))
    mean, logvar = jnp.split(stats, 2, axis=-1)
    return mean, logvar


class ConvDecoder(nn.Module):
  """ConvEncoder's mirror: a dense layer to the shortest length, then per
  width (in reverse) upsampling by 2 and a 'same' convolution with ReLU,
  and a last convolution to the channels."""

  channels: Sequence[int]
  output_shape: Sequence[int]  # (channels, length)
  output_activation: str = 'linear'
  kernel_size: int = 5

  @nn.compact
  def __call__(self, z):
    lead = z.shape[:-1]
    z = z.reshape(-1, z.shape[-1])
    num_channels, length = self.output_shape
    stride = 2 ** len(self.channels)
    short = -(-length // stride)
    h = nn.Dense(short * self.channels[-1])(z)
    h = nn.relu(h.reshape(z.shape[0], short, self.channels[-1]))
    for width in reversed(self.channels):
      h = jnp.repeat(h, 2, axis=1)
      h = nn.relu(Conv1D(width, self.kernel_size)(h))
    out = Conv1D(num_channels, self.kernel_size)(h)[:, :length]
    out = jnp.swapaxes(out, 1, 2).reshape(lead + (num_channels, length))
    return OUTPUT_ACTIVATIONS[self.output_activation](out)


VAE_ARCHS = ('mlp', 'conv')


def reparameterise(key, mean, logvar):
  """A sample of N(mean, exp(logvar)), differentiable in mean and logvar."""
  return mean + jnp.exp(0.5 * logvar) * jax.random.normal(
      key, mean.shape, mean.dtype)


class VAE(nn.Module):
  """VAE with a linear classifier head on the latent sample. Series are
  (batch, channels, length)."""

  series_length: int
  num_classes: int
  num_channels: int = 1
  latent_dim: int = 64
  hidden_dims: Sequence[int] = (256, 128, 64)
  output_activation: str = 'linear'
  # 'mlp' (the original's: hidden_dims are dense widths) or 'conv'
  # (hidden_dims are the channels of each convolution + pooling stage).
  arch: str = 'mlp'

  def setup(self):
    if self.output_activation not in OUTPUT_ACTIVATIONS:
      raise ConfigError(
          f'Unknown VAE output activation {self.output_activation!r}; choose '
          f'one of {sorted(OUTPUT_ACTIVATIONS)} (config.vae.output_activation).')
    shape = (self.num_channels, self.series_length)
    if self.arch == 'conv':
      self.encoder = ConvEncoder(self.hidden_dims, self.latent_dim)
      self.decoder = ConvDecoder(self.hidden_dims, shape,
                                 self.output_activation)
    else:
      self.encoder = Encoder(self.hidden_dims, self.latent_dim)
      self.decoder = Decoder(self.hidden_dims, shape, self.output_activation)
    self.head = nn.Dense(self.num_classes)

  def encode(self, x):
    if x.shape[1:] != (self.num_channels, self.series_length):
      raise ValueError(
          f'The VAE takes series of shape (batch, {self.num_channels}, '
          f'{self.series_length}) (batch, channels, length); got {x.shape}.')
    return self.encoder(x)

  def decode(self, z):
    return self.decoder(z)

  def classify(self, z):
    return self.head(z)

  def __call__(self, x, key):
    mean, logvar = self.encode(x)
    z = reparameterise(key, mean, logvar)
    return self.decode(z), mean, logvar, self.classify(z)


class Conv1D(nn.Module):
  """1-D convolution, 'same' padding, channels last: (batch, length, features).

  'xla' is lax.conv_general_dilated. 'matmul' gathers the k shifted
  windows and does one matrix product: same parameters, same result, and it
  stays fast inside a rolled lax.scan on CPU, where XLA runs a native
  convolution's weight gradient an order of magnitude slower (see
  train.conv_plan).
  """

  features: int
  kernel_size: int
  use_bias: bool = True
  impl: str = 'matmul'

  @nn.compact
  def __call__(self, x):
    k, length, in_features = self.kernel_size, x.shape[-2], x.shape[-1]
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (k, in_features, self.features))
    if self.impl == 'xla':
      y = jax.lax.conv_general_dilated(
          x, kernel, (1,), 'SAME', dimension_numbers=('NWC', 'WIO', 'NWC'))
    else:
      # 'SAME' as XLA and PyTorch pad it: the extra element goes on the right.
      padded = jnp.pad(x, ((0, 0), ((k - 1) // 2, k // 2), (0, 0)))
      windows = jnp.concatenate(
          [padded[:, i:i + length, :] for i in range(k)], axis=-1)
      y = windows @ kernel.reshape(k * in_features, self.features)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,))
    return y


def _zero_padding(x, valid):
  """x with the time steps past each series' length set to 0 (valid:
  (batch or 1, length, 1) booleans, or None: nothing padded)."""
  return x if valid is None else jnp.where(valid, x, 0.0)


class ResidualBlock(nn.Module):
  """Convolutions with BatchNorm, summed with a (projected) shortcut."""

  features: int
  kernel_sizes: Sequence[int]
  # Wang et al.'s block batch-normalises the identity shortcut too.
  norm_identity_shortcut: bool = False
  conv_impl: str = 'matmul'

  @nn.compact
  def __call__(self, x, *, train, mask=None, valid=None):
    """mask: the BatchNorm statistics' positions; valid: the time steps
    that are not padding (zeroed after every layer, so each convolution
    sees the zeros its 'same' padding would)."""
    norm = functools.partial(
        nn.BatchNorm, use_running_average=not train, momentum=0.9,
        epsilon=1e-5)
    y = x
    for i, kernel in enumerate(self.kernel_sizes):
      y = Conv1D(self.features, kernel, impl=self.conv_impl)(y)
      y = norm()(y, mask=mask)
      if i < len(self.kernel_sizes) - 1:
        y = _zero_padding(nn.relu(y), valid)
    shortcut = x
    if x.shape[-1] != self.features:
      shortcut = Conv1D(self.features, 1, impl=self.conv_impl,
                        name='shortcut_conv')(x)
      shortcut = norm(name='shortcut_norm')(shortcut, mask=mask)
    elif self.norm_identity_shortcut:
      shortcut = norm(name='shortcut_norm')(shortcut, mask=mask)
    return _zero_padding(nn.relu(y + shortcut), valid)


class ResNet(nn.Module):
  """1-D ResNet: optional stem, residual blocks, global average pooling."""

  num_classes: int
  block_features: Sequence[int]
  block_kernels: Sequence[int]
  stem_features: int = 0  # 0: no stem convolution
  stem_kernel: int = 8
  norm_identity_shortcut: bool = False
  conv_impl: str = 'matmul'

  @nn.compact
  def __call__(self, x, *, train=False, mask=None, length=None):
    """x: (batch, channels, length), or (batch, length) for one channel;
    mask: (batch,), the series that are not padding; length: the number of
    time steps that are not padding (a scalar, or one per series), when
    series are padded at the end to a common length: the result is then the
    unpadded series' (padding is zeroed after every layer and kept out of
    BatchNorm's statistics and the pooling), so series of many lengths can
    share one program."""
    # Channels are the convolutions' input features (channels last).
    x = x[..., None] if x.ndim == 2 else jnp.swapaxes(x, -1, -2)
    valid = None
    if length is not None:
      steps = jnp.arange(x.shape[1])
      valid = (steps < jnp.reshape(jnp.asarray(length), (-1, 1)))[..., None]
      x = _zero_padding(x, valid)
    if mask is not None:
      # BatchNorm statistics ignore the padded rows of a partial batch.
      mask = mask.astype(bool)[:, None, None]
    stats = mask if valid is None else (
        valid if mask is None else mask & valid)
    if self.stem_features:
      x = Conv1D(self.stem_features, self.stem_kernel, impl=self.conv_impl)(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                       epsilon=1e-5)(x, mask=stats)
      x = _zero_padding(nn.relu(x), valid)
    for features in self.block_features:
      x = ResidualBlock(features, self.block_kernels,
                        self.norm_identity_shortcut, self.conv_impl)(
                            x, train=train, mask=stats, valid=valid)
    if valid is None:
      x = jnp.mean(x, axis=1)
    else:
      x = jnp.sum(x, axis=1) / jnp.sum(valid, axis=1)
    return nn.Dense(self.num_classes)(x)


CLASSIFIERS = {
    # The original LSTSAUG script's ResNet.
    'resnet_lstsaug': dict(stem_features=100, stem_kernel=8,
                           block_features=(100, 200, 200),
                           block_kernels=(3, 3)),
    # Wang et al. (2017), as benchmarked by Fawaz et al. (2019).
    'resnet_wang': dict(block_features=(64, 128, 128), block_kernels=(8, 5, 3),
                        norm_identity_shortcut=True),
    # For tests: the lstsaug layout with a few channels.
    'resnet_tiny': dict(stem_features=4, stem_kernel=8, block_features=(4, 8),
                        block_kernels=(3, 3)),
}


def create_classifier(arch, num_classes, conv_impl='matmul'):
  if arch not in CLASSIFIERS:
    raise ConfigError(
        f'Unknown classifier architecture {arch!r} (config.classifier.arch); '
        f'choose one of {sorted(CLASSIFIERS)}.')
  return ResNet(num_classes=num_classes, conv_impl=conv_impl,
                **CLASSIFIERS[arch])
