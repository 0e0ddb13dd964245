"""Inference: the Predictor and the samplers behind it."""

from leaf_core.inference.predictor import EnsemblePrediction, Prediction, Predictor, default_device

__all__ = ["EnsemblePrediction", "Prediction", "Predictor", "default_device"]
