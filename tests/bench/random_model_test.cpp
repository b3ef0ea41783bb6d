// Synthetic models for llama-bench: presets, shapes, determinism, weight statistics, finite
// activations through the real forward pass, and the real workload under the runner.

#include "llama/random_model.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/kernels.h"
#include "llama/context.h"
#include "llama/error.h"
#include "tools/llama-bench/llama_workload.h"

namespace llama {
namespace {

LlamaModel tiny_model(uint64_t seed, int threads, DType dtype = DType::F16, int64_t layers = 2) {
    RandomModelParams p;
    p.config = *preset_config("tiny");
    p.config.n_layers = layers;
    p.dtype = dtype;
    p.seed = seed;
    p.n_threads = threads;
    return make_random_model(p);
}

std::vector<float> widen(const Matrix& m) {
    std::vector<float> out(static_cast<size_t>(m.rows * m.cols));
    kernels::dequantize_rows(m.dtype, m.data, m.rows, m.cols, out);
    return out;
}

TEST(RandomModel, PresetsHaveThePublishedShapes) {
    const LlamaConfig c = *preset_config("llama-7b");
    EXPECT_EQ(c.hidden_size, 4096);
    EXPECT_EQ(c.n_layers, 32);
    EXPECT_EQ(c.n_heads, 32);
    EXPECT_EQ(c.n_kv_heads, 32);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.ffn_size, 11008);
    EXPECT_EQ(c.vocab_size, 32000);
    EXPECT_EQ(c.max_context, 4096);
    for (const std::string& name : preset_names()) EXPECT_NO_THROW(preset_config(name)->validate());
    EXPECT_FALSE(preset_config("llama-99b").has_value());
}

TEST(RandomModel, SevenBillionInSixteenBitsFitsTheMachine) {
    // 6.74e9 parameters: 13.5 GB of f16, leaving room for the KV cache in 24 GiB.
    const LlamaConfig c = *preset_config("llama-7b");
    const int64_t per_layer = (c.q_size() + 2 * c.kv_size()) * c.hidden_size +
                              c.hidden_size * c.q_size() + 3 * c.ffn_size * c.hidden_size;
    const int64_t params = c.n_layers * per_layer + 2 * c.vocab_size * c.hidden_size;
    EXPECT_GT(params, 6'700'000'000);
    EXPECT_LT(params, 6'800'000'000);
    EXPECT_LT(2 * params, int64_t{16} << 30);
}

TEST(RandomModel, ShapesStorageAndNorms) {
    const LlamaModel m = tiny_model(1, 1);
    const LlamaConfig& c = m.config;
    ASSERT_EQ(m.layers.size(), 2u);
    EXPECT_EQ(m.token_embedding.rows, c.vocab_size);
    EXPECT_EQ(m.lm_head.cols, c.hidden_size);
    for (const DecoderLayer& l : m.layers) {
        EXPECT_EQ(l.attention.qkv_weight().rows, c.q_size() + 2 * c.kv_size());
        EXPECT_EQ(l.attention.o_weight().cols, c.q_size());
        EXPECT_EQ(l.mlp.gate_up_weight().rows, 2 * c.ffn_size);
        EXPECT_EQ(l.mlp.down_weight().cols, c.ffn_size);
        EXPECT_EQ(l.attention.qkv_weight().dtype, DType::F16);
        for (float w : l.attn_norm) EXPECT_EQ(w, 1.0f);
        for (float w : l.ffn_norm) EXPECT_EQ(w, 1.0f);
    }
    EXPECT_EQ(m.storage.size(), 2u + 4u * 2u);
    // F16: 2 bytes a weight. A decode step reads every matrix but the embedding table.
    const int64_t per_layer = c.hidden_size * (c.q_size() + 2 * c.kv_size()) +
                              c.q_size() * c.hidden_size + 3 * c.ffn_size * c.hidden_size;
    const int64_t lm_head = c.vocab_size * c.hidden_size;
    EXPECT_EQ(m.decode_bytes(), 2 * (lm_head + c.n_layers * per_layer));
    EXPECT_EQ(m.weight_bytes(), m.decode_bytes() + 2 * c.vocab_size * c.hidden_size);
}

TEST(RandomModel, DeterministicForASeedWhateverTheThreads) {
    const LlamaModel a = tiny_model(5, 1);
    const LlamaModel b = tiny_model(5, 2);
    const LlamaModel other = tiny_model(6, 1);
    const auto bytes = [](const Matrix& m) { return m.bytes(); };
    const auto same = [&](const Matrix& x, const Matrix& y) {
        return std::equal(bytes(x).begin(), bytes(x).end(), bytes(y).begin(), bytes(y).end());
    };
    EXPECT_TRUE(same(a.token_embedding, b.token_embedding));
    EXPECT_TRUE(same(a.layers[1].mlp.down_weight(), b.layers[1].mlp.down_weight()));
    EXPECT_FALSE(same(a.token_embedding, other.token_embedding));
    // Different tensors of one model are different streams.
    EXPECT_FALSE(same(a.token_embedding, a.lm_head));
}

TEST(RandomModel, WeightsHaveTheRequestedSpread) {
    for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
        const LlamaModel m = tiny_model(3, 2, dtype, 1);
        const std::vector<float> w = widen(m.layers[0].mlp.gate_up_weight());
        double sum = 0, sum_sq = 0, max_abs = 0;
        for (float v : w) {
            sum += v;
            sum_sq += static_cast<double>(v) * v;
            max_abs = std::max(max_abs, std::abs(static_cast<double>(v)));
        }
        const double n = static_cast<double>(w.size());
        EXPECT_NEAR(sum / n, 0.0, 0.001);
        EXPECT_NEAR(std::sqrt(sum_sq / n), 0.02, 0.001);
        EXPECT_LE(max_abs, 0.02 * std::sqrt(3.0) * 1.01);
    }
    RandomModelParams bad;
    bad.config = *preset_config("tiny");
    bad.dtype = DType::Q4_0;
    EXPECT_THROW(make_random_model(bad), Error);
}

TEST(RandomModel, ForwardGivesFiniteLogitsInBothSplitModes) {
    const LlamaModel m = tiny_model(2, 2, DType::F16, 4);
    ContextParams params;
    params.n_ctx = 64;
    params.n_seqs = 2;
    params.n_threads = 2;
    InferenceContext ctx(m, params);
    std::vector<int32_t> tokens(2 * 16);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(i * 37 % 1024);
    const auto first = ctx.forward(tokens, 16);
    const std::vector<float> cached(first.begin(), first.end());
    ASSERT_EQ(cached.size(), 2u * 1024u);
    double sum_sq = 0;
    for (float v : cached) {
        ASSERT_TRUE(std::isfinite(v));
        sum_sq += static_cast<double>(v) * v;
    }
    EXPECT_GT(sum_sq, 0.0);  // not collapsed to zero either
    ctx.reset();
    ctx.set_split_mode(SplitMode::PerForward);
    const auto per_forward = ctx.forward(tokens, 16);
    ASSERT_EQ(per_forward.size(), cached.size());
    for (size_t i = 0; i < cached.size(); ++i) EXPECT_EQ(per_forward[i], cached[i]);
}

TEST(RandomModel, RealWorkloadUnderTheRunner) {
    const LlamaModel m = tiny_model(4, 2, DType::F16, 1);
    ContextParams base;
    base.n_threads = 2;
    base.n_batch = 64;
    bench::LlamaWorkloadSource source(m, base, 4, 0);
    bench::RunPlan plan;
    plan.configs = {{bench::TestKind::PromptProcessing, 1, 16, 0},
                    {bench::TestKind::PromptProcessing, 2, 8, 0},
                    {bench::TestKind::TokenGeneration, 2, 8, 4}};
    plan.arms = {bench::Arm::Cached, bench::Arm::PerForward, bench::Arm::CachedControl};
    plan.reps = 2;
    bench::RunObserver observer;
    const bench::RunOutput out = bench::run_plan(plan, source, observer, 1e-3);
    ASSERT_EQ(out.samples.size(), 3u);
    EXPECT_TRUE(out.skipped.empty());
    for (const bench::ConfigSamples& s : out.samples) {
        for (const auto& x : s.latency_ms) {
            ASSERT_EQ(x.size(), 2u);
            for (double ms : x) EXPECT_GT(ms, 0.0);
        }
    }
    EXPECT_LT(source.cost(plan.configs[0]),
              source.cost({bench::TestKind::PromptProcessing, 1, 32, 0}));
    // A context larger than the limit is refused, not attempted.
    bench::LlamaWorkloadSource tight(m, base, 4, 1024);
    EXPECT_THROW(tight.open(plan.configs[0]), Error);
    EXPECT_THROW(source.open({bench::TestKind::PromptProcessing, 1, 5000, 0}), Error);
}

}  // namespace
}  // namespace llama
