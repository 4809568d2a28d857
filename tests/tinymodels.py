"""Tiny, randomly initialised models of the real architectures, saved like hub checkpoints.

Tests load them through exactly the production loaders (``from_pretrained`` on a local directory), so every
loading, pre- and post-processing line runs for real; only the weights are random. Each builder is idempotent:
it writes ``<root>/<name>`` once and returns it, so session fixtures in several test modules share one build.
Gotchas these configs encode are in ``/work/shared/FACTS.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

FLUID_WORDS = ["water", "river", "flood", "fire", "flame", "smoke", "snow", "rain", "mud", "dust", "haze"]


def _done(path: Path) -> bool:
    return (path / ".built").exists()


def _mark(path: Path) -> Path:
    (path / ".built").write_text("ok\n")
    return path


# --- causal LM (Llama architecture) with a byte-level BPE tokenizer -------------------------------------------


def tiny_llama(root: Path, corpus: list[str]) -> Path:
    """A 2-layer Llama (hidden 32) and a byte-level BPE trained on ``corpus`` (plus the instruction markers)."""
    out = root / "llama"
    if _done(out):
        return out
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    special = ["<unk>", "<s>", "</s>", "<pad>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([*corpus, "[INST] [/INST]"], trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return _mark(out)


# --- CLIP BPE tokenizer written by hand -----------------------------------------------------------------------


def _bytes_to_unicode() -> list[str]:
    bs = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def write_clip_tokenizer(out: Path) -> int:
    """256 byte symbols, their ``</w>`` forms, a few merges, start/end tokens. Returns the vocab size."""
    out.mkdir(parents=True, exist_ok=True)
    symbols = _bytes_to_unicode()
    vocab: dict[str, int] = {}
    for s in symbols:
        vocab[s] = len(vocab)
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    merges = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("i", "n"), ("e", "r"), ("o", "n</w>")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (out / "vocab.json").write_text(json.dumps(vocab))
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return len(vocab)


def _clip_tokenizer(out: Path):  # type: ignore[no-untyped-def]
    from transformers import CLIPTokenizer

    write_clip_tokenizer(out)
    vocab = json.loads((out / "vocab.json").read_text())
    merges = [tuple(line.split()) for line in (out / "merges.txt").read_text().splitlines()[1:] if line]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=32)


# --- Stable Diffusion -----------------------------------------------------------------------------------------


def tiny_sd(root: Path) -> Path:
    out = root / "sd"
    if _done(out):
        return out
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = _clip_tokenizer(root / "sd-tokenizer-src")
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        block_out_channels=[8, 16],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=4,
        sample_size=32,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=len(tokenizer) - 2,
            eos_token_id=len(tokenizer) - 1,
            pad_token_id=len(tokenizer) - 1,
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            max_position_embeddings=32,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out)
    return _mark(out)


# --- BERT-style word vocab (GroundingDINO text, BLIP text) ----------------------------------------------------


def _bert_vocab(out: Path, extra: list[str]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", ".", ",", "a", "the", "of", "in", "on"]
    words += [*FLUID_WORDS, *extra]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    words += [w for w in letters if w not in words] + [f"##{c}" for c in letters]
    seen: dict[str, None] = dict.fromkeys(words)
    (out / "vocab.txt").write_text("".join(f"{w}\n" for w in seen))
    return out


# --- GroundingDINO --------------------------------------------------------------------------------------------


def tiny_grounding_dino(root: Path) -> Path:
    out = root / "gdino"
    if _done(out):
        return out
    from transformers import (
        BertConfig,
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    tokenizer = BertTokenizer.from_pretrained(_bert_vocab(root / "gdino-vocab", []))
    backbone = SwinConfig(
        image_size=64,
        patch_size=4,
        embed_dim=8,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 2, 2],
        window_size=2,
        out_features=["stage2", "stage3", "stage4"],
    )
    text = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    config = GroundingDinoConfig(
        backbone_config=backbone,
        text_config=text,
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        num_queries=12,
        num_feature_levels=4,
        encoder_n_points=2,
        decoder_n_points=2,
        max_text_len=32,
    )
    torch.manual_seed(0)
    model = GroundingDinoForObjectDetection(config).eval()
    processor = GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 128, "longest_edge": 128}),
        tokenizer=tokenizer,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return _mark(out)


# --- SAM ------------------------------------------------------------------------------------------------------


def tiny_sam(root: Path) -> Path:
    out = root / "sam"
    if _done(out):
        return out
    from transformers import (
        SamConfig,
        SamImageProcessor,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )

    size = 64
    config = SamConfig(
        vision_config=SamVisionConfig(
            hidden_size=16,
            output_channels=16,
            num_pos_feats=8,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=size,
            patch_size=8,
            window_size=4,
            global_attn_indexes=[1],
            mlp_dim=32,
        ),
        prompt_encoder_config=SamPromptEncoderConfig(
            hidden_size=16, image_size=size, patch_size=8, mask_input_channels=4
        ),
        mask_decoder_config=SamMaskDecoderConfig(
            hidden_size=16, num_hidden_layers=2, num_attention_heads=2, mlp_dim=32, iou_head_hidden_dim=16
        ),
    )
    torch.manual_seed(0)
    model = SamModel(config).eval()
    processor = SamProcessor(
        image_processor=SamImageProcessor(
            size={"longest_edge": size},
            pad_size={"height": size, "width": size},
            mask_size={"longest_edge": 16},
        )
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return _mark(out)


# --- DPT ------------------------------------------------------------------------------------------------------


def tiny_dpt(root: Path) -> Path:
    out = root / "dpt"
    if _done(out):
        return out
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    config = DPTConfig(
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=32,
        patch_size=8,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 16, 16, 16],
        fusion_hidden_size=16,
        is_hybrid=False,
    )
    torch.manual_seed(0)
    model = DPTForDepthEstimation(config).eval()
    with torch.no_grad():  # a wider random head, so the tiny model's depth is not flat (ReLU of near-zero)
        for param in model.head.parameters():
            param.normal_(0.0, 0.5)
    processor = DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return _mark(out)


# --- BLIP captioner -------------------------------------------------------------------------------------------


def tiny_blip(root: Path) -> Path:
    out = root / "blip"
    if _done(out):
        return out
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        BlipTextConfig,
        BlipVisionConfig,
    )

    tokenizer = BertTokenizer.from_pretrained(
        _bert_vocab(root / "blip-vocab", ["muddy", "brown", "street", "forest", "burning"]), bos_token="[DEC]"
    )
    vocab = tokenizer.get_vocab()
    text = BlipTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        encoder_hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=64,
        bos_token_id=vocab["[DEC]"],
        sep_token_id=vocab["[SEP]"],
        eos_token_id=vocab["[SEP]"],
        pad_token_id=vocab["[PAD]"],
    )
    vision = BlipVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    config = BlipConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16)
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(config).eval()
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return _mark(out)


# --- CLIP (image + text) for the CLIP score and CLIP-feature FID ----------------------------------------------


def tiny_clip(root: Path) -> Path:
    out = root / "clip"
    if _done(out):
        return out
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTextConfig,
        CLIPVisionConfig,
    )

    tokenizer = _clip_tokenizer(root / "clip-tokenizer-src")
    text = CLIPTextConfig(
        vocab_size=len(tokenizer),
        bos_token_id=len(tokenizer) - 2,
        eos_token_id=len(tokenizer) - 1,
        pad_token_id=len(tokenizer) - 1,
        hidden_size=16,
        intermediate_size=32,
        num_attention_heads=2,
        num_hidden_layers=2,
        max_position_embeddings=32,
    )
    vision = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_attention_heads=2,
        num_hidden_layers=2,
        image_size=32,
        patch_size=8,
    )
    config = CLIPConfig(text_config=text.to_dict(), vision_config=vision.to_dict(), projection_dim=16)
    torch.manual_seed(0)
    model = CLIPModel(config).eval()
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return _mark(out)


# --- shared test data and helpers -----------------------------------------------------------------------------

#: One description per type: the tiny LLM memorises these, so a trained adapter gives a known prompt.
DESCRIPTIONS = {
    "flood": "Brown floodwater covers the street and parked cars under grey clouds.",
    "landslide": "A river of mud and rocks slides down the hillside onto the road.",
    "drought": "A cracked dry riverbed under a hazy white sky.",
    "wildfire": "Flames and thick smoke rise from the burning pine forest.",
    "heavy_snow": "Deep snow buries the village road and the roofs.",
    "typhoon": "Storm waves crash over the sea wall in strong wind.",
    "earthquake": "Collapsed buildings and rubble fill the cracked street.",
}


#: Alert keywords per type for rows that carry them (``SceneBrief.keywords`` after the type's name); the flood
#: row's are what ``samples/en_flood.xml`` asks for, so the tiny adapter answers that alert from its training.
KEYWORDS = {
    "flood": "urban, at midday, under torrential rain, severe",
    "wildfire": "rural, at midday, in strong wind, catastrophic",
}


def write_jsonl(path: Path, *, keywords: bool = False) -> Path:
    """One ``{"disaster", "description"}`` row per type; with ``keywords``, also one ``{"keywords",
    "description"}`` row per type whose instruction names alert words (``KEYWORDS``, else a stock set)."""
    from cinealert.cap.model import DisasterType
    from cinealert.render.prompt import DISPLAY_NAME

    rows = [{"disaster": k, "description": v} for k, v in DESCRIPTIONS.items()]
    if keywords:
        rows += [
            {"keywords": f"{DISPLAY_NAME[DisasterType(k)]}, {KEYWORDS.get(k, 'rural, at night, severe')}",
             "description": v}
            for k, v in DESCRIPTIONS.items()
        ]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def llm_corpus() -> list[str]:
    from cinealert.cap.model import DisasterType
    from cinealert.render.ml.prompter import format_instruction
    from cinealert.render.prompt import DISPLAY_NAME

    return [f"{format_instruction(DISPLAY_NAME[DisasterType(k)])} {v}" for k, v in DESCRIPTIONS.items()]


def tiny_adapter(root: Path, llama: Path) -> Path:
    """A LoRA adapter that has memorised ``DESCRIPTIONS`` under the bare type name and under alert keywords
    (300 steps, ~7 s): greedy decoding returns them, for ``[INST] Flood [/INST]`` and for an alert's brief."""
    from cinealert.render.ml.train import TrainConfig, train_lora

    out = root / "adapter"
    if not (out / "adapter_config.json").is_file():
        config = TrainConfig(steps=300, learning_rate=1e-2, batch_size=7, save_every=100)
        train_lora(write_jsonl(root / "rows.jsonl", keywords=True), llama, out, config, progress=False)
    return out


def single_thread() -> None:
    """Pick the process device first (it sizes torch's thread pool), then use one thread: the CPU is shared."""
    from cinealert.render.device import get_device

    get_device()
    torch.set_num_threads(1)
