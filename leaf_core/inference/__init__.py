"""Inference: the Predictor, the samplers behind it, and image pre- and post-processing."""

from leaf_core.inference.predictor import EnsemblePrediction, Prediction, Predictor, default_device

__all__ = ["EnsemblePrediction", "Prediction", "Predictor", "default_device"]
