import numpy as np
import pytest

from leaf_core.inference import Predictor
from leaf_core.model import LeafModel


@pytest.fixture
def predictor(tiny_model_dir):
    return Predictor(LeafModel.from_pretrained(tiny_model_dir), device="cpu")


def test_masks_come_out_at_the_input_size_and_repeat_per_seed(predictor):
    image = np.random.default_rng(1).integers(0, 255, (123, 77, 3), dtype=np.uint8)
    predictor.set_image(image)
    first = predictor.predict(seed=0)
    assert first.probability.shape == (123, 77) and first.mask.shape == (123, 77)
    assert first.probability.dtype == np.float32 and first.mask.dtype == bool
    assert 0.0 <= first.probability.min() <= first.probability.max() <= 1.0
    np.testing.assert_array_equal(first.probability, predictor.predict(seed=0).probability)
    assert not np.array_equal(first.probability, predictor.predict(seed=1).probability)
    np.testing.assert_array_equal(first.mask, first.probability >= 0.5)


def test_ddim_and_ensemble(predictor):
    image = np.random.default_rng(2).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    predictor.set_image(image)
    single = predictor.predict(seed=0, steps=1).probability
    ddim = predictor.predict(seed=0, steps=4).probability
    assert ddim.shape == single.shape and not np.array_equal(single, ddim)
    ensemble = predictor.predict_ensemble(k=4)
    assert ensemble.mean.shape == ensemble.uncertainty.shape == (64, 64)
    assert 0.0 <= ensemble.uncertainty.min() and ensemble.uncertainty.max() <= 1.0
    assert ensemble.uncertainty.max() > 0, "different seeds must disagree somewhere on a random model"
    np.testing.assert_array_equal(ensemble.mask, ensemble.mean >= 0.5)


def test_predict_before_set_image_says_what_to_call(predictor):
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.predict()
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        predictor.set_image(np.zeros((10, 10), dtype=np.uint8))
