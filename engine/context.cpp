#include "llama/context.h"

#include <cblas.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "engine/linear.h"
#include "kernels/kernels.h"
#include "llama/error.h"

namespace llama {

// Activations of one forward chunk of n_tokens = n_seqs * n_seq_tokens rows (sequence-major).
struct InferenceContext::Workspace {
    std::vector<float> x;        // [n_tokens, hidden] residual stream
    std::vector<float> h;        // [n_tokens, hidden] normalised input / projection output
    std::vector<float> qkv;      // [n_tokens, q_size + 2*kv_size]
    std::vector<float> attn;     // [n_tokens, q_size]
    std::vector<float> gate_up;  // [n_tokens, 2*ffn]
    std::vector<float> act;      // [n_tokens, ffn]
    std::vector<float> rope_cos, rope_sin;         // [n_seq_tokens, head_dim/2]
    std::vector<std::vector<float>> attn_scratch;  // per thread
    LinearScratch linear;
};

namespace {

int64_t resolve_n_ctx(const LlamaModel& model, const ContextParams& params) {
    const int64_t n_ctx = params.n_ctx > 0 ? params.n_ctx : model.config.max_context;
    if (params.n_seqs <= 0) throw Error("n_seqs must be positive");
    if (params.n_batch <= 0) throw Error("n_batch must be positive");
    return n_ctx;
}

ContextParams resolved(const LlamaModel& model, ContextParams params) {
    params.n_ctx = resolve_n_ctx(model, params);
    params.n_threads = std::max(1, params.n_threads);
    return params;
}

}  // namespace

InferenceContext::InferenceContext(const LlamaModel& model, const ContextParams& params)
    : model_(model),
      params_(resolved(model, params)),
      pool_(params_.n_threads),
      cache_(params_.cache_type, model.config.n_layers, params_.n_seqs, params_.n_ctx,
             model.config.kv_size()),
      ws_(std::make_unique<Workspace>()) {
    // Our pool owns the cores; each BLAS call inside it runs on the calling thread only.
    openblas_set_num_threads(1);
    ws_->linear.bf16_gemm = params_.prompt_precision == PromptPrecision::BF16;
    ws_->linear.int_gemm = params_.prompt_precision == PromptPrecision::BF16;
    if (params_.n_ctx > model.config.max_context) {
        spdlog::warn("context {} exceeds the model's trained context {}", params_.n_ctx,
                     model.config.max_context);
    }
}

InferenceContext::~InferenceContext() = default;

void InferenceContext::reset() { cache_.clear(); }

std::span<const float> InferenceContext::forward(std::span<const int32_t> tokens,
                                                 int64_t n_tokens_per_seq, LogitsMode mode) {
    const LlamaConfig& c = model_.config;
    const int64_t n_seqs = params_.n_seqs;
    if (n_tokens_per_seq <= 0 || static_cast<int64_t>(tokens.size()) != n_seqs * n_tokens_per_seq) {
        throw Error("forward: expected " + std::to_string(n_seqs) + " x " +
                    std::to_string(n_tokens_per_seq) + " tokens, got " +
                    std::to_string(tokens.size()));
    }
    if (cache_.n_past() + n_tokens_per_seq > params_.n_ctx) {
        throw Error("context is full: " + std::to_string(cache_.n_past()) + " tokens cached + " +
                    std::to_string(n_tokens_per_seq) + " new exceed the context size of " +
                    std::to_string(params_.n_ctx));
    }
    for (int32_t token : tokens) {
        if (token < 0 || token >= c.vocab_size) {
            throw Error("token id " + std::to_string(token) + " is outside the vocabulary (0.." +
                        std::to_string(c.vocab_size - 1) + ")");
        }
    }

    const int64_t n_rows = mode == LogitsMode::All ? n_seqs * n_tokens_per_seq : n_seqs;
    logits_.resize(n_rows * c.vocab_size);
    const int64_t chunk = std::max<int64_t>(1, params_.n_batch / n_seqs);
    for (int64_t offset = 0; offset < n_tokens_per_seq; offset += chunk) {
        const int64_t n_seq_tokens = std::min(chunk, n_tokens_per_seq - offset);
        forward_chunk(tokens, n_seq_tokens, offset, n_tokens_per_seq, mode, logits_);
    }
    return logits_;
}

void InferenceContext::forward_chunk(std::span<const int32_t> tokens, int64_t n_seq_tokens,
                                     int64_t token_offset, int64_t total_per_seq, LogitsMode mode,
                                     std::span<float> logits) {
    const LlamaConfig& c = model_.config;
    const int64_t n_seqs = params_.n_seqs;
    const int64_t n_tokens = n_seqs * n_seq_tokens;
    const int64_t hidden = c.hidden_size;
    const int64_t qkv_cols = c.q_size() + 2 * c.kv_size();
    const int64_t pos0 = cache_.n_past();
    Workspace& ws = *ws_;
    ws.x.resize(n_tokens * hidden);
    ws.h.resize(n_tokens * hidden);
    ws.qkv.resize(n_tokens * qkv_cols);
    ws.attn.resize(n_tokens * c.q_size());
    ws.gate_up.resize(n_tokens * 2 * c.ffn_size);
    ws.act.resize(n_tokens * c.ffn_size);

    // Token embeddings.
    pool_.parallel_for(n_tokens, 1, [&](int64_t begin, int64_t end, int) {
        for (int64_t t = begin; t < end; ++t) {
            const int64_t seq = t / n_seq_tokens, i = t % n_seq_tokens;
            const int32_t token = tokens[seq * total_per_seq + token_offset + i];
            kernels::dequantize_rows(model_.token_embedding.dtype,
                                     model_.token_embedding.row(token), 1, hidden,
                                     std::span(ws.x).subspan(t * hidden, hidden));
        }
    });

    // Rotary angles for the chunk's positions, shared by every sequence and layer.
    const int64_t half = c.head_dim / 2;
    ws.rope_cos.resize(n_seq_tokens * half);
    ws.rope_sin.resize(n_seq_tokens * half);
    for (int64_t i = 0; i < n_seq_tokens; ++i) {
        kernels::rope_angles(pos0 + i, c.head_dim, c.rope_theta,
                             std::span(ws.rope_cos).subspan(i * half, half),
                             std::span(ws.rope_sin).subspan(i * half, half));
    }

    auto rms_norm_rows = [&](std::span<const float> in, std::span<const float> weight,
                             std::span<float> out, int64_t rows) {
        pool_.parallel_for(rows, 1, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t) {
                kernels::rms_norm(in.subspan(t * hidden, hidden), weight, c.rms_norm_eps,
                                  out.subspan(t * hidden, hidden));
            }
        });
    };
    auto add_into_residual = [&](std::span<const float> delta) {
        pool_.parallel_for(n_tokens * hidden, 4096, [&](int64_t begin, int64_t end, int) {
            for (int64_t i = begin; i < end; ++i) ws.x[i] += delta[i];
        });
    };

    for (int64_t layer_index = 0; layer_index < c.n_layers; ++layer_index) {
        const DecoderLayer& layer = model_.layers[layer_index];

        // --- Self-attention: h = norm(x); q, k, v = split(h Wqkv); x += attention(q, k, v) Wo
        rms_norm_rows(ws.x, layer.attn_norm, ws.h, n_tokens);
        linear(pool_, layer.attention.qkv_weight(), ws.h, n_tokens, ws.qkv, ws.linear);
        const QkvSplit split = layer.attention.split(params_.split_mode);

        pool_.parallel_for(n_tokens, 1, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t) {
                const int64_t seq = t / n_seq_tokens, i = t % n_seq_tokens;
                std::span<float> row = std::span(ws.qkv).subspan(t * qkv_cols, qkv_cols);
                const auto cos = std::span<const float>(ws.rope_cos).subspan(i * half, half);
                const auto sin = std::span<const float>(ws.rope_sin).subspan(i * half, half);
                kernels::rope(row.subspan(split.q_offset, split.q_size), c.n_heads, c.head_dim, cos,
                              sin, c.rope_layout);
                kernels::rope(row.subspan(split.k_offset, split.kv_size), c.n_kv_heads, c.head_dim,
                              cos, sin, c.rope_layout);
                cache_.store(layer_index, seq, pos0 + i, row.subspan(split.k_offset, split.kv_size),
                             row.subspan(split.v_offset, split.kv_size));
            }
        });

        const kernels::AttentionShape shape{c.n_heads,    c.n_kv_heads, c.head_dim,
                                            n_seq_tokens, pos0,         pos0 + n_seq_tokens};
        ws.attn_scratch.resize(pool_.size());
        pool_.parallel_for(n_seqs * c.n_heads, 1, [&](int64_t begin, int64_t end, int thread) {
            std::vector<float>& scratch = ws.attn_scratch[thread];
            scratch.resize(kernels::attention_scratch_size(shape));
            for (int64_t item = begin; item < end;) {
                const int64_t seq = item / c.n_heads;
                const int64_t head_begin = item % c.n_heads;
                const int64_t head_end = std::min(c.n_heads, head_begin + (end - item));
                const int64_t row0 = seq * n_seq_tokens;
                cache_.visit(layer_index, seq, [&](auto keys, auto values) {
                    kernels::attention(
                        shape, head_begin, head_end,
                        std::span<const float>(ws.qkv).subspan(row0 * qkv_cols + split.q_offset),
                        qkv_cols, keys, values, split.kv_size,
                        std::span(ws.attn).subspan(row0 * c.q_size()), c.q_size(), scratch);
                });
                item += head_end - head_begin;
            }
        });
        linear(pool_, layer.attention.o_weight(), ws.attn, n_tokens, ws.h, ws.linear);
        add_into_residual(ws.h);

        // --- MLP: h = norm(x); x += (silu(h Wgate) * (h Wup)) Wdown
        rms_norm_rows(ws.x, layer.ffn_norm, ws.h, n_tokens);
        linear(pool_, layer.mlp.gate_up_weight(), ws.h, n_tokens, ws.gate_up, ws.linear);
        const int64_t ffn = layer.mlp.ffn_size();
        pool_.parallel_for(n_tokens, 1, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t) {
                const auto row = std::span<const float>(ws.gate_up).subspan(t * 2 * ffn, 2 * ffn);
                kernels::silu_mul(row.first(ffn), row.subspan(ffn),
                                  std::span(ws.act).subspan(t * ffn, ffn));
            }
        });
        linear(pool_, layer.mlp.down_weight(), ws.act, n_tokens, ws.h, ws.linear);
        add_into_residual(ws.h);
    }
    cache_.advance(n_seq_tokens);

    // --- Output: logits = norm(x) Wout, for the rows the caller asked for.
    const int64_t vocab = c.vocab_size;
    if (mode == LogitsMode::All) {
        rms_norm_rows(ws.x, model_.final_norm, ws.h, n_tokens);
        for (int64_t seq = 0; seq < n_seqs; ++seq) {
            linear(
                pool_, model_.lm_head,
                std::span<const float>(ws.h).subspan(seq * n_seq_tokens * hidden), n_seq_tokens,
                logits.subspan((seq * total_per_seq + token_offset) * vocab, n_seq_tokens * vocab),
                ws.linear);
        }
    } else if (token_offset + n_seq_tokens == total_per_seq) {
        // Only each sequence's last token: gather those rows, then one projection.
        for (int64_t seq = 0; seq < n_seqs; ++seq) {
            const int64_t last = (seq * n_seq_tokens + n_seq_tokens - 1) * hidden;
            kernels::rms_norm(std::span<const float>(ws.x).subspan(last, hidden), model_.final_norm,
                              c.rms_norm_eps, std::span(ws.h).subspan(seq * hidden, hidden));
        }
        linear(pool_, model_.lm_head, ws.h, n_seqs, logits, ws.linear);
    }
}

}  // namespace llama
