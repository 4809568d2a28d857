"""The paper's ML pipeline as scene-backend stages: LLM prompt writer (+ LoRA training), Stable Diffusion,
GroundingDINO + SAM fluid masks, DPT depth, layered-depth scene, evaluation metrics.

Importing this package imports no torch/transformers/diffusers/peft/cv2: every stage imports its library when it
is built, so ``cinealert`` commands that never render stay fast.
"""

from cinealert.render.ml.backend import MLBackend

__all__ = ["MLBackend"]
