"""The paper's ML pipeline as scene-backend stages (``render.backend = "ml"``).

Stages, each with a built-in stand-in when its ``[ml]`` key is empty:

========================  ===========================================  ==================================
stage                     model (``[ml]`` key, local directory)        without it
========================  ===========================================  ==================================
prompt writer             causal LM ``prompt_model_dir`` + LoRA          template (``render.prompt``)
                          ``prompt_adapter_dir``
text-to-image             Stable Diffusion ``diffusion_model_dir``     the procedural scene's picture
fluid masks               GroundingDINO ``grounding_model_dir`` +      colour/texture rules
                          SAM ``sam_model_dir``
depth                     DPT ``depth_model_dir``                      vertical + aerial-perspective prior
layers, motion            (numpy + OpenCV)                             —
LDI back layers           SD inpainting ``inpaint_model_dir``          Telea (``render.ldi.build``)
========================  ===========================================  ==================================

Training and evaluation: ``cinealert prompter dataset`` (BLIP captions, ``blip_model_dir``), ``cinealert prompter
train`` (LoRA), ``cinealert eval`` (the paper's Table 1: stills from a plain prompt and from the prompt writer,
scored by Inception FID, CLIP score, LPIPS and SSIM from local weights; ``evaluate``, ``stills``, ``inception``,
``lpips``).

Importing this package imports no torch/transformers/diffusers/peft/cv2: every stage imports its library when it
is built, so ``cinealert`` commands that never render stay fast.
"""

from cinealert.render.ml.backend import MLBackend

__all__ = ["MLBackend"]
