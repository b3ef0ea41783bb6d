#!/usr/bin/python3
"""Train the tiny LLaMA-architecture model shipped as the project's default model.

Data: the King James Bible from the Debian package bible-kjv-text, dumped with
`bible -f -p /usr/lib Gen1:1-Rev22:21` (one verse per line, "Ref text").
Verse references are stripped and verses are joined into one line per chapter,
so the text reads as continuous prose.  Every 40th chapter is held out for
validation and written to <out-dir>/heldout.txt.

The model follows Hugging Face LlamaForCausalLM exactly (RMSNorm, rotate-half
RoPE, grouped-query attention, SwiGLU MLP, untied lm_head), so the output
directory has the same layout and tensor names as a LLaMA-2 HF checkpoint:
config.json, generation_config.json, model.safetensors (F16), tokenizer.model.

Run with Debian's interpreter (it sees python3-torch / numpy / sentencepiece):
    /usr/bin/python3 tools/train/train_tiny_llama.py
Defaults reproduce the shipped model.  --benchmark-steps N only times N steps.
"""

import argparse
import hashlib
import io
import json
import math
import os
import platform
import random
import re
import struct
import subprocess
import sys
import time

# The machine is shared with compile jobs.  With libgomp's default (spinning)
# wait policy, a 2-thread parallel region stalls whenever one thread is
# descheduled: measured 2.5-3.5x slower per step under load.  Must be set
# before torch loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import sentencepiece as spm
import torch
import torch.nn as nn
import torch.nn.functional as F

BOS_ID = 1
EOS_ID = 2
BIBLE_DATA = "/usr/lib/bible.data"
BIBLE_RANGE = "Gen1:1-Rev22:21"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# --------------------------------------------------------------------------- data


