// The Hugging Face loader against files with known contents written here, and every bad-input case
// it must reject with a message naming the problem.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "kernels/kernels.h"
#include "llama/error.h"
#include "llama/model.h"
#include "model/safetensors.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct TensorSpec {
    std::string dtype;  // "F32", "F16", "BF16", or anything else for the error cases
    std::vector<int64_t> shape;
    std::vector<float> values;
};

// Writes a safetensors file; `mutate` may edit the header before it is written.
void write_safetensors(const fs::path& path, const std::map<std::string, TensorSpec>& tensors,
                       const std::function<void(json&)>& mutate = {}) {
    json header = json::object();
    std::string data;
    for (const auto& [name, spec] : tensors) {
        const size_t begin = data.size();
        for (float value : spec.values) {
            if (spec.dtype == "F32") {
                data.append(reinterpret_cast<const char*>(&value), 4);
            } else {
                const uint16_t half = spec.dtype == "BF16" ? llama::kernels::f32_to_bf16(value)
                                                           : llama::kernels::f32_to_f16(value);
                data.append(reinterpret_cast<const char*>(&half), 2);
            }
        }
        header[name] = {
            {"dtype", spec.dtype}, {"shape", spec.shape}, {"data_offsets", {begin, data.size()}}};
    }
    if (mutate) mutate(header);
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    const uint64_t size = text.size();
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(&size), 8);
    out << text << data;
}

std::vector<float> counting(int64_t n, float start) {
    std::vector<float> values(n);
    for (int64_t i = 0; i < n; ++i) values[i] = start + 0.25f * static_cast<float>(i % 64);
    return values;
}

// A tiny LLaMA: hidden 8, 1 layer, 2 heads of 4 (1 kv head), ffn 12, vocab 16. Each tensor gets
// distinct, exactly representable values so the test can tell them apart after fusing.
struct TinyCheckpoint {
    json config = {{"architectures", {"LlamaForCausalLM"}},
                   {"model_type", "llama"},
                   {"hidden_size", 8},
                   {"intermediate_size", 12},
                   {"num_hidden_layers", 1},
                   {"num_attention_heads", 2},
                   {"num_key_value_heads", 1},
                   {"max_position_embeddings", 32},
                   {"rms_norm_eps", 1e-5},
                   {"rope_theta", 10000.0},
                   {"vocab_size", 16}};
    std::map<std::string, TensorSpec> tensors;

    explicit TinyCheckpoint(const std::string& dtype, bool with_lm_head = true) {
        auto add = [&](const std::string& name, std::vector<int64_t> shape, float start) {
            int64_t n = 1;
            for (int64_t dim : shape) n *= dim;
            tensors[name] = {dtype, shape, counting(n, start)};
        };
        add("model.embed_tokens.weight", {16, 8}, 1.0f);
        add("model.layers.0.input_layernorm.weight", {8}, 2.0f);
        add("model.layers.0.self_attn.q_proj.weight", {8, 8}, 3.0f);
        add("model.layers.0.self_attn.k_proj.weight", {4, 8}, 4.0f);
        add("model.layers.0.self_attn.v_proj.weight", {4, 8}, 5.0f);
        add("model.layers.0.self_attn.o_proj.weight", {8, 8}, 6.0f);
        add("model.layers.0.post_attention_layernorm.weight", {8}, 7.0f);
        add("model.layers.0.mlp.gate_proj.weight", {12, 8}, 8.0f);
        add("model.layers.0.mlp.up_proj.weight", {12, 8}, 9.0f);
        add("model.layers.0.mlp.down_proj.weight", {8, 12}, 10.0f);
        add("model.norm.weight", {8}, 11.0f);
        if (with_lm_head) add("lm_head.weight", {16, 8}, 12.0f);
    }

    void write(const fs::path& dir, const std::function<void(json&)>& mutate = {}) const {
        fs::create_directories(dir);
        std::ofstream(dir / "config.json") << config.dump(2);
        write_safetensors(dir / "model.safetensors", tensors, mutate);
    }
};

class LoaderTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("loader_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Loading must fail with a llama::Error whose message contains `needle`.
    void expect_load_error(const fs::path& path, const std::string& needle) {
        try {
            llama::load_model(path);
            FAIL() << "loading " << path << " succeeded; expected an error containing '" << needle
                   << "'";
        } catch (const llama::Error& e) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
                << "message was: " << e.what();
        }
    }

    std::vector<float> row_values(const llama::Matrix& m, int64_t row) {
        std::vector<float> out(m.cols);
        llama::kernels::dequantize_rows(m.dtype, m.row(row), 1, m.cols, out);
        return out;
    }

    fs::path dir_;
};

