"""PyTorch reference of the training steps `lstsaug_jax.benchmark` times.

The same two ResNets (the LSTSAUG script's and Wang et al.'s) and the MLP
VAE as lstsaug_jax.models, with the same losses and Adam, timed as PyTorch
eager runs them (the original script's way) on the same batch. Not a
dependency of the package: it runs in its own environment,

  python3 -m venv .venv-torch
  .venv-torch/bin/pip install -r benchmarks/requirements-torch.txt
  .venv-torch/bin/python benchmarks/torch_reference.py --json=/tmp/torch.json

and `python -m lstsaug_jax.benchmark --torch_python=.venv-torch/bin/python`
runs it inside its own run, so both are timed on the machine in one state.
"""

import argparse
import json
import os
import platform
import statistics
import time

import torch
from torch import nn
import torch.nn.functional as F


def conv_same(in_features, out_features, kernel):
  # 'same' as XLA pads it: the extra element on the right for even kernels.
  return nn.Sequential(
      nn.ConstantPad1d(((kernel - 1) // 2, kernel // 2), 0.0),
      nn.Conv1d(in_features, out_features, kernel))


def batch_norm(features):
  # Flax's momentum 0.9 (of the old average) is PyTorch's 0.1 (of the new).
  return nn.BatchNorm1d(features, eps=1e-5, momentum=0.1)


class ResidualBlock(nn.Module):

  def __init__(self, in_features, features, kernels, norm_identity_shortcut):
    super().__init__()
    layers = []
    for i, k in enumerate(kernels):
      layers += [conv_same(in_features if i == 0 else features, features, k),
                 batch_norm(features)]
      if i < len(kernels) - 1:
        layers.append(nn.ReLU())
    self.body = nn.Sequential(*layers)
    if in_features != features:
      self.shortcut = nn.Sequential(nn.Conv1d(in_features, features, 1),
                                    batch_norm(features))
    elif norm_identity_shortcut:
      self.shortcut = batch_norm(features)
    else:
      self.shortcut = nn.Identity()

  def forward(self, x):
    return F.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):

  def __init__(self, num_classes, block_features, block_kernels,
               stem_features=0, stem_kernel=8, norm_identity_shortcut=False):
    super().__init__()
    layers, features = [], 1
    if stem_features:
      layers += [conv_same(1, stem_features, stem_kernel),
                 batch_norm(stem_features), nn.ReLU()]
      features = stem_features
    for f in block_features:
      layers.append(ResidualBlock(features, f, block_kernels,
                                  norm_identity_shortcut))
      features = f
    self.body = nn.Sequential(*layers)
    self.head = nn.Linear(features, num_classes)

  def forward(self, x):  # x: (batch, channels, length)
    return self.head(self.body(x).mean(dim=-1))


# lstsaug_jax.models.CLASSIFIERS
CLASSIFIERS = {
    'resnet_lstsaug': dict(stem_features=100, stem_kernel=8,
                           block_features=(100, 200, 200),
                           block_kernels=(3, 3)),
    'resnet_wang': dict(block_features=(64, 128, 128), block_kernels=(8, 5, 3),
                        norm_identity_shortcut=True),
}


class VAE(nn.Module):
  """lstsaug_jax.models.VAE with arch='mlp' (defaults)."""

  def __init__(self, length, num_classes, latent_dim=64,
               hidden_dims=(256, 128, 64)):
    super().__init__()
    enc, width = [], length
    for h in hidden_dims:
      enc += [nn.Linear(width, h), nn.ReLU()]
      width = h
    self.encoder = nn.Sequential(*enc, nn.Linear(width, 2 * latent_dim))
    dec, width = [], latent_dim
    for h in reversed(hidden_dims):
      dec += [nn.Linear(width, h), nn.ReLU()]
      width = h
    self.decoder = nn.Sequential(*dec, nn.Linear(width, length))
    self.head = nn.Linear(latent_dim, num_classes)

  def forward(self, x):
    mean, logvar = self.encoder(x.flatten(1)).chunk(2, dim=-1)
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    return self.decoder(z).view_as(x), mean, logvar, self.head(z)


def make_step(model_name, length, batch):
  torch.manual_seed(0)
  x = torch.randn(batch, 1, length)
  y = torch.arange(batch) % 2
  if model_name == 'vae':
    model = VAE(length, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss_fn():
      recon, mean, logvar, logits = model(x)
      return ((recon - x) ** 2).sum() + (
          -0.5 * (1 + logvar - mean ** 2 - logvar.exp()).sum()) + (
              F.cross_entropy(logits, y))
  else:
    model = ResNet(2, **CLASSIFIERS[model_name])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def loss_fn():
      return F.cross_entropy(model(x), y)
  model.train()

  def step():
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    optimizer.step()
    return loss
  return step


def median_time(fn, repeats, warmup=3):
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--models', default='vae,resnet_lstsaug,resnet_wang')
  parser.add_argument('--lengths', default='150,398')
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--repeats', type=int, default=10)
  parser.add_argument('--json')
  args = parser.parse_args()
  torch.set_num_threads(os.cpu_count())
  report = dict(torch=torch.__version__, threads=torch.get_num_threads(),
                mkldnn=torch.backends.mkldnn.is_available(),
                processor=platform.processor(), steps=[])
  print(f'PyTorch {torch.__version__} eager, {report["threads"]} threads, '
        f'oneDNN {report["mkldnn"]}', flush=True)
  for model_name in args.models.split(','):
    for length in (int(l) for l in args.lengths.split(',')):
      t = median_time(make_step(model_name, length, args.batch_size),
                      args.repeats)
      report['steps'].append(dict(model=model_name, length=length,
                                  batch=args.batch_size, step_s=t))
      print(f'torch {model_name:<15} L={length:<4} step {t * 1e3:8.1f} ms',
            flush=True)
  if args.json:
    with open(args.json, 'w') as f:
      json.dump(report, f, indent=2)


if __name__ == '__main__':
  main()
