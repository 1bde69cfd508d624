"""How good a trained VAE is: synthetic series can only be as good as their
generator.

For each seed's VAE: reconstruction R^2 of training and evaluation series
(decoding the posterior mean), KL(q(z|x) || N(0, I)) per latent dimension,
the number of active dimensions (Burda et al. 2016: the variance over series
of the posterior mean above 0.01; a collapsed dimension is the prior for
every series) and the accuracy of the latent classifier head on the
evaluation series.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from lstsaug_jax import models

ACTIVE_THRESHOLD = 0.01


@functools.partial(jax.jit, static_argnums=0)
def _one_vae(model, params, x_train, x_eval):
  variables = {'params': params}

  def encode_decode(x):
    mean, logvar = model.apply(variables, x, method=models.VAE.encode)
    recon = model.apply(variables, mean, method=models.VAE.decode)
    return mean, logvar, recon

  mean, logvar, recon = encode_decode(x_train)
  eval_mean, _, eval_recon = encode_decode(x_eval)

  def r2(x, x_hat):
    centred = x - jnp.mean(x, axis=-1, keepdims=True)
    return 1.0 - jnp.sum((x_hat - x) ** 2) / jnp.maximum(
        jnp.sum(centred ** 2), 1e-12)

  kl = jnp.mean(-0.5 * (1.0 + logvar - mean ** 2 - jnp.exp(logvar)), axis=0)
  logits = model.apply(variables, eval_mean, method=models.VAE.classify)
  return dict(r2_train=r2(x_train, recon), r2_eval=r2(x_eval, eval_recon),
              kl_per_dim=kl, activity=jnp.var(mean, axis=0),
              head_predictions=jnp.argmax(logits, -1))


def vae_quality(model, params, x_train, x_eval, y_eval):
  """Per seed (params with a leading seed axis), a dict of plain numbers."""
  x_train, x_eval = jax.device_put(x_train), jax.device_put(x_eval)
  out = jax.device_get(jax.vmap(
      lambda p: _one_vae(model, p, x_train, x_eval))(params))
  reports = []
  for k in range(len(out['r2_train'])):
    kl = np.asarray(out['kl_per_dim'][k], np.float64)
    reports.append(dict(
        r2_train=float(out['r2_train'][k]), r2_eval=float(out['r2_eval'][k]),
        kl=float(kl.sum()), kl_per_dim=[round(float(v), 4) for v in kl],
        active_dims=int(np.sum(out['activity'][k] > ACTIVE_THRESHOLD)),
        head_accuracy=float(np.mean(out['head_predictions'][k]
                                    == np.asarray(y_eval)))))
  return reports


def summary(reports):
  """Means over seeds of each scalar in `reports`."""
  keys = [k for k, v in reports[0].items() if not isinstance(v, list)]
  return {k: float(np.mean([r[k] for r in reports])) for k in keys}
