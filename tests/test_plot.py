import numpy as np

import tnkit as tk


def test_draw_returns_a_figure_with_every_node_and_bond_label(tmp_path):
    rng = np.random.default_rng(0)
    net = tk.TensorNetwork()
    net.add_node("A", rng.standard_normal((2, 3, 7)), ("i", "r", "b"))
    net.add_node("B", rng.standard_normal((7, 5, 3)), ("b", "k", "r"))
    net.add_node("C", rng.standard_normal((3, 6)), ("r", "l"))
    fig = net.draw(title="demo")
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"A", "B", "C", "7", "r=3", "i=2", "k=5", "l=6"} <= texts
    fig.savefig(tmp_path / "net.png")
    assert (tmp_path / "net.png").stat().st_size > 1000


def test_plot_history_log_scale():
    from tnkit import plot

    fig = plot.plot_history([1.0, 0.1, 0.01], label="cp")
    assert fig.axes[0].get_yscale() == "log"


def test_bad_arguments_are_named():
    import pytest

    net = tk.TensorNetwork().add_node("A", np.ones((2, 3)), ("i", "j"))
    with pytest.raises(ValueError, match="net is empty"):
        tk.plot.draw(tk.TensorNetwork())
    with pytest.raises(ValueError, match="seed"):
        net.draw(seed="a")
    with pytest.raises(TypeError, match="ax"):
        net.draw(ax=5)
    with pytest.raises(TypeError, match="history"):
        tk.plot.plot_history("abc")
    with pytest.raises(ValueError, match="history must be one-dimensional"):
        tk.plot.plot_history(5)
    with pytest.raises(ValueError, match="history"):
        tk.plot.plot_history(np.ones((2, 2)))
