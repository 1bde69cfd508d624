"""Figures saved as files, never opened in a window.

Built on matplotlib's object-oriented Figure, not pyplot: no backend is
chosen and no global state is touched, so importing the library changes
nothing in the user's process.
"""

import io

import numpy as np

from lstsaug_jax import files


def figure(**kwargs):
  """(fig, axes) of a new Figure; `save(fig, path)` writes it."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(**{k: v for k, v in kwargs.items()
                  if k in ('figsize', 'dpi')})
  axes = fig.subplots(**{k: v for k, v in kwargs.items()
                         if k not in ('figsize', 'dpi')})
  return fig, axes


def save(fig, path):
  """Writes the figure (its format from path's extension) whole or not at
  all (files.atomic_write); returns path."""
  buffer = io.BytesIO()
  fig.savefig(buffer, format=path.rsplit('.', 1)[-1])
  return files.atomic_write(path, buffer.getvalue())


def plot_neighbours(path, original, neighbours, *, title, channel_names=None):
  """One series and its decoded latent neighbours, one panel per channel,
  saved as a PNG.

  Args:
    original: (length,) or (channels, length).
    neighbours: (k, length) or (k, channels, length).
  """
  original = np.asarray(original)
  neighbours = np.asarray(neighbours)
  if original.ndim == 1:
    original, neighbours = original[None], neighbours[:, None]
  channels = original.shape[0]
  fig, axes = figure(nrows=channels, ncols=1, sharex=True, squeeze=False,
                     figsize=(8, 2.2 + 1.6 * channels), dpi=120)
  for c, ax in enumerate(axes[:, 0]):
    for i, series in enumerate(neighbours[:, c]):
      ax.plot(series, color='tab:orange', alpha=0.6, linewidth=1,
              label='decoded neighbours' if i == 0 else None)
    ax.plot(original[c], color='black', linewidth=2, label='original')
    if channels > 1:
      ax.set_ylabel(channel_names[c] if channel_names else f'channel {c}')
    else:
      ax.set_ylabel('value')
  axes[0, 0].set_title(title)
  axes[0, 0].legend(loc='best')
  axes[-1, 0].set_xlabel('time step')
  fig.tight_layout()
  return save(fig, path)