TEST_F(LoaderTest, ReadsConfigAndKnownWeights) {
    for (const std::string dtype : {"F32", "F16", "BF16"}) {
        SCOPED_TRACE(dtype);
        TinyCheckpoint checkpoint(dtype);
        checkpoint.write(dir_ / dtype);
        const llama::LlamaModel model = llama::load_model(dir_ / dtype);
        const llama::LlamaConfig& c = model.config;
        EXPECT_EQ(c.hidden_size, 8);
        EXPECT_EQ(c.n_layers, 1);
        EXPECT_EQ(c.n_heads, 2);
        EXPECT_EQ(c.n_kv_heads, 1);
        EXPECT_EQ(c.head_dim, 4);
        EXPECT_EQ(c.ffn_size, 12);
        EXPECT_EQ(c.vocab_size, 16);
        EXPECT_EQ(c.max_context, 32);
        EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-5f);
        EXPECT_EQ(c.rope_layout, llama::RopeLayout::RotateHalf);
        ASSERT_EQ(model.layers.size(), 1u);

        const auto& tensors = checkpoint.tensors;
        auto expected_row = [&](const std::string& name, int64_t row, int64_t cols) {
            const auto& values = tensors.at(name).values;
            return std::vector<float>(values.begin() + row * cols,
                                      values.begin() + (row + 1) * cols);
        };
        // Fused QKV: rows 0-7 from q, 8-11 from k, 12-15 from v, all in the stored dtype.
        const llama::Matrix& qkv = model.layers[0].attention.qkv_weight();
        EXPECT_EQ(llama::dtype_name(qkv.dtype), dtype);
        ASSERT_EQ(qkv.rows, 16);
        EXPECT_EQ(row_values(qkv, 0), expected_row("model.layers.0.self_attn.q_proj.weight", 0, 8));
        EXPECT_EQ(row_values(qkv, 7), expected_row("model.layers.0.self_attn.q_proj.weight", 7, 8));
        EXPECT_EQ(row_values(qkv, 8), expected_row("model.layers.0.self_attn.k_proj.weight", 0, 8));
        EXPECT_EQ(row_values(qkv, 15),
                  expected_row("model.layers.0.self_attn.v_proj.weight", 3, 8));
        const llama::Matrix& gate_up = model.layers[0].mlp.gate_up_weight();
        ASSERT_EQ(gate_up.rows, 24);
        EXPECT_EQ(row_values(gate_up, 11),
                  expected_row("model.layers.0.mlp.gate_proj.weight", 11, 8));
        EXPECT_EQ(row_values(gate_up, 12), expected_row("model.layers.0.mlp.up_proj.weight", 0, 8));
        EXPECT_EQ(row_values(model.layers[0].mlp.down_weight(), 2),
                  expected_row("model.layers.0.mlp.down_proj.weight", 2, 12));
        EXPECT_EQ(model.layers[0].attn_norm,
                  tensors.at("model.layers.0.input_layernorm.weight").values);
        EXPECT_EQ(model.final_norm, tensors.at("model.norm.weight").values);
        EXPECT_EQ(row_values(model.lm_head, 5), expected_row("lm_head.weight", 5, 8));
        EXPECT_EQ(row_values(model.token_embedding, 9),
                  expected_row("model.embed_tokens.weight", 9, 8));
        // Split sizes [q_size, kv_size, kv_size] = [8, 4, 4] in both modes.
        for (auto mode : {llama::SplitMode::Cached, llama::SplitMode::PerForward}) {
            const llama::QkvSplit split = model.layers[0].attention.split(mode);
            EXPECT_EQ(split.q_offset, 0);
            EXPECT_EQ(split.q_size, 8);
            EXPECT_EQ(split.k_offset, 8);
            EXPECT_EQ(split.kv_size, 4);
            EXPECT_EQ(split.v_offset, 12);
        }
    }
}

TEST_F(LoaderTest, MissingLmHeadTiesToEmbeddings) {
    TinyCheckpoint(/*dtype=*/"F32", /*with_lm_head=*/false).write(dir_);
    const llama::LlamaModel model = llama::load_model(dir_);
    EXPECT_EQ(model.lm_head.data, model.token_embedding.data);
}

TEST_F(LoaderTest, MissingPath) { expect_load_error(dir_ / "nope", "no such file or directory"); }

TEST_F(LoaderTest, DirectoryWithoutConfig) { expect_load_error(dir_, "config.json: cannot open"); }

TEST_F(LoaderTest, BadJsonConfig) {
    TinyCheckpoint("F32").write(dir_);
    std::ofstream(dir_ / "config.json") << "{\"hidden_size\": 8,";
    expect_load_error(dir_, "not valid JSON");
}

