r"""Pictures of gradient descent, drawn from real runs (matplotlib, headless-safe).

One module per kind of picture: :mod:`~gdlab.show.plots.activations` (φ and φ′),
:mod:`~gdlab.show.plots.history` (learning curves, gradient norms),
:mod:`~gdlab.show.plots.sweeps` (learning rates), :mod:`~gdlab.show.plots.surfaces`
(loss surfaces and the paths of descent), :mod:`~gdlab.show.plots.boundaries` (decision
boundaries). Every function returns a :class:`matplotlib.figure.Figure` and takes an
optional ``ax`` to draw into. Figures are built with :class:`~matplotlib.figure.Figure`
directly, never through :mod:`matplotlib.pyplot`, so nothing depends on a display or on
global state: ``fig.savefig("x.png")`` works on a server. No picture trains or changes
the model it is given.

Time runs in epochs on every x axis: epoch :math:`e` (0-based) ends at :math:`x = e + 1`,
and step :math:`k` of :math:`S` in epoch :math:`e` is drawn at :math:`x = e + (k+1)/S`.
Labels count from 1, like the axis: the first epoch (e = 0) is "epoch 1", at x = 1.
"""

from gdlab.show.plots.activations import plot_activation
from gdlab.show.plots.boundaries import plot_decision_boundary
from gdlab.show.plots.history import plot_gradients, plot_history
from gdlab.show.plots.surfaces import plot_loss_surface
from gdlab.show.plots.sweeps import plot_learning_rates, plot_sweep

__all__ = [
    "plot_activation",
    "plot_decision_boundary",
    "plot_gradients",
    "plot_history",
    "plot_learning_rates",
    "plot_loss_surface",
    "plot_sweep",
]
