"""Figures saved as files (never opened in a window)."""

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top


def plot_neighbours(path, original, neighbours, *, title):
  """One series and its decoded latent neighbours, saved as a PNG."""
  fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
  for i, series in enumerate(neighbours):
    ax.plot(series, color='tab:orange', alpha=0.6, linewidth=1,
            label='decoded neighbours' if i == 0 else None)
  ax.plot(original, color='black', linewidth=2, label='original')
  ax.set_title(title)
  ax.set_xlabel('time step')
  ax.set_ylabel('value')
  ax.legend(loc='best')
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)
  return path
