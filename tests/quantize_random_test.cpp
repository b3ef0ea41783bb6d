// A synthetic model (make_random_model, as llama-bench --config builds it) written as GGUF by
// write_model_gguf (what `llama-quantize --config` does) must load back as the same model: the
// same logits for exact weight types, the quantization error for Q8_0, weights copied byte for
// byte where the layouts agree, and no tokenizer needed.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "llama/context.h"
#include "llama/model.h"
#include "llama/random_model.h"
#include "model/gguf.h"
#include "model/gguf_convert.h"
#include "tests/gguf_test_util.h"

namespace llama {
namespace {

using test::TempDir;

const std::vector<int32_t> kTokens = {1, 17, 42, 255, 3, 100, 7, 200, 63, 128, 5, 99, 1000, 512};

LlamaModel tiny_random_model(DType dtype, RopeLayout layout = RopeLayout::RotateHalf) {
    RandomModelParams params;
    params.config = *preset_config("tiny");
    params.config.rope_layout = layout;
    params.dtype = dtype;
    params.seed = 7;
    return make_random_model(params);
}

// An F16 KV cache (where the engine has the option) rounds keys to 11 bits: a 1-ulp difference
// in a float key from the other RoPE pairing can then flip a rounding and move logits by ~1e-5.
// Exact comparisons keep the cache in F32.
template <class Params>
void use_f32_kv_cache(Params& params) {
    if constexpr (requires { params.cache_type; }) {
        params.cache_type = decltype(params.cache_type)::F32;
    }
}

// Logits of every position: all tokens in one forward, or one token at a time (decode path).
std::vector<float> all_logits(const LlamaModel& model, bool one_at_a_time) {
    ContextParams params;
    params.n_ctx = 64;
    params.n_threads = 2;
    params.prompt_precision = PromptPrecision::F32;
    use_f32_kv_cache(params);
    InferenceContext context(model, params);
    const auto n = static_cast<int64_t>(kTokens.size());
    if (!one_at_a_time) {
        const auto logits = context.forward(kTokens, n, LogitsMode::All);
        return {logits.begin(), logits.end()};
    }
    std::vector<float> logits;
    for (size_t i = 0; i < kTokens.size(); ++i) {
        const auto step =
            context.forward(std::span<const int32_t>(kTokens).subspan(i, 1), 1, LogitsMode::Last);
        logits.insert(logits.end(), step.begin(), step.end());
    }
    return logits;
}

using test::worst_relative_error;

// The logits must vary, or agreeing on them proves nothing.
double spread(const std::vector<float>& logits) {
    const auto [lo, hi] = std::minmax_element(logits.begin(), logits.end());
    return double(*hi) - double(*lo);
}

struct Errors {
    double prompt, decode;
};

Errors compare_with_file(const LlamaModel& original, DType type, const TempDir& dir) {
    const auto path = dir / (std::string(dtype_name(type)) + ".gguf");
    write_model_gguf(original, path, {type, {}, {}}, "tiny-random");
    const LlamaModel loaded = load_model(path);
    EXPECT_EQ(loaded.config.rope_layout, RopeLayout::Interleaved);
    EXPECT_EQ(loaded.config.hidden_size, original.config.hidden_size);
    EXPECT_EQ(loaded.config.n_layers, original.config.n_layers);
    EXPECT_EQ(loaded.config.n_heads, original.config.n_heads);
    EXPECT_EQ(loaded.config.n_kv_heads, original.config.n_kv_heads);
    EXPECT_EQ(loaded.config.head_dim, original.config.head_dim);
    EXPECT_EQ(loaded.config.ffn_size, original.config.ffn_size);
    EXPECT_EQ(loaded.config.vocab_size, original.config.vocab_size);
    EXPECT_EQ(loaded.config.max_context, original.config.max_context);
    EXPECT_FLOAT_EQ(loaded.config.rms_norm_eps, original.config.rms_norm_eps);
    EXPECT_FLOAT_EQ(loaded.config.rope_theta, original.config.rope_theta);
    // q/k/v and gate/up back to back: without repacking the loader fuses them in the mapping,
    // copying nothing (by default the matrices take buffers of their own, the file's pages
    // released).
    EXPECT_EQ(load_model(path, {}, {.interleave_weights = false}).storage.size(), 1u);
    EXPECT_GT(loaded.storage.size(), 1u);

    const int64_t vocab = original.config.vocab_size;
    // Prompt against prompt and decode against decode: the two paths round differently.
    const std::vector<float> expected = all_logits(original, false);
    EXPECT_GT(spread(expected), 0.1);
    const Errors errors{
        worst_relative_error(all_logits(loaded, false), expected, vocab),
        worst_relative_error(all_logits(loaded, true), all_logits(original, true), vocab)};
    std::cout << "tiny random model as GGUF " << dtype_name(type) << ": worst relative logit error "
              << errors.prompt << " (prompt), " << errors.decode << " (decode)\n";
    return errors;
}

TEST(QuantizeRandom, F32FileGivesTheSameLogits) {
    TempDir dir;
    const LlamaModel model = tiny_random_model(DType::F32);
    const Errors errors = compare_with_file(model, DType::F32, dir);
    // Same weights; only the RoPE pairing (rotate-half in memory, interleaved in the file) changes
    // the order of the head-dimension sums in attention (observed: below 1e-6).
    EXPECT_LE(errors.prompt, 2e-6);
    EXPECT_LE(errors.decode, 2e-6);
}

TEST(QuantizeRandom, F16FileGivesTheSameLogits) {
    TempDir dir;
    const LlamaModel model = tiny_random_model(DType::F16);
    const Errors errors = compare_with_file(model, DType::F16, dir);
    EXPECT_LE(errors.prompt, 2e-6);
    EXPECT_LE(errors.decode, 2e-6);
}

TEST(QuantizeRandom, Q8_0FileIsWithinQuantizationError) {
    TempDir dir;
    const LlamaModel model = tiny_random_model(DType::F32);
    const Errors errors = compare_with_file(model, DType::Q8_0, dir);
    // Q8_0 keeps ~2.5 significant digits per weight; int8 activations in decode add about as
    // much again. A loose sanity bound, as for the Hugging Face models' Q8_0 files.
    EXPECT_LE(errors.prompt, 0.05);
    EXPECT_LE(errors.decode, 0.05);
    EXPECT_GT(errors.prompt + errors.decode, 0.0);  // it really was quantized
}

// The file's weights are the model's: copied byte for byte for the same type, with q/k rows in
// GGUF's interleaved order for a rotate-half model and untouched for an interleaved one.
TEST(QuantizeRandom, WeightsAreCopiedExactlyWithQkRowsPermutedOnlyForRotateHalf) {
    for (RopeLayout layout : {RopeLayout::RotateHalf, RopeLayout::Interleaved}) {
        TempDir dir;
        const LlamaModel model = tiny_random_model(DType::F16, layout);
        const LlamaConfig& c = model.config;
        write_model_gguf(model, dir / "f16.gguf", {DType::F16, {}, {}}, "tiny-random");
        const GgufFile file = GgufFile::open(dir / "f16.gguf");
        EXPECT_EQ(file.get_string("general.architecture"), "llama");
        EXPECT_EQ(file.get_string("general.name"), "tiny-random");
        EXPECT_EQ(file.get_int("general.file_type"), 1);
        EXPECT_EQ(file.find("tokenizer.ggml.tokens"), nullptr);

        auto expect_bytes = [&](const std::string& name, const Matrix& m) {
            const GgufTensorInfo* info = file.find_tensor(name);
            ASSERT_NE(info, nullptr) << name;
            EXPECT_EQ(info->type, GgmlType::F16) << name;
            ASSERT_EQ(info->n_bytes, m.bytes().size()) << name;
            EXPECT_EQ(std::memcmp(info->data, m.data, info->n_bytes), 0) << name;
        };
        expect_bytes("token_embd.weight", model.token_embedding);
        expect_bytes("output.weight", model.lm_head);
        const DecoderLayer& last = model.layers.back();
        const std::string p = "blk." + std::to_string(c.n_layers - 1) + ".";
        const Matrix& qkv = last.attention.qkv_weight();
        expect_bytes(p + "attn_v.weight", qkv.slice_rows(c.q_size() + c.kv_size(), c.kv_size()));
        expect_bytes(p + "attn_output.weight", last.attention.o_weight());
        expect_bytes(p + "ffn_gate.weight", last.mlp.gate_up_weight().slice_rows(0, c.ffn_size));
        expect_bytes(p + "ffn_up.weight",
                     last.mlp.gate_up_weight().slice_rows(c.ffn_size, c.ffn_size));
        expect_bytes(p + "ffn_down.weight", last.mlp.down_weight());

        // q: file row (h, 2i + j) holds model row (h, j * head_dim/2 + i) when rotate-half.
        const GgufTensorInfo* q = file.find_tensor(p + "attn_q.weight");
        ASSERT_NE(q, nullptr);
        const int64_t stride = qkv.row_stride();
        const int64_t half = c.head_dim / 2;
        for (int64_t r = 0; r < c.q_size(); ++r) {
            const int64_t head = r / c.head_dim, within = r % c.head_dim;
            const int64_t source = layout == RopeLayout::Interleaved
                                       ? r
                                       : head * c.head_dim + (within % 2) * half + within / 2;
            ASSERT_EQ(std::memcmp(q->data + r * stride, qkv.row(source), stride), 0)
                << "q row " << r;
        }
        const GgufTensorInfo* norm = file.find_tensor(p + "ffn_norm.weight");
        ASSERT_NE(norm, nullptr);
        EXPECT_EQ(norm->type, GgmlType::F32);
    }
}

// An interleaved model needs no permutation; its file must still give its logits.
TEST(QuantizeRandom, InterleavedModelGivesTheSameLogits) {
    TempDir dir;
    const LlamaModel model = tiny_random_model(DType::F32, RopeLayout::Interleaved);
    const Errors errors = compare_with_file(model, DType::F32, dir);
    EXPECT_LE(errors.prompt, 2e-6);
    EXPECT_LE(errors.decode, 2e-6);
}

}  // namespace
}  // namespace llama
