// The tiny Hugging Face test models converted to GGUF by llama-quantize's converter (q/k rows
// permuted to the interleaved RoPE layout, as llama.cpp's converter does) must give the logits of
// the original checkpoint: exactly the same weights for F32/F16/BF16, and within the
// quantization error for Q8_0/Q4_0. Also: GGUF -> GGUF conversion, and the llama-quantize
// binary's exit status.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "llama/context.h"
#include "llama/error.h"
#include "llama/model.h"
#include "model/gguf.h"
#include "model/gguf_convert.h"
#include "tests/gguf_test_util.h"
#include "tests/tiny_gguf.h"

namespace llama {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

const std::vector<int32_t> kTokens = {1, 17, 42, 255, 3, 100, 7, 200, 63, 128, 5, 99};

fs::path model_dir(const std::string& name) {
    return fs::path(LLAMA_SOURCE_DIR) / "tests" / "data" / name;
}

// Logits of every position, all tokens in one forward, and the decode path (one at a time).
std::vector<float> all_logits(const LlamaModel& model, bool one_at_a_time = false) {
    ContextParams params;
    params.n_ctx = model.config.max_context;
    params.n_threads = 2;
    params.prompt_precision = PromptPrecision::F32;
    params.cache_type = CacheType::F32;
    InferenceContext context(model, params);
    if (!one_at_a_time) {
        const auto logits =
            context.forward(kTokens, static_cast<int64_t>(kTokens.size()), LogitsMode::All);
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

struct Case {
    const char* model;
    DType type;
    double tolerance;  // relative to the HF model's logits
};

void PrintTo(const Case& c, std::ostream* out) { *out << c.model << " as " << dtype_name(c.type); }

class GgufEndToEnd : public ::testing::TestWithParam<Case> {};

TEST_P(GgufEndToEnd, ConvertedModelGivesTheSameLogits) {
    const Case c = GetParam();
    TempDir dir;
    const fs::path gguf = dir / "model.gguf";
    convert_to_gguf(model_dir(c.model), gguf, {c.type, {}, {}});

    const LlamaModel hf = load_model(model_dir(c.model));
    const LlamaModel converted = load_model(gguf, {}, {.interleave_weights = false});
    EXPECT_EQ(hf.config.rope_layout, RopeLayout::RotateHalf);
    EXPECT_EQ(converted.config.rope_layout, RopeLayout::Interleaved);
    EXPECT_EQ(converted.config.hidden_size, hf.config.hidden_size);
    EXPECT_EQ(converted.config.n_kv_heads, hf.config.n_kv_heads);
    EXPECT_EQ(converted.config.vocab_size, hf.config.vocab_size);
    EXPECT_FLOAT_EQ(converted.config.rope_theta, hf.config.rope_theta);
    EXPECT_FLOAT_EQ(converted.config.rms_norm_eps, hf.config.rms_norm_eps);
    // Our writer puts q/k/v and gate/up back to back: the loader must not copy anything.
    EXPECT_EQ(converted.storage.size(), 1u);

    const int64_t vocab = hf.config.vocab_size;
    const std::vector<float> expected = all_logits(hf);
    const double prompt_error = worst_relative_error(all_logits(converted), expected, vocab);
    const double decode_error = worst_relative_error(all_logits(converted, true), expected, vocab);
    EXPECT_LE(prompt_error, c.tolerance) << c.model << " as " << dtype_name(c.type);
    EXPECT_LE(decode_error, c.tolerance) << c.model << " as " << dtype_name(c.type);
    // As loaded by default (Q4_0 / Q4_K interleaved): decode gives the same logits up to float
    // rounding; a prompt (short: the small-batch kernels, not the GEMM) is within the bound.
    const LlamaModel interleaved = load_model(gguf);
    EXPECT_LE(
        worst_relative_error(all_logits(interleaved, true), all_logits(converted, true), vocab),
        1e-4);
    EXPECT_LE(worst_relative_error(all_logits(interleaved), expected, vocab), c.tolerance);
    std::cout << c.model << " as GGUF " << dtype_name(c.type) << ": worst relative logit error "
              << prompt_error << " (prompt), " << decode_error << " (decode)\n";
}

// Exact weights: only float rounding of a different (but equivalent) RoPE pairing differs.
// Quantized: Q8_0 keeps ~2.5 significant digits per weight, Q4_0 ~1; the bounds are loose
// sanity limits for these random-weight models (observed errors are a fraction of them).
INSTANTIATE_TEST_SUITE_P(TinyModels, GgufEndToEnd,
                         ::testing::Values(Case{"tiny-gqa-f32", DType::F32, 1e-5},
                                           Case{"tiny-mha-f16", DType::F16, 1e-5},
                                           Case{"tiny-gqa-bf16-sharded", DType::BF16, 1e-5},
                                           Case{"tiny-gqa-f32", DType::Q8_0, 0.05},
                                           Case{"tiny-gqa-f32", DType::Q4_0, 0.5}),
                         [](const auto& info) {
                             std::string name = std::string(info.param.model) + "_" +
                                                std::string(dtype_name(info.param.type));
                             std::replace(name.begin(), name.end(), '-', '_');
                             return name;
                         });

// A quantized model against the same weights dequantized exactly (GGUF Q -> GGUF F32): what is
// left is the engine's handling of quantized weights, whose only approximation is the 8-bit
// quantization of activations in the integer dot products (a relative step of 1/254 per value).
TEST(GgufQuantizedEndToEnd, MatchesItsDequantizedWeights) {
    for (DType type : {DType::Q8_0, DType::Q4_0}) {
        TempDir dir;
        convert_to_gguf(model_dir("tiny-gqa-f32"), dir / "q.gguf", {type, {}, {}});
        convert_to_gguf(dir / "q.gguf", dir / "dequantized.gguf", {DType::F32, {}, {}});
        const LlamaModel quantized = load_model(dir / "q.gguf");
        const LlamaModel dequantized = load_model(dir / "dequantized.gguf");
        ASSERT_EQ(dequantized.layers[0].attention.qkv_weight().dtype, DType::F32);
        const int64_t vocab = quantized.config.vocab_size;
        const std::vector<float> expected = all_logits(dequantized);
        const double prompt_error = worst_relative_error(all_logits(quantized), expected, vocab);
        const double decode_error =
            worst_relative_error(all_logits(quantized, true), expected, vocab);
        std::cout << "GGUF " << dtype_name(type) << " vs its dequantized weights: worst relative "
                  << "logit error " << prompt_error << " (prompt), " << decode_error
                  << " (decode)\n";
        // Observed: 0 for a prompt run on dequantized tiles, ~0.023 for decode (int8
        // activations through two layers and the lm_head).
        EXPECT_LE(prompt_error, 0.05) << dtype_name(type);
        EXPECT_LE(decode_error, 0.05) << dtype_name(type);
    }
}

TEST(GgufConvert, GgufToGgufKeepsMetadataAndExactTypes) {
    TempDir dir;
    convert_to_gguf(model_dir("tiny-gqa-f32"), dir / "q8.gguf", {DType::Q8_0, {}, {}});
    // Converting to the type the weights already have copies them bit for bit.
    convert_to_gguf(dir / "q8.gguf", dir / "q8-again.gguf", {DType::Q8_0, {}, {}});
    const GgufFile first = GgufFile::open(dir / "q8.gguf");
    const GgufFile second = GgufFile::open(dir / "q8-again.gguf");
    ASSERT_EQ(first.tensors().size(), second.tensors().size());
    for (const GgufTensorInfo& tensor : first.tensors()) {
        const GgufTensorInfo* other = second.find_tensor(tensor.name);
        ASSERT_NE(other, nullptr) << tensor.name;
        EXPECT_EQ(other->type, tensor.type);
        ASSERT_EQ(other->n_bytes, tensor.n_bytes);
        EXPECT_EQ(std::memcmp(other->data, tensor.data, tensor.n_bytes), 0) << tensor.name;
    }
    for (const GgufKeyValue& entry : first.metadata()) {
        ASSERT_NE(second.find(entry.key), nullptr) << entry.key;
        EXPECT_EQ(*second.find(entry.key), entry.value) << entry.key;
    }
    EXPECT_EQ(first.get_int("general.file_type"), 7);
    EXPECT_EQ(first.get_string("general.name"), "tiny-gqa-f32");

    // Down to F16: norms stay F32, matrices become F16, general.file_type follows.
    convert_to_gguf(dir / "q8.gguf", dir / "f16.gguf", {DType::F16, {}, {}});
    const GgufFile f16 = GgufFile::open(dir / "f16.gguf");
    EXPECT_EQ(f16.find_tensor("blk.0.attn_q.weight")->type, GgmlType::F16);
    EXPECT_EQ(f16.find_tensor("blk.0.attn_norm.weight")->type, GgmlType::F32);
    EXPECT_EQ(f16.get_int("general.file_type"), 1);
    EXPECT_EQ(f16.find("general.quantization_version"), nullptr);

    // Q4_0 keeps the output matrix at 8 bits.
    convert_to_gguf(model_dir("tiny-gqa-f32"), dir / "q4.gguf", {DType::Q4_0, {}, {}});
    const GgufFile q4 = GgufFile::open(dir / "q4.gguf");
    EXPECT_EQ(q4.find_tensor("output.weight")->type, GgmlType::Q8_0);
    EXPECT_EQ(q4.find_tensor("blk.1.ffn_down.weight")->type, GgmlType::Q4_0);
}

TEST(GgufConvert, RejectsBadInput) {
    TempDir dir;
    test::expect_error([&] { convert_to_gguf(dir / "absent", dir / "out.gguf", {}); },
                       "no such file or directory");
    test::expect_error(
        [&] {
            convert_to_gguf(model_dir("tiny-gqa-f32"), dir / "out.gguf",
                            {DType::Q4_K, {}, {}, "Q6_K"});
        },
        "preset Q6_K has base type Q6_K, not Q4_K");
    test::expect_error(
        [&] {
            convert_to_gguf(model_dir("tiny-gqa-f32"), dir / "out.gguf",
                            {DType::Q8_0, {}, {}, "Q9"});
        },
        "cannot write GGUF files of type Q9");
    test::expect_error([&] { parse_gguf_output_type("Q7_1"); }, "unknown output type 'Q7_1'");
    EXPECT_EQ(parse_gguf_output_type("q4_0"), DType::Q4_0);
    EXPECT_FALSE(fs::exists(dir / "out.gguf"));
    EXPECT_FALSE(fs::exists(dir / "out.gguf.tmp"));
}

TEST(GgufConvert, QuantizeToolExitStatus) {
    const fs::path tool = fs::path(LLAMA_BINARY_DIR) / "tools" / "llama-quantize";
    if (!fs::exists(tool)) GTEST_SKIP() << tool << " is not built";
    TempDir dir;
    auto run = [&](const std::string& args) {
        const std::string command =
            tool.string() + " " + args + " > " + (dir / "log.txt").string() + " 2>&1";
        return std::system(command.c_str());
    };
    EXPECT_EQ(run(model_dir("tiny-gqa-f32").string() + " " + (dir / "ok.gguf").string() + " Q8_0"),
              0);
    EXPECT_NO_THROW(load_model(dir / "ok.gguf"));
    EXPECT_NE(run((dir / "absent").string() + " " + (dir / "x.gguf").string() + " Q8_0"), 0);
    EXPECT_NE(run((dir / "ok.gguf").string() + " " + (dir / "x.gguf").string() + " Q9"), 0);
    EXPECT_NE(run("only-one-argument"), 0);
}

// Every kind of bad file makes the tools fail with a non-zero status and an "error:" line naming
// the problem (llama-quantize reads the same header and config the loader does).
TEST(GgufTools, BadFilesGiveAnErrorAndNonZeroExit) {
    const fs::path bin = fs::path(LLAMA_BINARY_DIR) / "tools";
    TempDir dir;
    std::vector<std::pair<fs::path, std::string>> bad;  // file, expected message
    test::ByteWriter wrong_magic;
    wrong_magic.raw("GGUF").u32(9).u64(0).u64(0);
    bad.emplace_back(wrong_magic.save(dir / "version.gguf"), "unsupported GGUF version 9");
    test::ByteWriter unknown_type;
    unknown_type.magic().u32(3).u64(1).u64(0).str("token_embd.weight").u32(2).u64(32).u64(4);
    unknown_type.u32(77).u64(0).pad(32).zeros(512);
    bad.emplace_back(unknown_type.save(dir / "type.gguf"),
                     "tensor 'token_embd.weight' has unknown GGML type id 77");
    {
        test::TinyGgufSpec spec;
        spec.edit = [](GgufWriter& w) { w.set("general.architecture", "gpt2"); };
        test::write_tiny_gguf(dir / "arch.gguf", spec);
        bad.emplace_back(dir / "arch.gguf", "unsupported architecture 'gpt2'");
    }
    {
        test::write_tiny_gguf(dir / "truncated.gguf", test::TinyGgufSpec{});
        fs::resize_file(dir / "truncated.gguf", fs::file_size(dir / "truncated.gguf") - 100);
        bad.emplace_back(dir / "truncated.gguf", "runs past the end of the file");
    }
    {
        test::TinyGgufSpec spec;
        spec.skip = {"blk.0.attn_v.weight"};
        test::write_tiny_gguf(dir / "missing.gguf", spec);
        bad.emplace_back(dir / "missing.gguf", "missing tensor 'blk.0.attn_v.weight'");
    }
    {
        test::TinyGgufSpec spec;
        spec.edit = [](GgufWriter& w) { w.set("llama.feed_forward_length", 64u); };
        test::write_tiny_gguf(dir / "shape.gguf", spec);
        bad.emplace_back(dir / "shape.gguf", "but the model config needs");
    }
    // The library reports each of these when loading.
    for (const auto& [file, message] : bad) test::expect_error([&] { load_model(file); }, message);

    auto run = [&](const std::string& command) {
        const fs::path log = dir / "stderr.txt";
        const int status = std::system((command + " > /dev/null 2> " + log.string()).c_str());
        std::ifstream in(log);
        return std::make_pair(status, std::string(std::istreambuf_iterator<char>(in), {}));
    };
    const fs::path quantize = bin / "llama-quantize";
    const fs::path llama_run = bin / "llama-run";
    if (!fs::exists(quantize) && !fs::exists(llama_run)) GTEST_SKIP() << "tools not built";
    for (const auto& [file, message] : bad) {
        if (fs::exists(quantize)) {
            const auto [status, err] = run(quantize.string() + " " + file.string() + " " +
                                           (dir / "out.gguf").string() + " Q8_0");
            EXPECT_NE(status, 0) << file;
            EXPECT_NE(err.find("error: "), std::string::npos) << err;
            EXPECT_NE(err.find(message), std::string::npos) << err;
        }
        if (fs::exists(llama_run)) {
            const auto [status, err] =
                run(llama_run.string() + " -m " + file.string() + " -p hi -n 1");
            EXPECT_NE(status, 0) << file;
            EXPECT_NE(err.find("error: "), std::string::npos) << err;
            EXPECT_NE(err.find(file.filename().string()), std::string::npos) << err;
        }
    }
}

}  // namespace
}  // namespace llama
