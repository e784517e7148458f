"""Draw the gallery: every figure of gdlab.show.plots from a real (small, seeded) run.

Writes ``docs/gallery/*.png`` (100 dpi) and ``docs/gallery.md``, which shows them with
the code that drew each one. Run from the repository root::

    python scripts/make_gallery.py            # or: python scripts/make_gallery.py OUT_DIR

Everything is seeded, so the pictures change only when the code does.
"""

from __future__ import annotations

import io
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

import gdlab as gd
from gdlab.show import plots
from gdlab.show.lecture import batch_gd_data

ROOT = Path(__file__).resolve().parents[1]
DPI = 100


def _line_data(n: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The lecture's line y = 2x − 1, with noise, on x in [0, 3]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 3.0, size=n)
    return x[:, None], 2.0 * x - 1.0 + 0.3 * rng.normal(size=n)


def _linear_model(learning_rate: float) -> gd.Sequential:
    model = gd.Sequential([gd.Dense(1)], input_dim=1, seed=0)
    model.set_weights([np.zeros((1, 1)), np.zeros(1)])
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=learning_rate))
    return model


def _moons(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles: a boundary no straight line can draw."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, np.pi, size=n)
    label = rng.integers(0, 2, size=n)
    x1 = np.where(label == 0, np.cos(t), 1.0 - np.cos(t))
    x2 = np.where(label == 0, np.sin(t), 0.5 - np.sin(t))
    X = np.column_stack([x1, x2]) + 0.12 * rng.normal(size=(n, 2))
    return (X - X.mean(axis=0)) / X.std(axis=0), label.astype(float)


def activations() -> tuple[object, str]:
    code = 'plots.plot_activation(["sigmoid", "tanh", "relu", "softmax", "linear", "exponential"])'
    figure = plots.plot_activation(["sigmoid", "tanh", "relu", "softmax", "linear",
                                    "exponential"])
    return figure, code


def history() -> tuple[object, str]:
    X, y = _moons()
    model = gd.Sequential([gd.Dense(8, activation="tanh"), gd.Dense(1, activation="sigmoid")],
                          input_dim=2, seed=0)
    schedule = gd.ExponentialDecay(1.0, decay_steps=150, decay_rate=0.5)
    model.compile(loss="binary_crossentropy", optimizer=gd.SGD(learning_rate=schedule))
    run = model.fit(X, y, batch_size=16, epochs=30, validation_split=0.25, seed=0, verbose=0)
    code = ("model.fit(X, y, batch_size=16, epochs=30, validation_split=0.25)  "
            "# η decays exponentially\nplots.plot_history(model.history)")
    return plots.plot_history(run), code


def learning_rates() -> tuple[object, str]:
    X, y = _line_data()
    model = _linear_model(0.1)
    rates = [0.001, 0.01, 0.1, 0.3, 0.5]
    figure = plots.plot_learning_rates(model, X, y, rates, epochs=25, batch_size="full", seed=0)
    code = (f"plots.plot_learning_rates(model, X, y, {rates}, epochs=25, "
            "batch_size=\"full\")")
    return figure, code


def loss_surface_variants() -> tuple[object, str]:
    X, y = _line_data()
    traces = []
    for batch_size in ("full", 1, 5):
        model = _linear_model(0.05)
        traces.append(model.fit(X, y, batch_size=batch_size, epochs=3, trace=True, seed=0,
                                verbose=0).trace)
    figure = plots.plot_loss_surface(model, X, y, traces, ["batch", "stochastic",
                                                           "mini-batch (5 rows)"])
    code = ('traces = [fit(batch_size=b, epochs=3, trace=True).trace for b in ("full", 1, 5)]\n'
            'plots.plot_loss_surface(model, X, y, traces, ["batch", "stochastic", '
            '"mini-batch (5 rows)"])')
    return figure, code


def loss_surface_rates() -> tuple[object, str]:
    X, y = batch_gd_data()
    traces, labels = [], []
    for rate in (0.02, 0.08, 0.17):
        model = _linear_model(rate)
        traces.append(model.fit(X, y, batch_size="full", epochs=60, trace=True,
                                verbose=0).trace)
        labels.append(f"η = {rate:g}")
    # the least-squares line: the minimum of the MSE, known exactly for a linear model
    (w, b), *_ = np.linalg.lstsq(np.column_stack([X[:, 0], np.ones(len(X))]), y, rcond=None)
    figure = plots.plot_loss_surface(model, X, y, traces, labels, optimum=(w, b))
    code = ("# the lecture's three rows, batch gradient descent from θ₀ = (0, 0)\n"
            "(w, b), *_ = np.linalg.lstsq(np.column_stack([X[:, 0], np.ones(len(X))]), y)\n"
            "plots.plot_loss_surface(model, X, y, traces, [\"η = 0.02\", \"η = 0.08\", "
            "\"η = 0.17\"], optimum=(w, b))")
    return figure, code


def decision_boundary() -> tuple[object, str]:
    X, y = _moons()
    model = gd.Sequential([gd.Dense(8, activation="tanh"), gd.Dense(1, activation="sigmoid")],
                          input_dim=2, seed=0)
    model.compile(loss="binary_crossentropy", optimizer=gd.Adam(learning_rate=0.05))
    model.fit(X, y, batch_size=32, epochs=150, seed=0, verbose=0)
    code = ("model = gd.Sequential([gd.Dense(8, activation=\"tanh\"), "
            "gd.Dense(1, activation=\"sigmoid\")], input_dim=2)\n"
            "plots.plot_decision_boundary(model, X, y)")
    return plots.plot_decision_boundary(model, X, y), code


def decision_boundary_softmax() -> tuple[object, str]:
    rng = np.random.default_rng(3)
    centres = np.array([[0.0, 2.0], [-2.0, -1.0], [2.0, -1.0]])
    labels = np.repeat(np.arange(3), 40)
    X = centres[labels] + 0.9 * rng.normal(size=(120, 2))
    model = gd.Sequential([gd.Dense(3, activation="softmax")], input_dim=2, seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=gd.SGD(learning_rate=0.3))
    model.fit(X, labels, batch_size="full", epochs=100, verbose=0)
    code = ("model = gd.Sequential([gd.Dense(3, activation=\"softmax\")], input_dim=2)\n"
            "plots.plot_decision_boundary(model, X, labels)")
    return plots.plot_decision_boundary(model, X, labels), code


def gradients() -> tuple[object, str]:
    X, y = _moons()
    layers = [gd.Dense(8, activation="sigmoid") for _ in range(5)]
    model = gd.Sequential([*layers, gd.Dense(1, activation="sigmoid")], input_dim=2, seed=0)
    model.compile(loss="binary_crossentropy", optimizer=gd.SGD(learning_rate=0.5))
    run = model.fit(X, y, batch_size=32, epochs=20, seed=0, verbose=0)
    code = ("# five sigmoid layers: the gradient shrinks layer by layer towards the input\n"
            "plots.plot_gradients(model.history)")
    return plots.plot_gradients(run), code


GALLERY = [
    ("activations", "Activations and their derivatives", activations,
     "Each activation φ(z) with its derivative φ′(z), the factor the chain rule multiplies by. "
     "Softmax is shown for two classes, as a function of z₁ − z₂: it is the sigmoid again."),
    ("history", "Learning curves: per-epoch loss, per-step noise, a decaying η", history,
     "Mini-batch gradient descent on two moons: the faint line is the loss of every step "
     "(the noise of SGD), the thick ones the epoch means; η (right axis) decays per step; "
     "the star marks the epoch with the lowest validation loss."),
    ("learning_rates", "Too small, good, too large: one model, several learning rates",
     learning_rates,
     "Linear regression on y = 2x − 1 + noise, the same θ₀ for every rate. Too small crawls, "
     "too large diverges: the run stops where the loss exploded (red ✕)."),
    ("loss_surface_variants", "Batch, stochastic and mini-batch paths on the loss surface",
     loss_surface_variants,
     "Three epochs each: batch gradient descent takes 3 smooth steps, stochastic 90 noisy "
     "ones, mini-batch in between."),
    ("loss_surface_rates", "Learning rates on the lecture's loss surface", loss_surface_rates,
     "The lecture's three rows and batch gradient descent: a small η creeps along, a large "
     "one zig-zags across the narrow valley."),
    ("decision_boundary", "A hidden layer draws a curved decision boundary", decision_boundary,
     "Eight tanh units and a sigmoid output: the probability surface P(y = 1 | x) and the "
     "boundary P = 0.5."),
    ("decision_boundary_softmax", "Softmax regression: three classes",
     decision_boundary_softmax,
     "One softmax layer: each point of the plane coloured by its most probable class; the "
     "boundaries are straight lines."),
    ("gradients", "Vanishing gradients in a deep sigmoid network", gradients,
     "Five sigmoid layers: the gradient norm shrinks by a factor of about 3 to 5 per layer "
     "on the way back to the input (σ′ ≤ 1/4)."),
]


def _save_small(figure: object, path: Path) -> None:
    """Save at 100 dpi as a 256-colour PNG (a third of the size, no visible change)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    image = Image.open(buffer).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    image.save(path, optimize=True)


def main(out_dir: Path = ROOT / "docs" / "gallery") -> Path:
    """Draw every picture into ``out_dir`` and write the page next to it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = ["# Gallery", "",
                "Every picture below is drawn by `gdlab.show.plots` from a real, seeded run, by",
                "`python scripts/make_gallery.py` (do not edit the PNGs or this page by hand).",
                "", "```python", "import gdlab as gd", "from gdlab import plots", "```", ""]
    for name, title, draw, caption in GALLERY:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gd.DivergenceWarning)
            figure, code = draw()
        _save_small(figure, out_dir / f"{name}.png")
        print(f"{name}.png  {time.perf_counter() - start:.1f} s")
        sections += [f"## {title}", "", caption, "", f"![{title}](gallery/{name}.png)", "",
                     "```python",
                     code, "```", ""]
    page = out_dir.parent / "gallery.md"
    page.write_text("\n".join(sections), encoding="utf-8")
    return page


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "gallery")
