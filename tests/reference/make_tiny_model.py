#!/usr/bin/python3
"""Writes the seeded random tiny LLaMA checkpoints the end-to-end tests run (Hugging Face layout).

    make_tiny_model.py [OUT_DIR]        (default: tests/data next to this script's parent)

tiny-gqa-f32/           hidden 64, 2 layers, 4 heads / 2 kv heads, F32, one model.safetensors
tiny-gqa-bf16-sharded/  the same weights rounded to BF16, split over two shards + index json
tiny-mha-f16/           4 heads / 4 kv heads, rope_theta 500000, F16, other random weights

The safetensors files are written here with NumPy (no torch / safetensors package needed) in the
layout Hugging Face writes: 8-byte little-endian header length, JSON header padded with spaces to
a multiple of 8, then the tensors back to back in header order.
"""

import json
import os
import struct
import sys

import numpy as np

VOCAB = 256


def tiny_config(n_kv_heads, rope_theta, torch_dtype):
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": n_kv_heads,
        "head_dim": 16,
        "intermediate_size": 160,
        "vocab_size": VOCAB,
        "max_position_embeddings": 64,
        "rope_theta": rope_theta,
        "rms_norm_eps": 1e-5,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": torch_dtype,
    }


def random_weights(cfg, seed):
    """float32 weights with spreads chosen so activations and logits stay O(1): attention scores
    and logits vary by a few units, so softmax is neither uniform nor one-hot."""
    rng = np.random.default_rng(seed)
    hidden, ffn = cfg["hidden_size"], cfg["intermediate_size"]
    q_size = cfg["num_attention_heads"] * cfg["head_dim"]
    kv_size = cfg["num_key_value_heads"] * cfg["head_dim"]

    def normal(shape, std):
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    def norm_weight():
        return (1.0 + rng.normal(0.0, 0.1, size=hidden)).astype(np.float32)

    weights = {"model.embed_tokens.weight": normal((VOCAB, hidden), 1.0)}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        weights[p + "input_layernorm.weight"] = norm_weight()
        weights[p + "self_attn.q_proj.weight"] = normal((q_size, hidden), 0.2)
        weights[p + "self_attn.k_proj.weight"] = normal((kv_size, hidden), 0.2)
        weights[p + "self_attn.v_proj.weight"] = normal((kv_size, hidden), 0.15)
        weights[p + "self_attn.o_proj.weight"] = normal((hidden, q_size), 0.1)
        weights[p + "post_attention_layernorm.weight"] = norm_weight()
        weights[p + "mlp.gate_proj.weight"] = normal((ffn, hidden), 0.15)
        weights[p + "mlp.up_proj.weight"] = normal((ffn, hidden), 0.15)
        weights[p + "mlp.down_proj.weight"] = normal((hidden, ffn), 0.08)
    weights["model.norm.weight"] = norm_weight()
    weights["lm_head.weight"] = normal((VOCAB, hidden), 0.2)
    return weights


def to_bf16_bits(values):
    """Round float32 to BF16 (nearest, ties to even) and return the raw uint16 bits."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.uint16)


def encode(values, dtype):
    if dtype == "F32":
        return values.astype("<f4").tobytes()
    if dtype == "F16":
        return values.astype("<f2").tobytes()
    if dtype == "BF16":
        return to_bf16_bits(values).astype("<u2").tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, dtype):
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, values in tensors.items():
        raw = encode(values, dtype)
        header[name] = {"dtype": dtype, "shape": list(values.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for raw in chunks:
            f.write(raw)
    return offset


def write_config(model_dir, cfg):
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def write_single(model_dir, cfg, weights, dtype):
    write_config(model_dir, cfg)
    write_safetensors(os.path.join(model_dir, "model.safetensors"), weights, dtype)


def write_sharded(model_dir, cfg, weights, dtype, n_shards):
    """Splits the tensors (in order) into n_shards files of roughly equal size, with the index
    that maps every tensor name to its shard, the way transformers' save_pretrained does."""
    write_config(model_dir, cfg)
    names = list(weights)
    sizes = np.cumsum([weights[n].size for n in names])
    shard_of = np.minimum((sizes - 1) * n_shards // sizes[-1], n_shards - 1)
    weight_map, total = {}, 0
    for shard in range(n_shards):
        file_name = f"model-{shard + 1:05d}-of-{n_shards:05d}.safetensors"
        part = {n: weights[n] for n, s in zip(names, shard_of) if s == shard}
        total += write_safetensors(os.path.join(model_dir, file_name), part, dtype)
        weight_map.update({n: file_name for n in part})
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(model_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = argv[0] if argv else os.path.join(os.path.dirname(here), "data")

    gqa = tiny_config(n_kv_heads=2, rope_theta=10000.0, torch_dtype="float32")
    gqa_weights = random_weights(gqa, seed=1234)
    write_single(os.path.join(out_dir, "tiny-gqa-f32"), gqa, gqa_weights, "F32")
    write_sharded(os.path.join(out_dir, "tiny-gqa-bf16-sharded"),
                  dict(gqa, torch_dtype="bfloat16"), gqa_weights, "BF16", n_shards=2)

    mha = tiny_config(n_kv_heads=4, rope_theta=500000.0, torch_dtype="float16")
    write_single(os.path.join(out_dir, "tiny-mha-f16"), mha, random_weights(mha, seed=5678), "F16")


if __name__ == "__main__":
    main(sys.argv[1:])
