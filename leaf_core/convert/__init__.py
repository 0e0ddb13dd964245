"""Importing weights made by other code: the reference LEAF pipeline and the CompVis checkpoints.

    tensor_rules.py     exact conversion: one rule per source tensor, every target filled, shapes checked
    ldm_unet.py         CompVis openaimodel UNetModel -> our diffusers UNet2DModel (legacy qkv split)
    ldm_autoencoder.py  CompVis kl-f8 AutoencoderKL -> diffusers AutoencoderKL / our ImageEncoder
    weights_files.py    safetensors, or pickles read with torch.load(weights_only=True) only
    reference.py        `leaf import-weights --from reference`
    compvis.py          `leaf import-weights --from compvis`
"""

from leaf_core.convert.compvis import import_compvis
from leaf_core.convert.reference import import_reference

__all__ = ["import_compvis", "import_reference"]