def package_version(name):
    try:
        return subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_kjv_chapters():
    """Returns [(book, chapter, [verse text, ...]), ...] in canonical order."""
    # -f turns pretty-printing off: one verse per line prefixed by its reference.
    # -p pins the data path so a stray bible.data in the cwd cannot be picked up.
    raw = subprocess.run(
        ["bible", "-f", "-p", "/usr/lib", BIBLE_RANGE],
        capture_output=True, text=True, check=True, cwd="/",
    ).stdout
    ref_re = re.compile(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$")
    chapters = []
    for line in raw.splitlines():
        m = ref_re.match(line)
        if not m:
            raise RuntimeError(f"unexpected line from bible: {line!r}")
        book, chap, text = m.group(1), int(m.group(2)), m.group(4).strip()
        if not chapters or chapters[-1][0] != book or chapters[-1][1] != chap:
            chapters.append((book, chap, []))
        chapters[-1][2].append(text)
    return chapters


def split_chapters(chapters, heldout_every):
    train, heldout = [], []
    for i, ch in enumerate(chapters):
        (heldout if i % heldout_every == heldout_every - 1 else train).append(ch)
    return train, heldout


def chapter_lines(chapters):
    return [" ".join(verses) for _, _, verses in chapters]


# ---------------------------------------------------------------------- tokenizer


def tokenizer_settings(vocab_size, threads):
    # Mirrors the LLaMA tokenizer's trainer_spec except vocab size / coverage.
    return dict(
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        split_digits=True,
        unk_id=0,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        pad_id=-1,
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        allow_whitespace_only_pieces=True,
        split_by_unicode_script=True,
        split_by_whitespace=True,
        normalization_rule_name="identity",
        character_coverage=1.0,
        max_sentence_length=4192,
        num_threads=threads,
        minloglevel=2,
    )


def train_tokenizer(train_verses, settings):
    proto = io.BytesIO()
    # Verses (not whole chapters) are the trainer's sentences: chapters can exceed
    # max_sentence_length and would be silently dropped.
    spm.SentencePieceTrainer.train(sentence_iterator=iter(train_verses), model_writer=proto, **settings)
    return proto.getvalue()


# -------------------------------------------------------------------------- model


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_cos_sin(head_dim, max_pos, theta):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    positions = torch.arange(max_pos, dtype=torch.float32)
    freqs = torch.outer(positions, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)  # HF layout: frequencies repeated, not interleaved
    return emb.cos(), emb.sin()


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv_heads = cfg["num_key_value_heads"]
        self.head_dim = cfg["hidden_size"] // self.n_heads
        hidden = cfg["hidden_size"]
        self.q_proj = nn.Linear(hidden, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, self.n_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, self.n_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, hidden, bias=False)

    def project(self, x, cos, sin):
        bsz, seq, _ = x.shape
        q = self.q_proj(x).view(bsz, seq, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(bsz, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(bsz, seq, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        return q, k, v

    def forward_hf(self, x, cos, sin, causal_mask):
        """Literal transcription of HF LlamaAttention (eager); checks forward()."""
        bsz, seq, _ = x.shape
        q, k, v = self.project(x, cos, sin)
        n_rep = self.n_heads // self.n_kv_heads
        k = k.repeat_interleave(n_rep, dim=1)  # query head h reads KV head h // n_rep
        v = v.repeat_interleave(n_rep, dim=1)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim) + causal_mask
        probs = torch.softmax(scores, dim=-1)
        return self.o_proj(torch.matmul(probs, v).transpose(1, 2).reshape(bsz, seq, -1))

    def forward(self, x, cos, sin, causal_mask):
        # Same maths as forward_hf, arranged for CPU training speed: the n_rep
        # query heads sharing a KV head are stacked along the row axis, so K/V
        # are never copied, and baddbmm folds the 1/sqrt(head_dim) scale and
        # the causal mask into the QK^T product.
        bsz, seq, _ = x.shape
        n_rep = self.n_heads // self.n_kv_heads
        q, k, v = self.project(x, cos, sin)
        q = q.reshape(bsz * self.n_kv_heads, n_rep * seq, self.head_dim)
        k = k.reshape(bsz * self.n_kv_heads, seq, self.head_dim)
        v = v.reshape(bsz * self.n_kv_heads, seq, self.head_dim)
        mask = causal_mask.repeat(n_rep, 1)
        scores = torch.baddbmm(mask, q, k.transpose(1, 2), alpha=1.0 / math.sqrt(self.head_dim))
        probs = torch.softmax(scores, dim=-1)
        out = torch.bmm(probs, v).view(bsz, self.n_heads, seq, self.head_dim)
        return self.o_proj(out.transpose(1, 2).reshape(bsz, seq, -1))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hidden, inter = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(hidden, inter, bias=False)
        self.up_proj = nn.Linear(hidden, inter, bias=False)
        self.down_proj = nn.Linear(inter, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, causal_mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, causal_mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = LlamaModel(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
        cos, sin = rope_cos_sin(head_dim, cfg["max_position_embeddings"], cfg["rope_theta"])
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)

    def init_weights(self, std):
        n_layers = self.cfg["num_hidden_layers"]
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                nn.init.ones_(p)
            elif name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                # Residual-branch outputs scaled down so the stream's variance
                # does not grow with depth at initialisation (GPT-2 style).
                nn.init.normal_(p, mean=0.0, std=std / math.sqrt(2 * n_layers))
            else:
                nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, ids):
        seq = ids.shape[1]
        cos = self.rope_cos[:seq]
        sin = self.rope_sin[:seq]
        causal_mask = torch.full((seq, seq), float("-inf"), device=ids.device).triu(1)
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, causal_mask)
        return self.lm_head(self.model.norm(x))


# -------------------------------------------------------------------- safetensors


def write_safetensors(path, tensors, metadata):
    """tensors: ordered {name: torch.Tensor (float16)}.  Format per the
    safetensors spec: u64 LE header size, JSON header, then raw LE data."""
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name, t in tensors.items():
        assert t.dtype == torch.float16
        data = t.contiguous().numpy().astype("<f2").tobytes()
        header[name] = {"dtype": "F16", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad with spaces so the data section starts 8-byte aligned.
    header_bytes += b" " * ((8 - len(header_bytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    base = 8 + header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F16"
        start, end = info["data_offsets"]
        arr = np.frombuffer(raw[base + start : base + end], dtype="<f2").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, header.get("__metadata__", {})


# ------------------------------------------------------------------------- helpers


def schedule_progress(step, elapsed_s, args):
    """Fraction of the cosine phase done.  With --train-minutes the schedule
    follows the wall clock (the machine is shared with compile jobs, so the
    step rate is not predictable); --steps stays a hard cap."""
    by_steps = (step - args.warmup_steps) / max(1, args.steps - args.warmup_steps)
    if args.train_minutes <= 0:
        return by_steps
    return max(by_steps, elapsed_s / (args.train_minutes * 60.0))


def lr_at(step, progress, args):
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1.0 + math.cos(math.pi * min(1.0, progress)))


def sample_batch(stream, batch_size, seq_len, gen):
    """Windows of seq_len targets; the input is BOS followed by the first
    seq_len-1 targets, matching how the engine sees a prompt (BOS first) and
    how llama-perplexity builds chunks."""
    starts = torch.randint(0, len(stream) - seq_len, (batch_size,), generator=gen)
    targets = torch.stack([stream[s : s + seq_len] for s in starts.tolist()])
    inputs = torch.cat([torch.full((batch_size, 1), BOS_ID, dtype=torch.long), targets[:, :-1]], dim=1)
    return inputs, targets


@torch.no_grad()
def eval_all_positions(model, stream, seq_len, batch_size=8):
    """Mean NLL over non-overlapping windows (BOS + seq_len-1 tokens), every
    position scored.  Used during training."""
    model.eval()
    n_windows = len(stream) // seq_len
    total, count = 0.0, 0
    for w0 in range(0, n_windows, batch_size):
        ws = range(w0, min(n_windows, w0 + batch_size))
        targets = torch.stack([stream[w * seq_len : (w + 1) * seq_len] for w in ws])
        inputs = torch.cat([torch.full((len(ws), 1), BOS_ID, dtype=torch.long), targets[:, :-1]], dim=1)
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum")
        total += loss.item()
        count += targets.numel()
    model.train()
    return total / count


@torch.no_grad()
def eval_llama_cpp_protocol(model, text_ids, n_ctx):
    """llama.cpp perplexity: tokenize with BOS, cut into n_ctx chunks, put BOS
    at each chunk's first position, score only the second half of each chunk."""
    model.eval()
    tokens = torch.tensor([BOS_ID] + text_ids, dtype=torch.long)
    n_chunks = len(tokens) // n_ctx
    first = n_ctx // 2
    total, count = 0.0, 0
    for c in range(n_chunks):
        chunk = tokens[c * n_ctx : (c + 1) * n_ctx].clone()
        chunk[0] = BOS_ID
        logits = model(chunk[None])[0]
        logp = torch.log_softmax(logits[first : n_ctx - 1], dim=-1)
        tgt = chunk[first + 1 : n_ctx]
        total += -logp.gather(1, tgt[:, None]).sum().item()
        count += len(tgt)
    model.train()
    return total / count, n_chunks, count


@torch.no_grad()
def generate(model, sp, prompt, n_new, temperature, top_k, gen):
    model.eval()
    ids = [BOS_ID] + sp.encode(prompt)
    prompt_len = len(ids)
    max_pos = model.cfg["max_position_embeddings"]
    for _ in range(n_new):
        logits = model(torch.tensor([ids[-max_pos:]]))[0, -1]
        if temperature <= 0:
            nxt = int(torch.argmax(logits))
        else:
            logits = logits / temperature
            if top_k > 0:
                kth = torch.topk(logits, top_k).values[-1]
                logits = torch.where(logits < kth, torch.full_like(logits, float("-inf")), logits)
            nxt = int(torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=gen))
        if nxt == EOS_ID:
            break
        ids.append(nxt)
    model.train()
    return ids[1:prompt_len], ids[prompt_len:], sp.decode(ids[1:])


def cpu_model_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ---------------------------------------------------------------------------- main


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", default=os.path.join(REPO_ROOT, "model", "kjv-tiny"))
    p.add_argument("--work-dir", default="/tmp/kjv-tiny-work", help="scratch: checkpoints, token caches")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--heldout-every", type=int, default=40, help="every Nth chapter goes to validation")
    p.add_argument("--vocab-size", type=int, default=2000)
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--intermediate-size", type=int, default=688)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--max-position-embeddings", type=int, default=512)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--steps", type=int, default=100000, help="step cap (the schedule's length when --train-minutes 0)")
    p.add_argument("--warmup-steps", type=int, default=30)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--init-std", type=float, default=0.02)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--train-minutes", type=float, default=31.0,
                   help="wall-clock budget of the training loop; the cosine schedule follows it (0: by --steps)")
    p.add_argument("--sample-tokens", type=int, default=80)
    p.add_argument("--benchmark-steps", type=int, default=0, help="only time this many steps, write nothing")
    return p.parse_args()


def main():
    args = parse_args()
    t_start = time.time()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.work_dir, exist_ok=True)

    def log(msg):
        print(f"[{time.time() - t_start:7.1f}s] {msg}", flush=True)

    # ---- data
    chapters = load_kjv_chapters()
    n_verses = sum(len(v) for _, _, v in chapters)
    train_ch, heldout_ch = split_chapters(chapters, args.heldout_every)
    train_lines = chapter_lines(train_ch)
    heldout_lines = chapter_lines(heldout_ch)
    train_text = "\n".join(train_lines) + "\n"
    heldout_text = "\n".join(heldout_lines) + "\n"
    log(f"KJV: {len(chapters)} chapters, {n_verses} verses; train {len(train_ch)} chapters "
        f"({len(train_text)} chars), heldout {len(heldout_ch)} chapters ({len(heldout_text)} chars)")
    if len(heldout_text.encode()) > 150_000:
        raise RuntimeError("heldout text exceeds 150 KB; raise --heldout-every")

    # ---- tokenizer
    tok_settings = tokenizer_settings(args.vocab_size, args.threads)
    train_verses = [v for _, _, verses in train_ch for v in verses]
    tok_proto = train_tokenizer(train_verses, tok_settings)
    sp = spm.SentencePieceProcessor(model_proto=tok_proto)
    assert sp.bos_id() == BOS_ID and sp.eos_id() == EOS_ID and sp.unk_id() == 0
    # Encode the text exactly as the engine will: one string, newlines included
    # (they become the byte token <0x0A>).
    train_ids = torch.tensor(sp.encode(train_text), dtype=torch.long)
    heldout_list = sp.encode(heldout_text)
    heldout_ids = torch.tensor(heldout_list, dtype=torch.long)
    log(f"tokenizer: vocab {sp.get_piece_size()}, train tokens {len(train_ids)}, heldout tokens {len(heldout_ids)} "
        f"({len(train_text) / len(train_ids):.2f} chars/token)")

    # ---- model
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_act": "silu",
        "hidden_size": args.hidden_size,
        "intermediate_size": args.intermediate_size,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "max_position_embeddings": args.max_position_embeddings,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "vocab_size": sp.get_piece_size(),
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "initializer_range": args.init_std,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "torch_dtype": "float16",
    }
    assert args.hidden_size % args.heads == 0 and args.heads % args.kv_heads == 0
    assert args.seq_len <= args.max_position_embeddings
    model = LlamaForCausalLM(cfg)
    model.init_weights(args.init_std)
    n_params = sum(p.numel() for p in model.parameters())
    n_embed = model.model.embed_tokens.weight.numel()
    log(f"model: {n_params} parameters ({n_params - n_embed} excluding the input embedding)")

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
    )
    gen = torch.Generator().manual_seed(args.seed)

    # ---- training
    tokens_per_step = args.batch_size * args.seq_len
    n_steps = args.benchmark_steps if args.benchmark_steps else args.steps
    loss_rows = []  # (step, lr, mean train loss over the last log interval, elapsed s)
    val_rows = []  # (step, val loss)
    window_loss, window_n = 0.0, 0
    t_train = time.time()
    load_start = os.getloadavg()[0]
    model.train()
    eval_fracs = [0.25, 0.5, 0.75]
    step = 0
    while step < n_steps:
        progress = schedule_progress(step, time.time() - t_train, args) if step >= args.warmup_steps else 0.0
        if progress >= 1.0 and not args.benchmark_steps:
            break
        lr = lr_at(step, progress, args)
        for g in opt.param_groups:
            g["lr"] = lr
        inputs, targets = sample_batch(train_ids, args.batch_size, args.seq_len, gen)
        logits = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        window_loss += loss.item()
        window_n += 1
        step += 1
        done = step
        if args.benchmark_steps:
            el = time.time() - t_train
            log(f"bench step {done}: loss {loss.item():.4f}, {el / done:.2f} s/step, {tokens_per_step * done / el:.0f} tok/s")
            continue
        if done % args.log_every == 0:
            el = time.time() - t_train
            loss_rows.append((done, lr, window_loss / window_n, el))
            log(f"step {done} lr {lr:.2e} progress {progress:.3f} train loss {window_loss / window_n:.4f} "
                f"({tokens_per_step * done / el:.0f} tok/s, epoch {tokens_per_step * done / len(train_ids):.2f})")
            window_loss, window_n = 0.0, 0
        if eval_fracs and progress >= eval_fracs[0]:
            eval_fracs.pop(0)
            vl = eval_all_positions(model, heldout_ids, args.seq_len)
            val_rows.append((done, vl))
            log(f"step {done}: val loss {vl:.4f} ppl {math.exp(vl):.2f}")
            torch.save(model.state_dict(), os.path.join(args.work_dir, "checkpoint.pt"))
    train_wall = time.time() - t_train
    if args.benchmark_steps:
        return
    if window_n:
        loss_rows.append((step, lr, window_loss / window_n, train_wall))
    n_steps = step

    # ---- final evaluation (fp32 weights)
    val_fp32 = eval_all_positions(model, heldout_ids, args.seq_len)
    val_rows.append((n_steps, val_fp32))
    train_eval_ids = train_ids[: len(heldout_ids)]  # same-sized slice for a like-for-like train figure
    train_fp32 = eval_all_positions(model, train_eval_ids, args.seq_len)
    log(f"final fp32: train loss {train_fp32:.4f} (ppl {math.exp(train_fp32):.2f}), "
        f"val loss {val_fp32:.4f} (ppl {math.exp(val_fp32):.2f})")

    # ---- round to float16: exactly what the engine will load
    state = model.state_dict()
    order = ["model.embed_tokens.weight"]
    for i in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{i}."
        order += [pre + "input_layernorm.weight"]
        order += [pre + f"self_attn.{p}_proj.weight" for p in "qkvo"]
        order += [pre + "post_attention_layernorm.weight"]
        order += [pre + f"mlp.{p}_proj.weight" for p in ("gate", "up", "down")]
    order += ["model.norm.weight", "lm_head.weight"]
    assert sorted(order) == sorted(state.keys()), "tensor names drifted from the HF layout"
    f16 = {name: state[name].detach().to(torch.float16) for name in order}
    model.load_state_dict({name: t.to(torch.float32) for name, t in f16.items()})

    val_f16 = eval_all_positions(model, heldout_ids, args.seq_len)
    train_f16 = eval_all_positions(model, train_eval_ids, args.seq_len)
    cpp_nll, cpp_chunks, cpp_scored = eval_llama_cpp_protocol(model, heldout_list, args.seq_len)
    log(f"final f16-rounded: train loss {train_f16:.4f}, val loss {val_f16:.4f} (ppl {math.exp(val_f16):.2f}); "
        f"llama.cpp protocol n_ctx={args.seq_len}: {cpp_chunks} chunks, {cpp_scored} scored tokens, "
        f"nll {cpp_nll:.4f}, ppl {math.exp(cpp_nll):.3f}")

    # ---- samples from the f16-rounded weights
    prompts = ["And God said", "In the beginning", "The LORD is my shepherd"]
    samples = []
    sample_gen = torch.Generator().manual_seed(args.seed)
    for prompt in prompts:
        for temperature, top_k in ((0.0, 0), (0.8, 40)):
            p_ids, new_ids, text = generate(model, sp, prompt, args.sample_tokens, temperature, top_k, sample_gen)
            samples.append({"prompt": prompt, "temperature": temperature, "top_k": top_k,
                            "prompt_ids": p_ids, "generated_ids": new_ids, "text": text})
            log(f"sample [{prompt!r}, T={temperature}, top_k={top_k}]: {text}")

    # Reference logits so an engine test can check its forward pass.
    ref_prompt = "In the beginning God created"
    ref_ids = [BOS_ID] + sp.encode(ref_prompt)
    with torch.no_grad():
        model.eval()
        ref_logits = model(torch.tensor([ref_ids]))[0, -1]
    top = torch.topk(ref_logits, 10)

    # ---- write the HF directory
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": BOS_ID, "eos_token_id": EOS_ID, "do_sample": True,
                   "temperature": 0.8, "top_k": 40}, f, indent=2)
        f.write("\n")
    st_path = os.path.join(args.out_dir, "model.safetensors")
    write_safetensors(st_path, f16, {"format": "pt"})
    with open(os.path.join(args.out_dir, "tokenizer.model"), "wb") as f:
        f.write(tok_proto)
    with open(os.path.join(args.out_dir, "heldout.txt"), "w") as f:
        f.write(heldout_text)

    # Round-trip the safetensors file through an independent reader.
    back, meta = read_safetensors(st_path)
    assert list(back.keys()) == order and meta == {"format": "pt"}
    for name in order:
        assert torch.equal(back[name], f16[name]), name
    log(f"wrote {st_path} ({os.path.getsize(st_path)} bytes), round-trip verified")

    total_wall = time.time() - t_start
    reference = {
        "note": "Computed in fp32 from the f16 weights in model.safetensors.",
        "llama_cpp_perplexity": {"file": "heldout.txt", "n_ctx": args.seq_len, "chunks": cpp_chunks,
                                 "scored_tokens": cpp_scored, "nll": cpp_nll, "ppl": math.exp(cpp_nll)},
        "val_all_positions": {"nll": val_f16, "ppl": math.exp(val_f16)},
        "last_token_logits": {"prompt": ref_prompt, "ids_with_bos": ref_ids,
                              "top10_ids": top.indices.tolist(), "top10_logits": top.values.tolist()},
        "samples": samples,
    }
    with open(os.path.join(args.out_dir, "reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")

    # ---- training log
    L = []
    L.append("# kjv-tiny training log\n")
    L.append("Produced by `tools/train/train_tiny_llama.py` (run with `/usr/bin/python3`).\n")
    L.append("Command line: `" + " ".join([sys.executable] + sys.argv) + "`\n")
    L.append("## Data\n")
    L.append(f"- Source: Debian package `bible-kjv-text` {package_version('bible-kjv-text')} "
             f"(`{BIBLE_DATA}`, sha256 `{file_sha256(BIBLE_DATA)}`), decoded by the `bible` program from "
             f"`bible-kjv` {package_version('bible-kjv')}: `bible -f -p /usr/lib {BIBLE_RANGE}` "
             "(one verse per line, `Ref text`).")
    L.append(f"- Verse references stripped; the verses of each chapter joined with single spaces, one chapter per "
             f"line: {len(chapters)} chapters, {n_verses} verses, {len(train_text) + len(heldout_text)} characters.")
    L.append(f"- Split: every {args.heldout_every}th chapter (index % {args.heldout_every} == "
             f"{args.heldout_every - 1}) is held out: {len(heldout_ch)} chapters, {len(heldout_text)} bytes, "
             f"written to `heldout.txt`; the other {len(train_ch)} chapters ({len(train_text)} bytes) are training data.")
    L.append(f"- Held-out chapters: " + ", ".join(f"{b} {c}" for b, c, _ in heldout_ch) + "\n")
    L.append("## Tokenizer\n")
    L.append("sentencepiece " + spm.__version__ + ", trained on the training verses (one sentence per verse):\n")
    L.append("```")
    for k, v in tok_settings.items():
        L.append(f"{k}={v}")
    L.append("```\n")
    L.append(f"Training text: {len(train_ids)} tokens ({len(train_text) / len(train_ids):.2f} characters/token); "
             f"held-out text: {len(heldout_ids)} tokens. Text is encoded as one string, so each newline is the "
             "byte token `<0x0A>`.\n")
    L.append("## Model\n")
    L.append("Hugging Face `LlamaForCausalLM` architecture (RMSNorm, rotate-half RoPE, grouped-query attention, "
             "SwiGLU MLP, untied `lm_head`), written in plain torch.\n")
    L.append("```json\n" + json.dumps(cfg, indent=2) + "\n```\n")
    L.append(f"Parameters: {n_params} ({n_params / 1e6:.2f} M), of which {n_embed} in `embed_tokens` and "
             f"{model.lm_head.weight.numel()} in `lm_head`. Stored as F16 in `model.safetensors` "
             f"({os.path.getsize(st_path)} bytes).\n")
    L.append("## Training\n")
    L.append(f"- Steps {n_steps}, batch {args.batch_size} x {args.seq_len} tokens = {tokens_per_step} tokens/step, "
             f"{n_steps * tokens_per_step} tokens in all ({n_steps * tokens_per_step / len(train_ids):.2f} epochs). "
             "Each sequence is BOS followed by a random window of the training stream.")
    L.append(f"- AdamW (betas 0.9/0.95, eps 1e-8, weight decay {args.weight_decay} on matrices only), "
             f"grad-norm clip {args.grad_clip}; lr linear warmup over {args.warmup_steps} steps to {args.lr:g}, "
             f"then cosine decay to {args.min_lr:g} "
             + (f"driven by the wall clock over a {args.train_minutes:g}-minute training budget (the machine is "
                "shared, so the step rate is not known in advance; the lr actually used is in the table below). "
                if args.train_minutes > 0 else f"over {args.steps} steps. ")
             + f"fp32 throughout. Init normal(0, {args.init_std}), "
             f"o_proj/down_proj std / sqrt(2 * layers). Seed {args.seed}.")
    L.append(f"- Machine: {cpu_model_name()}, {os.cpu_count()} cores, torch {torch.__version__} with "
             f"{args.threads} threads (OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}), shared with concurrent "
             f"compile and benchmark jobs (1-minute load average {load_start:.1f} at the start of training, "
             f"{os.getloadavg()[0]:.1f} at the end).")
    L.append(f"- Wall time: training {train_wall / 60:.1f} min, whole script {total_wall / 60:.1f} min "
             f"({tokens_per_step * n_steps / train_wall:.0f} tokens/s).\n")
    L.append("### Train loss (mean over each logging interval)\n")
    L.append("| step | lr | train loss | train ppl | elapsed (s) |")
    L.append("|---:|---:|---:|---:|---:|")
    for s, lr, tl, el in loss_rows:
        L.append(f"| {s} | {lr:.2e} | {tl:.4f} | {math.exp(tl):.2f} | {el:.0f} |")
    L.append("")
    L.append("### Validation loss during training (fp32, all positions)\n")
    L.append("| step | val loss | val ppl |")
    L.append("|---:|---:|---:|")
    for s, vl in val_rows:
        L.append(f"| {s} | {vl:.4f} | {math.exp(vl):.2f} |")
    L.append("")
    L.append("## Final results\n")
    L.append(f"Evaluated on non-overlapping {args.seq_len}-token windows (BOS + {args.seq_len - 1} tokens, every "
             f"position scored); \"train\" is the first {len(heldout_ids)} tokens of the training stream.\n")
    L.append("| weights | train loss | train ppl | val loss | val ppl |")
    L.append("|---|---:|---:|---:|---:|")
    L.append(f"| fp32 | {train_fp32:.4f} | {math.exp(train_fp32):.2f} | {val_fp32:.4f} | {math.exp(val_fp32):.2f} |")
    L.append(f"| f16-rounded | {train_f16:.4f} | {math.exp(train_f16):.2f} | {val_f16:.4f} | {math.exp(val_f16):.2f} |")
    L.append("")
    L.append(f"llama.cpp perplexity protocol on `heldout.txt` (f16-rounded weights): tokenize the file with BOS, "
             f"{cpp_chunks} chunks of n_ctx={args.seq_len}, BOS at each chunk start, score only the second half "
             f"({cpp_scored} tokens): **nll {cpp_nll:.4f}, ppl {math.exp(cpp_nll):.3f}**. "
             f"`llama-perplexity -m model/kjv-tiny -f model/kjv-tiny/heldout.txt -c {args.seq_len}` should "
             "reproduce this up to rounding.\n")
    L.append("## Samples (f16-rounded weights, fp32 compute)\n")
    L.append(f"Up to {args.sample_tokens} new tokens after BOS + prompt. Token ids are in `reference.json`.\n")
    for s in samples:
        mode = "greedy" if s["temperature"] == 0 else f"temperature {s['temperature']}, top-k {s['top_k']}"
        L.append(f"**{s['prompt']!r}, {mode}:**\n")
        L.append("> " + s["text"].replace("\n", "\n> ") + "\n")
    with open(os.path.join(args.out_dir, "training_log.md"), "w") as f:
        f.write("\n".join(L))
    log(f"done in {total_wall / 60:.1f} min")


if __name__ == "__main__":
    main()
