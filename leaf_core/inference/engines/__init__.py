"""Inference engines: the backends a Predictor runs its three graphs on (torch, the reference, and
OpenVINO), the export and cache of the graphs, and int8 (docs/inference-engine.md)."""
