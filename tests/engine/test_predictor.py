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
    np.testing.assert_array_equal(first.mask, first.probability > 0.5)


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
    np.testing.assert_array_equal(ensemble.mask, ensemble.mean > 0.5)


def test_predict_before_set_image_says_what_to_call(predictor):
    with pytest.raises(RuntimeError, match="set_image"):
        predictor.predict()
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        predictor.set_image(np.zeros((10, 10), dtype=np.uint8))


def test_each_image_gets_its_own_noise_and_the_same_noise_wherever_it_is_predicted(predictor):
    rng = np.random.default_rng(3)
    first, second = (rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(2))
    keys, probabilities = [], []
    for image in (first, second, first):
        predictor.set_image(image)
        keys.append(predictor._image_key)
        probabilities.append(predictor.predict(seed=0).probability)
    assert keys[0] != keys[1] and keys[0] == keys[2]
    np.testing.assert_array_equal(probabilities[0], probabilities[2])


def test_evaluation_scores_exactly_the_masks_the_predictor_gives(tiny_model_dir, synthetic_dataset):
    from leaf_core.evaluation import evaluate_images, load_labelled_images
    from leaf_core.io.dataset_folder import DatasetFolder
    from leaf_core.metrics import dice_score

    images, _ = load_labelled_images(DatasetFolder(synthetic_dataset), "train")
    model = LeafModel.from_pretrained(tiny_model_dir)
    result = evaluate_images(model, images, seeds=(0, 4))
    app = Predictor(LeafModel.from_pretrained(tiny_model_dir), device="cpu")  # as the app makes it: default precision
    for image, row in zip(images, result.per_image):
        app.set_image(image.rgb)
        expected = np.mean([dice_score(app.predict(seed).mask, image.mask) for seed in (0, 4)])
        assert row["dice"] == pytest.approx(expected, abs=1e-12)


def test_masks_are_probabilities_strictly_above_the_threshold():
    from leaf_core.inference.preprocessing import probability_to_mask

    np.testing.assert_array_equal(probability_to_mask(np.array([0.4999, 0.5, 0.5001]), 0.5), [False, False, True])


def test_images_are_resized_as_the_authors_code_does():
    """PIL's bilinear filter over the whole image (torchvision's Resize on a PIL image), then x / 255 * 2 - 1."""
    from PIL import Image

    from leaf_core.inference.preprocessing import image_to_model_input

    rgb = np.random.default_rng(4).integers(0, 255, (1300, 1500, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    authors = np.asarray(image.resize((128, 128), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0 * 2.0 - 1.0
    shortcut = np.asarray(image.resize((128, 128), Image.Resampling.BILINEAR, reducing_gap=2.0))
    assert not np.array_equal(shortcut, np.asarray(image.resize((128, 128), Image.Resampling.BILINEAR)))
    np.testing.assert_array_equal(image_to_model_input(rgb, 128).permute(1, 2, 0).numpy(), authors)
