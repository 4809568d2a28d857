"""Per-stage timings of the ML scene pipeline on CPU, with the tiny random models the tests build.

Tiny models measure the pipeline's own overhead (loading, pre/post-processing, layering), not real model
inference: with real weights the model calls dominate. Built-in stages (template, classical masks, depth prior,
layering) run at the broadcast size and are what a host without weights pays.

    .venv/bin/python bench/bench_ml.py [--size 1920x1080] [--repeat 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()  # warm-up (lazy imports, first-call allocations)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000, min(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    import torch

    import tinymodels as tm
    from cinealert.cap.model import DisasterType
    from cinealert.render.backends import get_backend
    from cinealert.render.device import get_device
    from cinealert.render.ml.depth import DPTDepth, PriorDepth
    from cinealert.render.ml.layers import photo_scene
    from cinealert.render.ml.mask import DISASTER_FLUIDS, ClassicalMasker, GroundedSamMasker
    from cinealert.render.ml.prompter import LLMPromptWriter, load_causal_lm
    from cinealert.render.ml.t2i import TextToImage
    from cinealert.render.ml.train import TrainConfig, train_lora
    from cinealert.render.prompt import TemplatePromptWriter

    get_device()
    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="bench-ml-"))
    start = time.perf_counter()
    llama = tm.tiny_llama(root, tm.llm_corpus())
    sd, gdino, sam, dpt = tm.tiny_sd(root), tm.tiny_grounding_dino(root), tm.tiny_sam(root), tm.tiny_dpt(root)
    print(
        f"device cpu, torch threads {torch.get_num_threads()}, tiny models built in {time.perf_counter() - start:.1f} s"
    )

    flood = DisasterType.FLOOD
    image = get_backend("procedural").build(flood, 0, width, height, seed=0).image
    kinds = DISASTER_FLUIDS[flood]
    rows: list[tuple[str, str, float, float]] = []

    def row(stage: str, what: str, fn: Callable[[], object], repeat: int = args.repeat) -> None:
        med, best = timed(fn, repeat)
        rows.append((stage, what, med, best))
        print(f"  {stage}: {what}: {med:.1f} ms", flush=True)

    template = TemplatePromptWriter()
    row("prompt", "template", lambda: template.write(flood))
    adapter = root / "adapter"
    start = time.perf_counter()
    train_lora(
        tm.write_jsonl(root / "rows.jsonl"),
        llama,
        adapter,
        TrainConfig(steps=150, learning_rate=1e-2, batch_size=7, save_every=150),
        progress=False,
    )
    train_s = time.perf_counter() - start
    model, tok = load_causal_lm(llama, adapter)
    llm = LLMPromptWriter(model, tok, template, max_new_tokens=96)
    row("prompt", "tiny Llama + LoRA, greedy, <=96 tokens", lambda: llm.write(flood))
    t2i = TextToImage(sd, steps=25, negative_prompt="people, text")
    row(
        "text-to-image",
        "tiny SD 128x72 (VAE /2), 25 DDIM steps",
        lambda: t2i.generate("flood", width=128, height=72, seed=0),
        3,
    )
    masker = GroundedSamMasker(gdino, sam, box_threshold=0.0, text_threshold=0.0)
    row("mask", f"tiny GroundingDINO+SAM {width}x{height}", lambda: masker.masks(image, kinds))
    classical = ClassicalMasker()
    row("mask", f"classical {width}x{height}", lambda: classical.masks(image, kinds))
    depth = DPTDepth(dpt)
    row("depth", f"tiny DPT {width}x{height}", lambda: depth.nearness(image))
    prior = PriorDepth()
    row("depth", f"prior {width}x{height}", lambda: prior.nearness(image))
    near = prior.nearness(image)
    masks = classical.masks(image, kinds)
    row(
        "layering",
        f"3 layers + Telea fill + motion {width}x{height}",
        lambda: photo_scene(flood, 0, image, near, masks, max_layers=3, seed=0),
    )
    print(
        f"LoRA training, tiny Llama, 150 steps x batch 7: {train_s:.2f} s ({train_s / 150 * 1000:.1f} ms/step)"
    )
    print(f"{'stage':<14} {'what':<48} {'median ms':>10} {'best ms':>9}")
    for stage, what, med, best in rows:
        print(f"{stage:<14} {what:<48} {med:>10.1f} {best:>9.1f}")


if __name__ == "__main__":
    main()
