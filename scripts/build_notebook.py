"""Write docs/notebooks/optimisation.ipynb from the cells below; ``--execute`` stores outputs.

``python scripts/build_notebook.py --execute`` after changing a cell (the test suite runs
the notebook itself: tests/test_notebook_run.py).
"""

import sys
from pathlib import Path

import nbclient
import nbformat as nbf

OUT = Path(__file__).resolve().parents[1] / "docs" / "notebooks" / "optimisation.ipynb"

cells = []


def md(text):
    cells.append(nbf.v4.new_markdown_cell(text.strip("\n")))


def code(text):
    cells.append(nbf.v4.new_code_cell(text.strip("\n")))



md(r"""
# Optimisation, with gdlab

The lecture *Optimisation* (Deep Learning for Actuaries), worked through with gdlab: every
number below is computed by the library, and every object shows itself — a gradient step
as the lecture's table with the update written out, a training history as its learning
curve, a model as its summary.

Run it top to bottom (`pip install gdlab`, then *Run all*). It uses only gdlab, NumPy,
pandas, matplotlib and a data set that ships with scikit-learn.
""")
code(r"""
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import gdlab as gd

np.set_printoptions(precision=4)
""")
md(r"""
## 1. Forward passes

**Logistic regression** is a network with no hidden layer and one neuron:
$z_i = x_{i,1} w_1 + x_{i,2} w_2 + b$ and $\hat y_i = \sigma(z_i) = 1/(1 + e^{-z_i})$.
The lecture's rows are $(1, 2), (3, 4), (5, 6)$ with $w = (1, 2)$ and $b = -10$.
""")
code(r"""
X = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
logistic = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=2)
logistic.set_weights([np.array([[1.0], [2.0]]), np.array([-10.0])])
logistic
""")
code(r"""
A, caches = logistic.forward(X)
print("z =", caches[0].Z.ravel())     # the lecture: -5, 1, 7
print("ŷ =", A.ravel())               # the lecture: 0.01, 0.73, 1.00
""")
md(r"""
**Softmax regression** has one neuron per class, $\mathbf Z = \mathbf X \mathbf W + \mathbf b$
and $\hat{\mathbf Y} = \mathrm{Softmax}(\mathbf Z)$, with the lecture's
$\mathbf W = \begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}$ and $\mathbf b = (-10, -20)$.
""")
code(r"""
softmax = gd.Sequential([gd.Dense(2, activation="softmax")], input_dim=2)
softmax.set_weights([np.array([[1.0, 3.0], [2.0, 4.0]]), np.array([-10.0, -20.0])])
A, caches = softmax.forward(X)
print("Z =\n", caches[0].Z)           # the lecture: (-5, -9), (1, 5), (7, 19)
print("Ŷ =\n", A)                     # the lecture: (0.982, 0.018), (0.018, 0.982), (6.14e-06, 1)
softmax.summary()
""")
md(r"""
## 2. Stochastic gradient descent, step by step

The model $\hat y(x) = wx + b$ with the squared error $\text{Loss}_i = (\hat y(x_i) - y_i)^2$
starts at $\boldsymbol\theta_0 = (0, 0)$. The lecture picks the observation $(x, y) = (5, 5)$,
then $(9, 17)$, with $\eta = 0.01$. `train_on_batch` takes one step on the rows it is given
and returns its `Step`, which a notebook shows as the lecture's table and update.
""")
code(r"""
line = gd.Sequential([gd.Dense(1)], input_dim=1)
line.set_weights([np.zeros((1, 1)), np.zeros(1)])
line.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01))
first = line.train_on_batch(np.array([[5.0]]), np.array([5.0]))
first
""")
code(r"""
second = line.train_on_batch(np.array([[9.0]]), np.array([17.0]))
second        # the lecture: ∇ = (-223.2, -24.8), θ₂ = (2.732, 0.348)
""")
md(r"""
## 3. Batch gradient descent on three rows

The lecture's data: $x = 1, 2, 3$ and $y = 2x - 1 + 0.01\varepsilon$ with
`np.random.seed(111)`. Batch gradient descent uses all rows at each step: the gradient is the
mean of the rows' gradients, $\nabla \text{Loss}_{1:3} = \frac13 \sum_i \nabla \text{Loss}_i$.
`fit(..., trace=True)` keeps every step.
""")
code(r"""
x = np.arange(1.0, 4.0)
y = 2 * x - 1 + 0.01 * np.random.RandomState(111).randn(3)
X3 = x[:, None]

model = gd.Sequential([gd.Dense(1)], input_dim=1)
model.set_weights([np.zeros((1, 1)), np.zeros(1)])
model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.1))
history = model.fit(X3, y, batch_size="full", epochs=2, trace=True, verbose=0)
history.trace[0]      # the lecture: ∇ = (-14.69, -6.00), θ₁ = (1.47, 0.60)
""")
code(r"""
history.trace[1]      # the lecture: ∇ = (1.42, 1.07), θ₂ = (1.33, 0.49)
""")
code(r"""
print(history.trace[1].to_markdown(decimals=2))   # the same step with the lecture's 2 decimals
""")
md(r"""
## 4. Learning rates: too small, too large — and the largest stable one

For the squared error of a linear model the loss is quadratic in θ, with Hessian
$H = \frac{2}{n}\tilde X^\top \tilde X$ ($\tilde X$: X with a column of ones for the bias).
Along an eigenvector of $H$ with eigenvalue $\lambda$, one step multiplies the distance to
the minimum by $1 - \eta\lambda$; so gradient descent converges if and only if
$$\eta < \frac{2}{\lambda_{\max}(H)} .$$
`gd.stable_learning_rate` computes this bound (exactly here; by power iteration on
Hessian-vector products for other models, where it holds near θ only).
""")
code(r"""
bound = gd.stable_learning_rate(model, X3, y)
print(f"largest stable learning rate 2/λ_max = {bound:.4f}")
""")
code(r"""
from gdlab.train.sweep import learning_rate_sweep

start = gd.Sequential([gd.Dense(1)], input_dim=1)
start.set_weights([np.zeros((1, 1)), np.zeros(1)])
start.compile(loss="mse", optimizer="sgd")
rates = [0.001, 0.1, 0.95 * bound, 1.05 * bound]
sweep = learning_rate_sweep(start, X3, y, rates, epochs=60, batch_size="full", executor="numpy")
sweep.table[["learning_rate", "initial_loss", "final_loss", "diverged", "verdict"]]
""")
md(r"""
At $0.95\times$ the bound the steps overshoot along the steepest direction but shrink; at
$1.05\times$ they grow every step until the run is stopped. Each run's history shows its
learning curve:
""")
code(r"""
sweep.histories[rates[0]]   # too small: the loss falls, slowly
""")
code(r"""
sweep.histories[rates[2]]   # 0.95 × the bound: converges, oscillating
""")
md(r"""
## 5. Batch, stochastic and mini-batch gradient descent on real data

scikit-learn's breast-cancer data (569 tumours, 30 features, standardised): a logistic
regression trained for 15 epochs, from the same $\boldsymbol\theta_0$, by the three variants.
Batch GD takes one step per epoch, stochastic GD 569, mini-batch GD (32 rows) 18.
""")
code(r"""
from sklearn.datasets import load_breast_cancer

data = load_breast_cancer()
Xc = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
yc = data.target.astype(float)

histories = {}
for name, batch_size, eta in [("batch", "full", 0.5), ("stochastic", 1, 0.01),
                              ("mini-batch (32)", 32, 0.1)]:
    clf = gd.Sequential([gd.Dense(1, activation="sigmoid")], input_dim=Xc.shape[1], seed=0)
    clf.compile(loss="binary_crossentropy", optimizer=gd.SGD(learning_rate=eta),
                metrics=["accuracy"])
    histories[name] = clf.fit(Xc, yc, batch_size=batch_size, epochs=15, seed=1, verbose=0,
                              executor="numpy")
pd.DataFrame({name: {"steps": sum(len(s) for s in h.step_loss),
                     "final loss": h.history["loss"][-1],
                     "final accuracy": h.history["accuracy"][-1]}
              for name, h in histories.items()}).T
""")
code(r"""
fig, ax = plt.subplots(figsize=(7, 3.5))
for name, h in histories.items():
    ax.plot(np.arange(1, 16), h.history["loss"], marker="o", label=name)
ax.set(xlabel="epoch", ylabel="loss over all rows (log scale)", yscale="log",
       title="Three variants, 15 epochs each")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
fig.tight_layout()
""")
md(r"""
Stochastic GD makes 569 noisy steps per epoch: its batch losses jump around while the loss
over all rows falls fastest per epoch. Mini-batch GD is the compromise most networks use.
""")
code(r"""
noise = pd.Series(np.concatenate(histories["stochastic"].step_loss))
noise.describe()[["count", "mean", "std", "min", "max"]]
""")
md(r"""
## 6. Dead ReLU

"At all points in the neural network, we can't have any derivative equal to 0": a ReLU unit
whose input is negative for every row outputs 0 with derivative 0, so its weights receive no
gradient and it never recovers. Here the hidden layer's biases start at −10 on standardised
data: every unit is dead from the first step. `fit` warns (`DeadUnitWarning`), and the
trace shows zero partial derivatives for the hidden weights.
""")
code(r"""
mlp = gd.Sequential([gd.Dense(3, activation="relu"), gd.Dense(1, activation="sigmoid")],
                    input_dim=Xc.shape[1], seed=0)
W1, b1, W2, b2 = mlp.get_weights()
mlp.set_weights([W1, np.full(3, -10.0), W2, b2])
mlp.compile(loss="binary_crossentropy", optimizer=gd.SGD(learning_rate=0.1))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    dead = mlp.fit(Xc, yc, batch_size=32, epochs=3, trace=1, verbose=0, executor="numpy")
for warning in caught:
    print(type(warning.message).__name__ + ":", warning.message)
""")
code(r"""
step = dead.trace[0]
gradient = pd.Series(step.gradient, index=step.param_names)
print("hidden layer's partial derivatives, all zero:",
      bool((gradient.filter(like="^(1)") == 0).all()))
mlp
""")
md(r"""
The fix is a different start (gdlab's default He/Glorot initialisation keeps most units
alive), a smaller learning rate (a large step can push every pre-activation negative), or an
activation whose derivative is never 0 (leaky ReLU, tanh).
""")

nb = nbf.v4.new_notebook()
nb.cells = cells
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nb.metadata["language_info"] = {"name": "python"}
if "--execute" in sys.argv:
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(OUT.parent)}}).execute()
for k, cell in enumerate(nb.cells):  # stable ids, no timings: small diffs
    cell.id = f"cell-{k}"
    cell.metadata.pop("execution", None)
nbf.write(nb, OUT)
