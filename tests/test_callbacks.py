"""Callbacks: early stopping with best-weight restore, learning-rate callbacks, progress."""

from __future__ import annotations

import numpy as np
import pytest

import gdlab as gd

# Training pulls w towards 2 while the validation data's best w is 1: from w = 0 the
# validation loss falls until w passes 1, then rises for ever (plain GD moves w monotonically).
X_TRAIN = np.linspace(-1.0, 1.0, 9)[:, None]
Y_TRAIN = 2.0 * X_TRAIN[:, 0]
VALIDATION = (X_TRAIN, 1.0 * X_TRAIN[:, 0])


def _model(learning_rate=0.1):
    model = gd.Sequential([gd.Dense(1, use_bias=False, kernel_initializer="zeros")], input_dim=1)
    model.compile(loss="mse", optimizer=gd.SGD(learning_rate=learning_rate))
    return model


def _fit(model, epochs, callbacks=(), executor="numpy", **kwargs):
    return model.fit(X_TRAIN, Y_TRAIN, batch_size="full", epochs=epochs, verbose=0,
                     validation_data=VALIDATION, callbacks=list(callbacks), executor=executor,
                     **kwargs)


def _best_epoch(history) -> int:
    return int(np.argmin(history.history["val_loss"]))


@pytest.mark.parametrize("executor", ["numpy", "auto"])
def test_early_stopping_restores_the_best_weights(executor):
    stopper = gd.EarlyStopping(monitor="val_loss", patience=3)
    model = _model()
    history = _fit(model, 100, [stopper], executor=executor)
    best = _best_epoch(history)
    assert 0 < best < 20 and stopper.best_epoch == best
    assert len(history.history["val_loss"]) == best + 1 + 3  # stopped after 3 bad epochs
    assert model.evaluate(*VALIDATION) == pytest.approx(min(history.history["val_loss"]),
                                                        rel=1e-12)
    replay = _model()
    _fit(replay, best + 1, executor=executor)
    np.testing.assert_allclose(model.theta, replay.theta, rtol=1e-12)


def test_early_stopping_without_restore_keeps_the_last_weights():
    stopper = gd.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=False)
    model = _model()
    history = _fit(model, 100, [stopper])
    epochs = len(history.history["loss"])
    assert epochs == _best_epoch(history) + 3
    replay = _model()
    _fit(replay, epochs)
    np.testing.assert_array_equal(model.theta, replay.theta)


def test_early_stopping_min_delta_and_loss_fallback():
    """Without validation data it watches the training loss; min_delta asks for real gains."""
    model = _model(learning_rate=0.01)
    stopper = gd.EarlyStopping(monitor="val_loss", patience=2, min_delta=0.01)
    history = model.fit(X_TRAIN, Y_TRAIN, batch_size="full", epochs=500, verbose=0,
                        callbacks=[stopper], executor="numpy")
    loss = history.history["loss"]
    assert len(loss) < 500 and np.all(np.diff(loss) < 0)  # falling, but by less and less
    best, best_epoch, wait = np.inf, -1, 0  # the rule, replayed
    for epoch, value in enumerate(loss):
        if value < best - 0.01:
            best, best_epoch, wait = value, epoch, 0
            continue
        wait += 1
        if wait == 2:
            break
    assert (stopper.best_epoch, len(loss)) == (best_epoch, epoch + 1)
    replay = _model(learning_rate=0.01)  # θ at the end of the best epoch is restored
    replay.fit(X_TRAIN, Y_TRAIN, batch_size="full", epochs=best_epoch + 1, verbose=0,
               executor="numpy")
    np.testing.assert_allclose(model.theta, replay.theta, rtol=1e-13)


@pytest.mark.parametrize("executor", ["numpy", "auto"])
def test_learning_rate_scheduler(executor):
    def halve(epoch, learning_rate):
        return 0.2 * 0.5**epoch

    model = _model()
    history = _fit(model, 4, [gd.LearningRateScheduler(halve)], executor=executor)
    assert history.history["learning_rate"] == [0.2, 0.1, 0.05, 0.025]
    np.testing.assert_array_equal(np.concatenate(history.step_learning_rate),
                                  [0.2, 0.1, 0.05, 0.025])
    # four steps of w <- w - η_e · dL/dw with the scheduled η_e
    w = 0.0
    for eta in [0.2, 0.1, 0.05, 0.025]:
        w -= eta * np.mean(2 * (w * X_TRAIN[:, 0] - Y_TRAIN) * X_TRAIN[:, 0])
    np.testing.assert_allclose(model.theta, [w], rtol=1e-13)


def test_reduce_learning_rate_on_plateau():
    reducer = gd.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                   min_learning_rate=0.02)
    model = _model()
    history = _fit(model, 30, [reducer])
    best = _best_epoch(history)
    expected = []
    for epoch in range(30):
        bad = max(epoch - best - 1, 0)  # epochs without improvement before this one
        expected.append(max(0.1 * 0.5 ** (bad // 2), 0.02))
    np.testing.assert_allclose(history.history["learning_rate"], expected, rtol=1e-15)
    assert history.history["learning_rate"][-1] == 0.02  # the floor holds


def test_verbose_zero_prints_nothing(capsys):
    _fit(_model(), 3)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_verbose_one_prints_a_line_per_epoch(capsys):
    model = _model()
    history = model.fit(X_TRAIN, Y_TRAIN, batch_size="full", epochs=3, verbose=1,
                        validation_data=VALIDATION, executor="numpy")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for number, line in enumerate(lines, start=1):
        assert line.startswith(f"Epoch {number}/3")
        assert f"loss={history.history['loss'][number - 1]:.5g}" in line
        assert f"val_loss={history.history['val_loss'][number - 1]:.5g}" in line


class _Recorder(gd.Callback):
    per_step = True

    def __init__(self, stop_at_epoch=None):
        super().__init__()
        self.calls: list[tuple] = []
        self.stop_at_epoch = stop_at_epoch

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_end(self, step, logs=None):
        self.calls.append(("step", step, round(logs["loss"], 12)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, sorted(logs)))
        if epoch == self.stop_at_epoch:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.calls.append(("train_end",))


def test_hooks_are_called_in_order_and_a_callback_can_stop_training():
    recorder = _Recorder(stop_at_epoch=1)
    model = _model()
    history = model.fit(X_TRAIN, Y_TRAIN, batch_size=5, epochs=10, verbose=0,
                        callbacks=[recorder], shuffle=False)
    kinds = [call[0] for call in recorder.calls]
    assert kinds == ["train_begin", "epoch_begin", "step", "step", "epoch_end",
                     "epoch_begin", "step", "step", "epoch_end", "train_end"]
    assert [call[1] for call in recorder.calls if call[0] == "step"] == [0, 1, 2, 3]
    step_losses = [call[2] for call in recorder.calls if call[0] == "step"]
    np.testing.assert_allclose(step_losses, np.concatenate(history.step_loss), rtol=1e-10)
    assert recorder.calls[4][2] == sorted(["loss", "learning_rate", "grad_norm[1]"])
    assert len(history.epoch) == 2 and recorder.model is model


def test_history_to_frame():
    history = _fit(_model(), 4)
    frame = history.to_frame()
    assert list(frame.columns[:3]) == ["epoch", "loss", "learning_rate"]
    assert len(frame) == 4 and list(frame["val_loss"]) == history.history["val_loss"]
    assert "History(epochs=4" in repr(history)
