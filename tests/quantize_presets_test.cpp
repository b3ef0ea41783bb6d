// llama.cpp's quantization presets written by our writer (what `llama-quantize IN OUT Q4_K_M`
// does): a synthetic model whose FFN width (1376) is not a multiple of 256, so the K-quant
// presets need their 32-value fallbacks, quantized to every preset. Each file must carry the
// per-tensor types of llama.cpp's mix, load, and give the logits of its own weights (those of an
// F32 file of the dequantized weights, up to the 8-bit activations of the integer kernels), which
// differ from the float model's by an error that follows the bits of its types.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "llama/context.h"
#include "llama/model.h"
#include "llama/random_model.h"
#include "model/gguf.h"
#include "model/gguf_convert.h"
#include "model/quant_mix.h"
#include "tests/gguf_test_util.h"

namespace llama {
namespace {

using test::TempDir;

const std::vector<int32_t> kTokens = {1, 17, 42, 255, 3, 100, 7, 200, 63, 128, 5, 99};

// tiny's shape (256 wide, 8 heads over 4 kv heads) with 8 layers and an FFN of 1376 = 43 * 32.
LlamaModel model_with_ffn_1376() {
    RandomModelParams params;
    params.config = *preset_config("tiny");
    params.config.ffn_size = 1376;
    params.config.n_layers = 8;
    params.dtype = DType::F32;
    params.seed = 11;
    return make_random_model(params);
}

std::vector<float> all_logits(const LlamaModel& model, bool one_at_a_time) {
    ContextParams params;
    params.n_ctx = 32;
    params.n_threads = 2;
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

std::string type_of(const GgufFile& file, const std::string& name) {
    const GgufTensorInfo* info = file.find_tensor(name);
    return info == nullptr ? "missing" : ggml_type_name(info->type);
}

struct Expected {
    std::string preset;
    // Expected types of a few tensors (llama.cpp's rules with ffn_down's 1376-value rows).
    std::map<std::string, std::string> types;
    // Relative RMS error of the base type on Gaussian weights (quant_types_test): the logits'
    // error against the float model must stay below kErrorPerRms times it.
    double base_rms;
};

// Measured on this model: 2.1-3.7 times the base type's relative RMS error (Q2_K lowest, IQ4_NL
// highest; the mix's better attn_v/ffn_down lower it).
constexpr double kErrorPerRms = 5.0;
// The same weights as F32, against the quantized kernels (int8 activations in decode and the
// integer prompt GEMM, bf16 or dequantized tiles elsewhere): measured 0.009-0.025 (Q8_0 weights
// alone give as much: this random model amplifies rounding).
constexpr double kKernelError = 0.04;

// Of 8 layers, llama.cpp's use_more_bits picks 0, 3, 6 and 7 (the first and last eighth and every
// third between); tiny's 8 query heads share 4 kv heads (GQA 2: no attn_v bump for Q2_K/IQ4).
const std::vector<Expected> kPresets = {
    {"Q4_1",
     {{"blk.0.attn_q.weight", "Q4_1"},
      {"blk.0.ffn_down.weight", "Q4_1"},
      {"output.weight", "Q6_K"},
      {"token_embd.weight", "Q4_1"}},
     0.0787},
    {"Q5_0",
     {{"blk.2.attn_v.weight", "Q5_0"},
      {"blk.0.ffn_down.weight", "Q5_0"},
      {"output.weight", "Q6_K"}},
     0.0432},
    {"Q5_1", {{"blk.2.ffn_up.weight", "Q5_1"}, {"output.weight", "Q6_K"}}, 0.0379},
    {"Q2_K",
     {{"blk.0.attn_q.weight", "Q2_K"},
      {"blk.0.attn_v.weight", "Q3_K"},
      {"blk.0.attn_output.weight", "Q3_K"},
      {"blk.0.ffn_down.weight", "Q4_0"},
      {"blk.5.ffn_up.weight", "Q2_K"},
      {"output.weight", "Q6_K"},
      {"token_embd.weight", "Q2_K"}},
     0.2957},
    {"Q3_K_S",
     {{"blk.0.attn_v.weight", "Q3_K"},
      {"blk.0.ffn_down.weight", "Q4_0"},
      {"output.weight", "Q6_K"}},
     0.1517},
    {"Q3_K_M",
     {{"blk.0.attn_v.weight", "Q5_K"},
      {"blk.2.attn_v.weight", "Q4_K"},
      {"blk.0.attn_output.weight", "Q4_K"},
      {"blk.0.ffn_down.weight", "Q5_0"},
      {"blk.1.ffn_gate.weight", "Q3_K"},
      {"output.weight", "Q6_K"}},
     0.1517},
    {"Q3_K_L",
     {{"blk.3.attn_v.weight", "Q5_K"},
      {"blk.3.attn_output.weight", "Q5_K"},
      {"blk.3.ffn_down.weight", "Q5_1"}},
     0.1517},
    {"Q4_K_S",
     {{"blk.3.attn_v.weight", "Q5_K"},
      {"blk.4.attn_v.weight", "Q4_K"},
      {"blk.0.ffn_down.weight", "Q5_1"},
      {"blk.1.ffn_down.weight", "Q5_0"},
      {"output.weight", "Q6_K"}},
     0.0720},
    {"Q4_K_M",
     {{"blk.0.attn_v.weight", "Q6_K"},
      {"blk.1.attn_v.weight", "Q4_K"},
      {"blk.3.attn_v.weight", "Q6_K"},
      {"blk.7.attn_v.weight", "Q6_K"},
      {"blk.0.ffn_down.weight", "Q8_0"},
      {"blk.1.ffn_down.weight", "Q5_0"},
      {"blk.1.ffn_up.weight", "Q4_K"},
      {"output.weight", "Q6_K"}},
     0.0720},
    {"Q5_K_S", {{"blk.0.ffn_down.weight", "Q5_1"}, {"blk.0.attn_v.weight", "Q5_K"}}, 0.0361},
    {"Q5_K_M",
     {{"blk.0.attn_v.weight", "Q6_K"},
      {"blk.1.attn_v.weight", "Q5_K"},
      {"blk.0.ffn_down.weight", "Q8_0"},
      {"blk.1.ffn_down.weight", "Q5_1"}},
     0.0361},
    {"Q6_K",
     {{"blk.0.attn_q.weight", "Q6_K"},
      {"blk.0.ffn_down.weight", "Q8_0"},
      {"output.weight", "Q6_K"}},
     0.0178},
    {"IQ4_NL",
     {{"blk.1.attn_q.weight", "IQ4_NL"},
      {"blk.0.ffn_down.weight", "Q5_1"},
      {"blk.1.ffn_down.weight", "IQ4_NL"},
      {"output.weight", "Q6_K"}},
     0.0769},
    {"IQ4_XS",
     {{"blk.1.attn_q.weight", "IQ4_XS"},
      {"blk.0.ffn_down.weight", "Q5_1"},
      {"blk.1.ffn_down.weight", "IQ4_NL"},
      {"output.weight", "Q6_K"}},
     0.0774},
};

TEST(QuantizePresets, EveryPresetHasLlamaCppsMixAndRuns) {
    const LlamaModel model = model_with_ffn_1376();
    const int64_t vocab = model.config.vocab_size;
    const std::vector<float> prompt_reference = all_logits(model, false);
    const std::vector<float> decode_reference = all_logits(model, true);
    TempDir dir;
    for (const Expected& expected : kPresets) {
        SCOPED_TRACE(expected.preset);
        const auto preset = find_quant_preset(expected.preset);
        ASSERT_TRUE(preset.has_value());
        GgufConvertOptions options;
        options.type = preset->base;
        options.preset = expected.preset;
        const auto path = dir / (expected.preset + ".gguf");
        write_model_gguf(model, path, options, "ffn-1376");
        {
            const GgufFile file = GgufFile::open(path);
            EXPECT_EQ(file.get_int("general.file_type"), preset->file_type);
            for (const auto& [name, type] : expected.types) {
                EXPECT_EQ(type_of(file, name), type) << name;
            }
            EXPECT_EQ(type_of(file, "blk.0.ffn_norm.weight"), "F32");
        }
        // The file's own weights in float: our converter dequantizes each tensor to F32.
        const auto dequantized_path = dir / (expected.preset + "-f32.gguf");
        GgufConvertOptions to_f32;
        to_f32.type = DType::F32;
        convert_to_gguf(path, dequantized_path, to_f32);
        const LlamaModel loaded = load_model(path);
        const LlamaModel dequantized = load_model(dequantized_path);
        const std::vector<float> prompt = all_logits(loaded, false);
        const std::vector<float> decode = all_logits(loaded, true);
        const double kernel_prompt =
            test::worst_relative_error(prompt, all_logits(dequantized, false), vocab);
        const double kernel_decode =
            test::worst_relative_error(decode, all_logits(dequantized, true), vocab);
        const double prompt_error = test::worst_relative_error(prompt, prompt_reference, vocab);
        const double decode_error = test::worst_relative_error(decode, decode_reference, vocab);
        std::cout << expected.preset << ": worst relative logit error against its dequantized "
                  << "weights " << kernel_prompt << " (prompt), " << kernel_decode
                  << " (decode); against the float model " << prompt_error << " (prompt), "
                  << decode_error << " (decode)\n";
        EXPECT_LE(kernel_prompt, kKernelError);
        EXPECT_LE(kernel_decode, kKernelError);
        EXPECT_LE(prompt_error, kErrorPerRms * expected.base_rms);
        EXPECT_LE(decode_error, kErrorPerRms * expected.base_rms);
        EXPECT_GT(prompt_error, 0.0);  // it really was quantized
    }
}

TEST(QuantizePresets, NamesAndAliases) {
    EXPECT_EQ(find_quant_preset("q4_k")->name, "Q4_K_M");
    EXPECT_EQ(find_quant_preset("Q3_K")->name, "Q3_K_M");
    EXPECT_EQ(find_quant_preset("iq4_xs")->base, DType::IQ4_XS);
    EXPECT_FALSE(find_quant_preset("Q7_K").has_value());
    EXPECT_EQ(parse_gguf_output_type("Q5_K_M"), DType::Q5_K);
    test::expect_error([] { parse_gguf_output_type("Q7_K"); }, "unknown output type 'Q7_K'");
}

TEST(QuantizePresets, FallbackForRowsNotWholeSuperBlocks) {
    const QuantPreset q4_k_m = *find_quant_preset("Q4_K_M");
    const QuantPreset q2_k = *find_quant_preset("Q2_K");
    const QuantPreset iq4_xs = *find_quant_preset("IQ4_XS");
    auto type = [](const QuantPreset& preset, const char* name, int64_t cols) {
        return preset_tensor_type(preset, {name, cols, 32, 1, false});
    };
    EXPECT_EQ(type(q4_k_m, "blk.5.ffn_up.weight", 4096), DType::Q4_K);
    EXPECT_EQ(type(q4_k_m, "blk.5.ffn_down.weight", 8640), DType::Q5_0);  // not 256-divisible
    EXPECT_EQ(type(q4_k_m, "blk.0.ffn_down.weight", 8640), DType::Q8_0);  // Q6_K -> Q8_0
    EXPECT_EQ(type(q2_k, "blk.5.ffn_down.weight", 8640), DType::Q4_0);    // Q3_K -> Q4_0
    EXPECT_EQ(type(iq4_xs, "blk.9.ffn_down.weight", 8640), DType::IQ4_NL);
    EXPECT_EQ(type(q4_k_m, "blk.5.ffn_down.weight", 1000), DType::F16);  // not even 32
    // The output matrix: Q6_K, or Q8_0 when its rows are not whole blocks of the base type.
    EXPECT_EQ(type(q4_k_m, "output.weight", 4096), DType::Q6_K);
    EXPECT_EQ(type(q4_k_m, "output.weight", 4000), DType::Q8_0);
    // A tied embedding is the output matrix.
    EXPECT_EQ(preset_tensor_type(q4_k_m, {"token_embd.weight", 4096, 32, 1, true}), DType::Q6_K);
    EXPECT_EQ(preset_tensor_type(q4_k_m, {"token_embd.weight", 4096, 32, 1, false}), DType::Q4_K);
    // Grouped-query attention with 4+ query heads per kv head gives Q2_K's attn_v 4 bits.
    EXPECT_EQ(preset_tensor_type(q2_k, {"blk.1.attn_v.weight", 4096, 32, 4, false}), DType::Q4_K);
    EXPECT_EQ(preset_tensor_type(q2_k, {"blk.1.attn_v.weight", 4096, 32, 1, false}), DType::Q3_K);
}

}  // namespace
}  // namespace llama
