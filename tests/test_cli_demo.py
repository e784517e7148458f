"""``gdlab demo``: the main job runs and writes its folder (breast cancer and wine)."""

import numpy as np
import pandas as pd
import pytest

from gdlab.cli import main
from gdlab.cli.demo import demo_data
from gdlab.train.saving import load_saved


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "gdlab-demo"
    assert main(["demo", "--out", str(out)]) == 0
    return out


def test_demo_writes_report_figures_histories_models(demo):
    names = {p.name for p in demo.iterdir()}
    assert {"report.html", "comparison_breast_cancer.csv", "comparison_wine.csv",
            "breast_cancer_variants.png", "wine_variants.png", "breast_cancer_paths.png",
            "breast_cancer_learning_rates.png", "histories", "models"} <= names
    assert len(list((demo / "histories").glob("*.csv"))) == 6
    assert len(list((demo / "models").glob("*.npz"))) == 6
    html = (demo / "report.html").read_text()
    assert "Comparison: breast cancer" in html and html.count("<img") >= 4
    assert not [p for p in demo.parent.iterdir() if p.name.startswith(".")]


def test_demo_compares_the_three_variants_from_the_same_start(demo):
    table = pd.read_csv(demo / "comparison_breast_cancer.csv")
    assert table["variant"].tolist() == ["batch", "stochastic", "mini-batch"]
    assert table["steps"].tolist() == [30, 455 * 30, 15 * 30]  # 455 training rows
    assert (table["val accuracy"] > 0.9).all()
    # more steps per epoch: lower training loss after the same 30 epochs
    assert table["train loss"].iloc[1] < table["train loss"].iloc[2] < table["train loss"].iloc[0]
    wine = pd.read_csv(demo / "comparison_wine.csv")
    assert wine["steps"].tolist() == [30, 142 * 30, 5 * 30] and (wine["val accuracy"] > 0.9).all()
    history = pd.read_csv(demo / "histories" / "breast_cancer_batch.csv")
    # θ0 is the null model: the first epoch's loss is the entropy of the training labels
    p = demo_data("breast_cancer").y_train.mean()
    assert history["loss"].iloc[0] == pytest.approx(-(p * np.log(p) + (1 - p) * np.log(1 - p)))


def test_demo_models_predict_again(demo):
    saved = load_saved(demo / "models" / "wine_mini-batch.npz")
    from sklearn.datasets import load_wine

    X = saved.preprocessing.transform(load_wine(as_frame=True).data)
    accuracy = np.mean(saved.model.predict(X).argmax(axis=1) == load_wine().target)
    assert accuracy > 0.95


def test_demo_refuses_a_non_empty_folder(demo, capsys):
    assert main(["demo", "--out", str(demo)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_the_demo_curves_keep_their_legend_beside_the_data():
    """The wine legend once sat on the stochastic curves (bottom left of the axes)."""
    import io

    from gdlab.cli.demo import _curves_figure
    from gdlab.train.callbacks import History

    runs = {}
    for name, low in (("batch", 0.2), ("stochastic", 0.007), ("mini-batch", 0.08)):
        history = History()
        history.history = {"loss": list(np.geomspace(1.0, low, 30)),
                           "val_loss": list(np.geomspace(0.9, low * 1.2, 30))}
        runs[name] = {"history": history}
    figure = _curves_figure(runs, "wine")
    figure.savefig(io.BytesIO(), format="png")
    renderer = figure._get_renderer()
    legend = figure.axes[0].get_legend().get_window_extent(renderer)
    frame = figure.axes[0].get_window_extent(renderer)
    assert legend.x0 >= frame.x1 and legend.x1 <= figure.bbox.x1  # right of the axes, in
