#!/usr/bin/python3
"""Independent float64 NumPy reference of the LLaMA forward pass.

Written from the model equations, sharing no code with the C++ engine, so the engine's end-to-end
tests have something trustworthy to compare against. Reads a Hugging Face LLaMA directory
(config.json + model.safetensors, or shards listed in model.safetensors.index.json) and writes the
logits of every position of one token sequence to a JSON file.

    llama_ref.py MODEL_DIR --tokens 1,5,9 --out FILE.json
    llama_ref.py MODEL_DIR --prompt "In the beginning" --out FILE.json

With --prompt the text is tokenized by MODEL_DIR/tokenizer.model (sentencepiece) with BOS first.
Weights stored as F16 or BF16 are widened exactly to float64, so the reference sees the same
values the engine does.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np


# ---------------------------------------------------------------------------------------------
# safetensors reading: 8-byte little-endian header length, JSON header, raw little-endian data.

def bf16_bits_to_float64(bits):
    """BF16 is the upper half of an IEEE float32; widen by shifting the bits back into place."""
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def decode_tensor(raw, dtype, shape):
    if dtype == "F32":
        values = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    elif dtype == "F16":
        values = np.frombuffer(raw, dtype="<f2").astype(np.float64)
    elif dtype == "BF16":
        values = bf16_bits_to_float64(np.frombuffer(raw, dtype="<u2"))
    elif dtype == "F64":
        values = np.frombuffer(raw, dtype="<f8").astype(np.float64)
    else:
        raise ValueError(f"unsupported safetensors dtype {dtype}")
    count = int(np.prod(shape)) if shape else 1
    if values.size != count:
        raise ValueError(f"tensor has {values.size} elements, shape {shape} needs {count}")
    return values.reshape(shape)


def read_safetensors(path):
    """Returns {name: (float64 array, stored dtype string)} for every tensor in the file."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len].decode("utf-8"))
    body = data[8 + header_len:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        tensors[name] = (decode_tensor(body[begin:end], info["dtype"], info["shape"]),
                         info["dtype"])
    return tensors


def read_model_weights(model_dir):
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    single_path = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(index_path):
        with open(index_path) as f:
            weight_map = json.load(f)["weight_map"]
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            tensors.update(read_safetensors(os.path.join(model_dir, shard)))
        missing = [name for name in weight_map if name not in tensors]
        if missing:
            raise ValueError(f"index lists tensors missing from the shards: {missing[:5]}")
        return tensors
    if os.path.exists(single_path):
        return read_safetensors(single_path)
    raise FileNotFoundError(f"no model.safetensors or model.safetensors.index.json in {model_dir}")


# ---------------------------------------------------------------------------------------------
# The model.

class Config:
    def __init__(self, raw):
        self.hidden = raw["hidden_size"]
        self.n_layers = raw["num_hidden_layers"]
        self.n_heads = raw["num_attention_heads"]
        self.n_kv_heads = raw.get("num_key_value_heads") or self.n_heads
        self.head_dim = raw.get("head_dim") or self.hidden // self.n_heads
        self.ffn = raw["intermediate_size"]
        self.vocab = raw["vocab_size"]
        self.eps = raw.get("rms_norm_eps", 1e-6)
        self.theta = raw.get("rope_theta", 10000.0)
        self.tie_embeddings = raw.get("tie_word_embeddings", False)
        self.max_positions = raw.get("max_position_embeddings")
        self.bos = raw.get("bos_token_id", 1)
        if raw.get("rope_scaling"):
            raise ValueError("rope_scaling is not implemented by this reference")
        if raw.get("hidden_act", "silu") != "silu":
            raise ValueError(f"unsupported hidden_act {raw['hidden_act']}")
        if self.n_heads % self.n_kv_heads != 0:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope_rotate_half(x, positions, theta):
    """HF LLaMA RoPE on x[..., seq, head_dim]: dimension i pairs with i + head_dim/2 and both
    rotate by angle pos * theta^(-2i/head_dim)."""
    head_dim = x.shape[-1]
    half = head_dim // 2
    inv_freq = theta ** (-(2.0 * np.arange(half)) / head_dim)  # [half]
    angles = positions[:, None].astype(np.float64) * inv_freq[None, :]  # [seq, half]
    cos, sin = np.cos(angles), np.sin(angles)
    first, second = x[..., :half], x[..., half:]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def attention(h, layer, cfg, positions):
    seq = h.shape[0]
    q = h @ layer["q"].T  # [seq, n_heads*head_dim]
    k = h @ layer["k"].T  # [seq, n_kv_heads*head_dim]
    v = h @ layer["v"].T
    q = q.reshape(seq, cfg.n_heads, cfg.head_dim).transpose(1, 0, 2)  # [heads, seq, d]
    k = k.reshape(seq, cfg.n_kv_heads, cfg.head_dim).transpose(1, 0, 2)
    v = v.reshape(seq, cfg.n_kv_heads, cfg.head_dim).transpose(1, 0, 2)
    q = rope_rotate_half(q, positions, cfg.theta)
    k = rope_rotate_half(k, positions, cfg.theta)

    group = cfg.n_heads // cfg.n_kv_heads
    causal = np.triu(np.ones((seq, seq), dtype=bool), k=1)  # True above the diagonal = masked
    out = np.empty((cfg.n_heads, seq, cfg.head_dim))
    for head in range(cfg.n_heads):
        kv_head = head // group
        scores = q[head] @ k[kv_head].T / np.sqrt(cfg.head_dim)  # [seq, seq]
        scores[causal] = -np.inf
        scores -= scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        out[head] = probs @ v[kv_head]
    out = out.transpose(1, 0, 2).reshape(seq, cfg.n_heads * cfg.head_dim)
    return out @ layer["o"].T


def mlp(h, layer):
    return (silu(h @ layer["gate"].T) * (h @ layer["up"].T)) @ layer["down"].T


def load_layers(tensors, cfg):
    def get(name, shape):
        if name not in tensors:
            raise KeyError(f"missing tensor {name}")
        value = tensors[name][0]
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"{name} has shape {value.shape}, expected {shape}")
        return value

    q_size, kv_size = cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim
    layers = []
    for i in range(cfg.n_layers):
        p = f"model.layers.{i}."
        layers.append({
            "attn_norm": get(p + "input_layernorm.weight", [cfg.hidden]),
            "q": get(p + "self_attn.q_proj.weight", [q_size, cfg.hidden]),
            "k": get(p + "self_attn.k_proj.weight", [kv_size, cfg.hidden]),
            "v": get(p + "self_attn.v_proj.weight", [kv_size, cfg.hidden]),
            "o": get(p + "self_attn.o_proj.weight", [cfg.hidden, q_size]),
            "ffn_norm": get(p + "post_attention_layernorm.weight", [cfg.hidden]),
            "gate": get(p + "mlp.gate_proj.weight", [cfg.ffn, cfg.hidden]),
            "up": get(p + "mlp.up_proj.weight", [cfg.ffn, cfg.hidden]),
            "down": get(p + "mlp.down_proj.weight", [cfg.hidden, cfg.ffn]),
        })
    embedding = get("model.embed_tokens.weight", [cfg.vocab, cfg.hidden])
    final_norm = get("model.norm.weight", [cfg.hidden])
    if "lm_head.weight" in tensors:
        lm_head = get("lm_head.weight", [cfg.vocab, cfg.hidden])
    elif cfg.tie_embeddings:
        lm_head = embedding
    else:
        raise KeyError("missing tensor lm_head.weight (and tie_word_embeddings is false)")
    return embedding, layers, final_norm, lm_head


