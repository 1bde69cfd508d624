"""How good a trained VAE is: synthetic series can only be as good as their
generator.

For each seed's VAE: reconstruction R^2 of the training series and, where
given, of an evaluation set (decoding the posterior mean), KL(q(z|x) ||
N(0, I)) per latent dimension, the number of active dimensions (Burda et
al. 2016: the variance over series of the posterior mean above 0.01; a
collapsed dimension is the prior for every series) and the accuracy of the
latent classifier head, each named for the series it is measured on.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import models

ACTIVE_THRESHOLD = 0.01


def _r2(x, x_hat):
  """(1 - residual / total sum of squares, total): R^2 about each series'
  own mean, and the target's variation it is taken against."""
  centred = x - jnp.mean(x, axis=-1, keepdims=True)
  total = jnp.sum(centred ** 2)
  return 1.0 - jnp.sum((x_hat - x) ** 2) / jnp.maximum(total, 1e-12), total


@functools.partial(jax.jit, static_argnums=0)
def _one_vae(model, params, x_train, y_train, x_eval, y_eval):
  variables = {'params': params}

  def measure(x, y):
    mean, logvar = model.apply(variables, x, method=models.VAE.encode)
    recon = model.apply(variables, mean, method=models.VAE.decode)
    logits = model.apply(variables, mean, method=models.VAE.classify)
    r2, total = _r2(x, recon)
    return mean, logvar, dict(
        r2=r2, total=total,
        head_accuracy=jnp.mean(jnp.argmax(logits, -1) == y))

  mean, logvar, train = measure(x_train, y_train)
  kl = jnp.mean(-0.5 * (1.0 + logvar - mean ** 2 - jnp.exp(logvar)), axis=0)
  out = dict(train=train, kl_per_dim=kl, activity=jnp.var(mean, axis=0))
  if x_eval is not None:
    out['eval'] = measure(x_eval, y_eval)[2]
  return out


def vae_quality(model, params, x_train, y_train, x_eval=None, y_eval=None,
                eval_name='test'):
  """Per seed (params with a leading seed axis), a dict of plain numbers,
  each named for the series it is measured on: r2_train and
  head_accuracy_train on the training series; with x_eval, r2_{eval_name}
  and head_accuracy_{eval_name} on those ('test' or 'validation'); kl,
  kl_per_dim and active_dims of the training series' posteriors. An R^2
  of series without variation (all constant) is None: it measures
  nothing."""
  x_train, y_train = jax.device_put(x_train), jax.device_put(y_train)
  if x_eval is not None:
    x_eval, y_eval = jax.device_put(x_eval), jax.device_put(y_eval)
  out = jax.device_get(jax.vmap(
      lambda p: _one_vae(model, p, x_train, y_train, x_eval, y_eval))(params))
  names = [('train', 'train')] + ([('eval', eval_name)] if x_eval is not None
                                  else [])
  reports = []
  for k in range(len(out['kl_per_dim'])):
    kl = np.asarray(out['kl_per_dim'][k], np.float64)
    report = {}
    for part, name in names:
      measured = out[part]
      report[f'r2_{name}'] = (float(measured['r2'][k])
                              if measured['total'][k] > 0 else None)
      report[f'head_accuracy_{name}'] = float(measured['head_accuracy'][k])
    reports.append(dict(
        report, kl=float(kl.sum()),
        kl_per_dim=[round(float(v), 4) for v in kl],
        active_dims=int(np.sum(out['activity'][k] > ACTIVE_THRESHOLD))))
  return reports


def summary(reports):
  """Means over seeds of each scalar in `reports` (None where a seed has
  none)."""
  keys = [k for k, v in reports[0].items() if not isinstance(v, list)]
  return {k: (None if any(r[k] is None for r in reports)
              else float(np.mean([r[k] for r in reports]))) for k in keys}
