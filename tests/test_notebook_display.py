"""In a notebook a Step, a Trace, a History and a model show themselves as HTML."""

import re

import numpy as np
import pytest

import gdlab as gd
from gdlab.show.lecture import batch_gd_data, batch_gd_iterations, sgd_iterations


def cells(html):
    """The text of every <td> of an HTML table, in order."""
    return re.findall(r"<td>(.*?)</td>", html)


def test_the_lecture_batch_step_is_its_table_and_update():
    step = batch_gd_iterations()[0]
    html = step._repr_html_()
    # the lecture's table: dL/dw = -1.98, -12.02, -30.09; mean (-14.69, -6.00)
    values = cells(html)
    for number in ["-1.9773", "-12.0154", "-30.0898", "-14.6942", "-6.0050", "11.7168"]:
        assert number in values, number
    assert "<th>dL/dw</th>" in html and "mean (3)" in html
    assert "θ<sub>1</sub> = θ<sub>0</sub> − η∇Loss = (0.0000, 0.0000) − 0.1 × " \
           "(-14.6942, -6.0050) = (1.4694, 0.6005)" in html


def test_the_lecture_sgd_steps_and_a_momentum_step():
    first, second = sgd_iterations()
    assert "= (0.5000, 0.1000)" in first._repr_html_()
    assert "(-223.2000, -24.8000) = (2.7320, 0.3480)" in second._repr_html_()
    model = gd.Sequential([gd.Dense(1)], input_dim=1)
    model.set_weights([np.zeros((1, 1)), np.zeros(1)])
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.01, momentum=0.9))
    model.train_on_batch(np.array([[5.0]]), np.array([5.0]))
    html = model.train_on_batch(np.array([[9.0]]), np.array([17.0]))._repr_html_()
    assert "+ Δθ" in html and "− η∇Loss" not in html  # momentum is not θ − η∇


def test_a_large_batch_shows_its_first_and_last_rows():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((100, 2)), rng.standard_normal(100)
    model = gd.Sequential([gd.Dense(1)], input_dim=2, seed=0)
    model.compile(loss="mse", optimizer="sgd")
    html = model.train_on_batch(X, y)._repr_html_()
    assert html.count("<tr>") == 1 + 20 + 1 + 1  # header, 20 rows, the gap, the mean
    assert "<td>99</td>" in html and "<td>50</td>" not in html and "mean (100)" in html


def test_trace_and_history_show_steps_and_the_learning_curve():
    X, y = batch_gd_data()
    model = gd.Sequential([gd.Dense(1)], input_dim=1)
    model.set_weights([np.zeros((1, 1)), np.zeros(1)])
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=0.1))
    history = model.fit(X, y, batch_size="full", epochs=30, trace=True, verbose=0,
                        validation_data=(X, y))
    trace = history.trace._repr_html_()
    assert "Trace of 30 steps" in trace and "<th>theta[w]</th>" in trace
    assert "<td>-14.6942</td>" in trace  # step 0's gradient
    steps = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td>", trace)  # step, epoch
    assert steps[0] == ("1", "1") and steps[-1] == ("30", "30")  # counted from 1
    html = history._repr_html_()
    assert html.count("<svg") == 1 and html.count("<polyline") == 2  # loss and val_loss
    points = re.search(r"points='([^']*)'", html).group(1).split()
    assert len(points) == 30
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] < ys[-1]  # SVG y grows downwards: the loss fell
    assert "loss (log)" in html  # the loss fell by more than 1.5 decades
    epochs = re.findall(r"<tr><td>(\d+)</td>", html)  # counted from 1, as the axis says
    assert (epochs[0], epochs[-1]) == ("1", "30") and "epoch (1…30)" in html
    assert "30 steps traced" in html


def test_a_diverged_history_shows_the_message_not_the_0_based_dict():
    history = gd.History()
    history.on_epoch_end(0, {"loss": 2.0})
    history.diverged = {"epoch": 1, "step": None, "message": "Training diverged at epoch 2 …"}
    html = history._repr_html_()
    assert "Training diverged at epoch 2 …" in html and "&#x27;epoch&#x27;" not in html


def test_an_empty_history_and_trace_say_so():
    assert "no epoch" in gd.History()._repr_html_()
    assert "no step recorded" in gd.Trace()._repr_html_()


def test_model_summary_in_text_and_html(capsys):
    model = gd.Sequential([gd.Dense(3, activation="relu"), gd.Dense(1, activation="sigmoid")],
                          input_dim=2)
    model.compile(loss="binary_crossentropy", optimizer=gd.SGD(learning_rate=0.1))
    assert model.summary() is None
    text = capsys.readouterr().out
    assert "dense_1 (Dense)  (None, 3)     relu" in text
    assert re.search(r"w\^\(1\)_\{1,1\}, w\^\(1\)_\{1,2\}, w\^\(1\)_\{1,3\}, w\^\(1\)_\{2,1\}, "
                     r"…, b\^\(1\)_3 +9\n", text)
    assert "w^(2)_{1,1}, w^(2)_{2,1}, w^(2)_{3,1}, b^(2)_1" in text
    assert "Total parameters: 13" in text and "binary_crossentropy" in text
    html = model._repr_html_()
    assert "<td>(None, 1)</td>" in html and "<td>sigmoid</td>" in html
    assert "Total parameters: 13" in html and "SGD(learning_rate=0.1" in html
    unbuilt = gd.Sequential([gd.Dense(2)])._repr_html_()
    assert "not built" in unbuilt and "not compiled" in unbuilt


@pytest.mark.parametrize("name", ["<script>alert(1)</script>"])
def test_text_is_escaped(name):
    history = gd.History()
    history.on_epoch_end(0, {name: 1.0, "loss": 2.0})
    html = history._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_a_diverged_history_says_why():
    X, y = batch_gd_data()
    model = gd.Sequential([gd.Dense(1)], input_dim=1)
    model.set_weights([np.zeros((1, 1)), np.zeros(1)])
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=1.0))
    with pytest.warns(gd.DivergenceWarning):
        history = model.fit(X, y, batch_size="full", epochs=200, verbose=0, executor="numpy")
    html = history._repr_html_()
    assert "<b>Diverged</b>: Training diverged at epoch" in html and "{" not in html.split(
        "Diverged</b>")[1]