def forward(model_dir, tokens):
    """Logits [len(tokens), vocab] in float64 for every position of `tokens`."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = Config(json.load(f))
    embedding, layers, final_norm, lm_head = load_layers(read_model_weights(model_dir), cfg)
    tokens = np.asarray(tokens, dtype=np.int64)
    if tokens.size == 0 or tokens.min() < 0 or tokens.max() >= cfg.vocab:
        raise ValueError(f"token ids must be in [0, {cfg.vocab}) and non-empty")
    if cfg.max_positions and tokens.size > cfg.max_positions:
        raise ValueError(f"{tokens.size} tokens exceed max_position_embeddings {cfg.max_positions}")

    positions = np.arange(tokens.size)
    x = embedding[tokens]
    for layer in layers:
        x = x + attention(rms_norm(x, layer["attn_norm"], cfg.eps), layer, cfg, positions)
        x = x + mlp(rms_norm(x, layer["ffn_norm"], cfg.eps), layer)
    return rms_norm(x, final_norm, cfg.eps) @ lm_head.T, cfg


def tokenize_prompt(model_dir, prompt, bos):
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
    return [bos] + processor.encode(prompt)


def model_name(model_dir):
    """The model directory relative to the repository root when it lies inside it (tests locate
    the model from this), otherwise its absolute path."""
    repo_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    model_dir = os.path.abspath(model_dir)
    relative = os.path.relpath(model_dir, repo_root)
    return model_dir if relative.startswith("..") else relative


def round_significant(values, digits):
    return [float(f"{v:.{digits}g}") for v in values]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--prompt", help="text, tokenized with tokenizer.model, BOS prepended")
    source.add_argument("--tokens", help="comma-separated token ids")
    parser.add_argument("--out", required=True, help="output JSON file")
    parser.add_argument("--digits", type=int, default=8, help="significant digits kept")
    args = parser.parse_args(argv)

    with open(os.path.join(args.model_dir, "config.json")) as f:
        bos = json.load(f).get("bos_token_id", 1)
    if args.prompt is not None:
        tokens = tokenize_prompt(args.model_dir, args.prompt, bos)
    else:
        tokens = [int(t) for t in args.tokens.split(",") if t.strip()]

    logits, cfg = forward(args.model_dir, tokens)
    result = {
        "model": model_name(args.model_dir),
        "tokens": tokens,
        "vocab_size": cfg.vocab,
        "logits": [round_significant(row, args.digits) for row in logits],
    }
    if args.prompt is not None:
        result["prompt"] = args.prompt
    with open(args.out, "w") as f:
        json.dump(result, f, separators=(",", ":"))
        f.write("\n")
    print(f"{args.out}: {len(tokens)} tokens x {cfg.vocab} logits, "
          f"max |logit| {np.abs(logits).max():.4g}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
