import pytest

from tnkit import datasets


def test_image_tensor_folds_the_photograph():
    assert datasets.image_tensor(order=4).shape == (16, 16, 16, 16)


@pytest.mark.parametrize("order", [0, -2, "a", True, 2.0, 3])
def test_bad_order_is_named(order):
    with pytest.raises(ValueError, match="order"):
        datasets.image_tensor(order=order)


@pytest.mark.parametrize("name", ["x", 5])
def test_bad_name_is_named(name):
    with pytest.raises(ValueError, match="name"):
        datasets.image(name)