TEST_F(LoaderTest, ConfigMissingField) {
    TinyCheckpoint checkpoint("F32");
    checkpoint.config.erase("hidden_size");
    checkpoint.write(dir_);
    expect_load_error(dir_, "missing \"hidden_size\"");
}

TEST_F(LoaderTest, ConfigHeadsNotDivisible) {
    TinyCheckpoint checkpoint("F32");
    checkpoint.config["num_key_value_heads"] = 3;
    checkpoint.write(dir_);
    expect_load_error(dir_, "not a multiple of n_kv_heads");
}

TEST_F(LoaderTest, UnsupportedModelType) {
    TinyCheckpoint checkpoint("F32");
    checkpoint.config["model_type"] = "gpt2";
    checkpoint.write(dir_);
    expect_load_error(dir_, "model_type \"gpt2\" is not supported");
}

TEST_F(LoaderTest, NoWeightsFile) {
    TinyCheckpoint("F32").write(dir_);
    fs::remove(dir_ / "model.safetensors");
    expect_load_error(dir_, "no model.safetensors");
}

TEST_F(LoaderTest, TruncatedFile) {
    TinyCheckpoint("F32").write(dir_);
    const auto path = dir_ / "model.safetensors";
    fs::resize_file(path, fs::file_size(path) - 100);
    expect_load_error(dir_, "truncated");
}

TEST_F(LoaderTest, TruncatedHeader) {
    TinyCheckpoint("F32").write(dir_);
    fs::resize_file(dir_ / "model.safetensors", 20);
    expect_load_error(dir_, "header of");
}

TEST_F(LoaderTest, TooShortFile) {
    TinyCheckpoint("F32").write(dir_);
    fs::resize_file(dir_ / "model.safetensors", 3);
    expect_load_error(dir_, "too short");
}

TEST_F(LoaderTest, OffsetsPastEnd) {
    TinyCheckpoint("F32").write(dir_, [](json& header) {
        header["model.norm.weight"]["data_offsets"] = {1u << 20, (1u << 20) + 32};
    });
    expect_load_error(dir_, "past the end");
}

TEST_F(LoaderTest, OffsetsDisagreeWithShape) {
    TinyCheckpoint("F32").write(dir_,
                                [](json& header) { header["model.norm.weight"]["shape"] = {9}; });
    expect_load_error(dir_, "its shape needs");
}

TEST_F(LoaderTest, WrongShape) {
    TinyCheckpoint checkpoint("F32");
    checkpoint.tensors["model.layers.0.self_attn.k_proj.weight"] = {"F32", {8, 4}, counting(32, 0)};
    checkpoint.write(dir_);
    expect_load_error(dir_,
                      "'model.layers.0.self_attn.k_proj.weight' has shape [8, 4], expected [4, 8]");
}

TEST_F(LoaderTest, UnknownDtype) {
    TinyCheckpoint("F32").write(
        dir_, [](json& header) { header["model.norm.weight"]["dtype"] = "F8_E4M3"; });
    expect_load_error(dir_, "unsupported dtype F8_E4M3");
}

TEST_F(LoaderTest, MissingTensor) {
    TinyCheckpoint checkpoint("F32");
    checkpoint.tensors.erase("model.layers.0.mlp.up_proj.weight");
    checkpoint.write(dir_);
    expect_load_error(dir_, "no tensor 'model.layers.0.mlp.up_proj.weight'");
}

TEST_F(LoaderTest, MixedDtypesCannotFuse) {
    TinyCheckpoint checkpoint("F32");
    checkpoint.tensors["model.layers.0.self_attn.v_proj.weight"].dtype = "F16";
    checkpoint.write(dir_);
    expect_load_error(dir_, "different dtypes");
}

TEST_F(LoaderTest, NotAModelFile) {
    std::ofstream(dir_ / "weights.bin") << "hello";
    expect_load_error(dir_ / "weights.bin", "not a model");
}

TEST_F(LoaderTest, ShardedIndexMissingShard) {
    TinyCheckpoint("F32").write(dir_);
    fs::rename(dir_ / "model.safetensors", dir_ / "model-00001-of-00002.safetensors");
    json index = {{"metadata", json::object()},
                  {"weight_map",
                   {{"model.norm.weight", "model-00001-of-00002.safetensors"},
                    {"lm_head.weight", "model-00002-of-00002.safetensors"}}}};
    std::ofstream(dir_ / "model.safetensors.index.json") << index.dump();
    expect_load_error(dir_, "model-00002-of-00002.safetensors");
}

}  // namespace
