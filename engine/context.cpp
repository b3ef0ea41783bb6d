#include "llama/context.h"

#include <cblas.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "engine/linear.h"
#include "kernels/kernels.h"
#include "llama/error.h"

namespace llama {

namespace {

// Consecutive tokens of a chunk that extend one sequence: rows [begin, begin + n_tokens) at
// positions [pos0, pos0 + n_tokens). They attend together over the sequence's cache.
struct SeqRun {
    int64_t seq, begin, n_tokens, pos0;
};

}  // namespace

// Activations of one forward chunk of n_tokens rows, in batch order.
struct InferenceContext::Workspace {
    std::vector<float> x;        // [n_tokens, hidden] residual stream
    std::vector<float> h;        // [n_tokens, hidden] normalised input / projection output
    std::vector<float> qkv;      // [n_tokens, q_size + 2*kv_size]
    std::vector<float> attn;     // [n_tokens, q_size]
    std::vector<float> gate_up;  // [n_tokens, 2*ffn]
    std::vector<float> act;      // [n_tokens, ffn]
    std::vector<float> rope_cos, rope_sin;         // [n_tokens, head_dim/2]
    std::vector<SeqRun> runs;                      // the chunk's runs of one sequence
    std::vector<int64_t> outputs;                  // rows of the chunk whose logits are wanted
    std::vector<float> logits;                     // [outputs, vocab] when not written in place
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
    ws_->linear.half_activations = params_.prompt_precision == PromptPrecision::BF16;
    ws_->linear.int_gemm = params_.prompt_precision == PromptPrecision::BF16;
    ws_->linear.matvec_max_tokens = params_.exact_batch_tokens;
    if (params_.n_ctx > model.config.max_context) {
        spdlog::warn("context {} exceeds the model's trained context {}", params_.n_ctx,
                     model.config.max_context);
    }
}

InferenceContext::~InferenceContext() = default;

void InferenceContext::reset() { cache_.clear(); }

std::span<const float> InferenceContext::decode(const Batch& batch) {
    check_batch(batch.tokens());
    decode_rows_.clear();
    int64_t n_outputs = 0;
    for (const BatchToken& t : batch.tokens()) decode_rows_.push_back(t.logits ? n_outputs++ : -1);
    logits_.resize(n_outputs * model_.config.vocab_size);
    run(batch.tokens(), decode_rows_, params_.n_batch);
    return logits_;
}

std::span<const float> InferenceContext::logits(size_t i) const {
    if (i >= decode_rows_.size()) {
        throw Error("no logits for batch entry " + std::to_string(i) +
                    ": the last decoded batch has " + std::to_string(decode_rows_.size()) +
                    " entries");
    }
    if (decode_rows_[i] < 0) {
        throw Error("no logits for batch entry " + std::to_string(i) + ": it did not ask for them");
    }
    const int64_t vocab = model_.config.vocab_size;
    return std::span<const float>(logits_).subspan(decode_rows_[i] * vocab, vocab);
}

std::span<const float> InferenceContext::forward(std::span<const int32_t> tokens,
                                                 int64_t n_tokens_per_seq, LogitsMode mode) {
    const int64_t n_seqs = params_.n_seqs;
    const int64_t n = n_tokens_per_seq;
    if (n <= 0 || static_cast<int64_t>(tokens.size()) != n_seqs * n) {
        throw Error("forward: expected " + std::to_string(n_seqs) + " x " + std::to_string(n) +
                    " tokens, got " + std::to_string(tokens.size()));
    }
    int64_t longest = 0;
    for (int64_t seq = 0; seq < n_seqs; ++seq) longest = std::max(longest, cache_.length(seq));
    if (longest + n > params_.n_ctx) {
        throw ContextFullError("context is full: " + std::to_string(longest) + " tokens cached + " +
                               std::to_string(n) + " new exceed the context size of " +
                               std::to_string(params_.n_ctx));
    }

    // A batch of chunks of up to n_batch / n_seqs tokens of every sequence, sequence-major inside
    // a chunk; logits rows [seq, position] (All) or [seq] (Last).
    const int64_t chunk = std::max<int64_t>(1, params_.n_batch / n_seqs);
    lockstep_.clear();
    lockstep_rows_.clear();
    for (int64_t offset = 0; offset < n; offset += chunk) {
        const int64_t end = std::min(offset + chunk, n);
        for (int64_t seq = 0; seq < n_seqs; ++seq) {
            for (int64_t i = offset; i < end; ++i) {
                const bool last = i == n - 1;
                lockstep_.add(tokens[seq * n + i], seq, cache_.length(seq) + i,
                              mode == LogitsMode::All || last);
                lockstep_rows_.push_back(mode == LogitsMode::All ? seq * n + i : last ? seq : -1);
            }
        }
    }
    check_batch(lockstep_.tokens());
    decode_rows_.clear();
    const int64_t n_rows = mode == LogitsMode::All ? n_seqs * n : n_seqs;
    logits_.resize(n_rows * model_.config.vocab_size);
    run(lockstep_.tokens(), lockstep_rows_, n_seqs * chunk);
    return logits_;
}

void InferenceContext::check_batch(std::span<const BatchToken> tokens) const {
    if (tokens.empty()) throw Error("decode: the batch is empty");
    const int64_t vocab = model_.config.vocab_size;
    const int64_t n_seqs = params_.n_seqs;
    std::vector<int64_t> next(static_cast<size_t>(n_seqs));  // each sequence's next position
    for (int64_t seq = 0; seq < n_seqs; ++seq) next[seq] = cache_.length(seq);
    for (size_t i = 0; i < tokens.size(); ++i) {
        const BatchToken& t = tokens[i];
        const auto entry = [i] { return "batch entry " + std::to_string(i) + ": "; };
        if (t.seq < 0 || t.seq >= n_seqs) {
            throw Error(entry() + "sequence id " + std::to_string(t.seq) +
                        " is out of range: the context has " + std::to_string(n_seqs) +
                        " sequences (ids 0.." + std::to_string(n_seqs - 1) + ")");
        }
        if (t.token < 0 || t.token >= vocab) {
            throw Error(entry() + "token id " + std::to_string(t.token) +
                        " is outside the vocabulary (0.." + std::to_string(vocab - 1) + ")");
        }
        if (t.pos != next[t.seq]) {
            throw Error(entry() + "position " + std::to_string(t.pos) + " of sequence " +
                        std::to_string(t.seq) +
                        " does not follow what it holds: the next position is " +
                        std::to_string(next[t.seq]) +
                        " (truncate the sequence first to overwrite positions)");
        }
        if (t.pos >= params_.n_ctx) {
            throw ContextFullError(entry() + "context is full: sequence " + std::to_string(t.seq) +
                                   " would exceed the context size of " +
                                   std::to_string(params_.n_ctx) + " tokens");
        }
        ++next[t.seq];
    }
}

void InferenceContext::run(std::span<const BatchToken> tokens, std::span<const int64_t> out_rows,
                           int64_t chunk_tokens) {
    const auto n = static_cast<int64_t>(tokens.size());
    for (int64_t begin = 0; begin < n; begin += chunk_tokens) {
        const int64_t count = std::min(chunk_tokens, n - begin);
        forward_chunk(tokens.subspan(begin, count), out_rows.subspan(begin, count));
    }
}

void InferenceContext::forward_chunk(std::span<const BatchToken> tokens,
                                     std::span<const int64_t> out_rows) {
    const LlamaConfig& c = model_.config;
    const auto n_tokens = static_cast<int64_t>(tokens.size());
    const int64_t hidden = c.hidden_size;
    const int64_t qkv_cols = c.q_size() + 2 * c.kv_size();
    Workspace& ws = *ws_;
    ws.x.resize(n_tokens * hidden);
    ws.h.resize(n_tokens * hidden);
    ws.qkv.resize(n_tokens * qkv_cols);
    ws.attn.resize(n_tokens * c.q_size());
    ws.gate_up.resize(n_tokens * 2 * c.ffn_size);
    ws.act.resize(n_tokens * c.ffn_size);

    // Runs of consecutive tokens of one sequence (check_batch made their positions contiguous).
    ws.runs.clear();
    for (int64_t t = 0; t < n_tokens; ++t) {
        if (ws.runs.empty() || ws.runs.back().seq != tokens[t].seq) {
            ws.runs.push_back({tokens[t].seq, t, 0, tokens[t].pos});
        }
        ++ws.runs.back().n_tokens;
    }

    // Token embeddings.
    pool_.parallel_for(n_tokens, 1, [&](int64_t begin, int64_t end, int) {
        for (int64_t t = begin; t < end; ++t) {
            kernels::dequantize_rows(model_.token_embedding.dtype,
                                     model_.token_embedding.row(tokens[t].token), 1, hidden,
                                     std::span(ws.x).subspan(t * hidden, hidden));
        }
    });

    // Rotary angles for each token's position, shared by every layer.
    const int64_t half = c.head_dim / 2;
    ws.rope_cos.resize(n_tokens * half);
    ws.rope_sin.resize(n_tokens * half);
    for (int64_t t = 0; t < n_tokens; ++t) {
        kernels::rope_angles(tokens[t].pos, c.head_dim, c.rope_theta,
                             std::span(ws.rope_cos).subspan(t * half, half),
                             std::span(ws.rope_sin).subspan(t * half, half));
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
        linear_stacked(pool_, layer.attention.qkv_parts(), ws.h, n_tokens, ws.qkv, ws.linear);
        const QkvSplit split = layer.attention.split(params_.split_mode);

        pool_.parallel_for(n_tokens, 1, [&](int64_t begin, int64_t end, int) {
            for (int64_t t = begin; t < end; ++t) {
                std::span<float> row = std::span(ws.qkv).subspan(t * qkv_cols, qkv_cols);
                const auto cos = std::span<const float>(ws.rope_cos).subspan(t * half, half);
                const auto sin = std::span<const float>(ws.rope_sin).subspan(t * half, half);
                kernels::rope(row.subspan(split.q_offset, split.q_size), c.n_heads, c.head_dim, cos,
                              sin, c.rope_layout);
                kernels::rope(row.subspan(split.k_offset, split.kv_size), c.n_kv_heads, c.head_dim,
                              cos, sin, c.rope_layout);
                cache_.store(layer_index, tokens[t].seq, tokens[t].pos,
                             row.subspan(split.k_offset, split.kv_size),
                             row.subspan(split.v_offset, split.kv_size));
            }
        });

        // Each run's queries attend causally to its sequence's cache, which now holds the keys
        // and values of every token of the chunk.
        const auto n_runs = static_cast<int64_t>(ws.runs.size());
        ws.attn_scratch.resize(pool_.size());
        pool_.parallel_for(n_runs * c.n_heads, 1, [&](int64_t begin, int64_t end, int thread) {
            std::vector<float>& scratch = ws.attn_scratch[thread];
            for (int64_t item = begin; item < end;) {
                const SeqRun& run = ws.runs[item / c.n_heads];
                const int64_t head_begin = item % c.n_heads;
                const int64_t head_end = std::min(c.n_heads, head_begin + (end - item));
                const kernels::AttentionShape shape{c.n_heads,  c.n_kv_heads,
                                                    c.head_dim, run.n_tokens,
                                                    run.pos0,   run.pos0 + run.n_tokens};
                scratch.resize(
                    std::max<size_t>(scratch.size(), kernels::attention_scratch_size(shape)));
                cache_.visit(layer_index, run.seq, [&](auto keys, auto values) {
                    kernels::attention(shape, head_begin, head_end,
                                       std::span<const float>(ws.qkv).subspan(run.begin * qkv_cols +
                                                                              split.q_offset),
                                       qkv_cols, keys, values, split.kv_size,
                                       std::span(ws.attn).subspan(run.begin * c.q_size()),
                                       c.q_size(), scratch);
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
    for (const SeqRun& run : ws.runs) cache_.extend(run.seq, run.n_tokens);

    // --- Output: logits = norm(x) Wout, for the tokens that asked for them: their rows gathered,
    // then one projection, written in place when their logits rows follow each other.
    ws.outputs.clear();
    for (int64_t t = 0; t < n_tokens; ++t) {
        if (out_rows[t] >= 0) ws.outputs.push_back(t);
    }
    const auto n_outputs = static_cast<int64_t>(ws.outputs.size());
    if (n_outputs == 0) return;
    pool_.parallel_for(n_outputs, 1, [&](int64_t begin, int64_t end, int) {
        for (int64_t j = begin; j < end; ++j) {
            kernels::rms_norm(std::span<const float>(ws.x).subspan(ws.outputs[j] * hidden, hidden),
                              model_.final_norm, c.rms_norm_eps,
                              std::span(ws.h).subspan(j * hidden, hidden));
        }
    });
    const int64_t vocab = c.vocab_size;
    const int64_t first_row = out_rows[ws.outputs.front()];
    bool in_place = true;
    for (int64_t j = 0; j < n_outputs; ++j) in_place &= out_rows[ws.outputs[j]] == first_row + j;
    if (in_place) {
        linear(pool_, model_.lm_head, ws.h, n_outputs,
               std::span(logits_).subspan(first_row * vocab, n_outputs * vocab), ws.linear);
        return;
    }
    ws.logits.resize(n_outputs * vocab);
    linear(pool_, model_.lm_head, ws.h, n_outputs, ws.logits, ws.linear);
    for (int64_t j = 0; j < n_outputs; ++j) {
        std::copy_n(ws.logits.begin() + j * vocab, vocab,
                    logits_.begin() + out_rows[ws.outputs[j]] * vocab);
    }
}

}  // namespace llama
