// GGUF reader/writer: round trips of every metadata type, tensor data and alignment, and a clear
// llama::Error for each kind of broken file (built byte by byte at test time); the model loader
// on tiny GGUF models written at test time, including every bad-model case.

#include "model/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/quant_interleave.h"
#include "llama/error.h"
#include "llama/model.h"
#include "model/gguf_loader.h"
#include "tests/gguf_test_util.h"
#include "tests/tiny_gguf.h"

namespace llama {
namespace {

using test::ByteWriter;
using test::expect_error;
using test::TempDir;
using test::TensorValues;
using test::TinyGgufSpec;
using test::write_tiny_gguf;

TEST(GgufWriterReader, RoundTripsEveryMetadataType) {
    TempDir dir;
    GgufWriter writer;
    writer.set("u8", uint8_t{200});
    writer.set("i8", int8_t{-100});
    writer.set("u16", uint16_t{60000});
    writer.set("i16", int16_t{-30000});
    writer.set("u32", uint32_t{4000000000u});
    writer.set("i32", int32_t{-2000000000});
    writer.set("f32", 3.25f);
    writer.set("bool_true", true);
    writer.set("bool_false", false);
    writer.set("string", std::string("h\xC3\xA9llo \0 world", 14));
    writer.set("empty_string", "");
    writer.set("u64", uint64_t{18000000000000000000ull});
    writer.set("i64", int64_t{-9000000000000000000ll});
    writer.set("f64", 2.718281828459045);
    writer.set("strings", gguf_string_array({"a", "", "▁the", "<0x0A>"}));
    const std::vector<float> floats = {1.5f, -0.0f, 1e-30f};
    writer.set("floats", gguf_float_array(floats));
    const std::vector<int32_t> ints = {1, -2, 3};
    writer.set("ints", gguf_int32_array(ints));
    writer.set("empty_array", GgufArray{GgufType::UInt64, {}});
    GgufArray nested{GgufType::Array, {}};
    nested.values.push_back(GgufArray{GgufType::UInt8, {uint8_t{1}, uint8_t{2}}});
    nested.values.push_back(GgufArray{GgufType::UInt8, {}});
    writer.set("nested", nested);
    GgufArray bools{GgufType::Bool, {true, false, true}};
    writer.set("bools", bools);
    writer.set("u32", uint32_t{7});  // replacing keeps the first position
    writer.write(dir / "meta.gguf");

    const GgufFile file = GgufFile::open(dir / "meta.gguf");
    EXPECT_EQ(file.version(), 3u);
    EXPECT_TRUE(file.tensors().empty());
    ASSERT_EQ(file.metadata().size(), 20u);
    EXPECT_EQ(file.metadata()[4].key, "u32");
    EXPECT_EQ(file.get("u8"), GgufValue(uint8_t{200}));
    EXPECT_EQ(file.get("i8"), GgufValue(int8_t{-100}));
    EXPECT_EQ(file.get("u16"), GgufValue(uint16_t{60000}));
    EXPECT_EQ(file.get("i16"), GgufValue(int16_t{-30000}));
    EXPECT_EQ(file.get("u32"), GgufValue(uint32_t{7}));
    EXPECT_EQ(file.get("i32"), GgufValue(int32_t{-2000000000}));
    EXPECT_EQ(file.get("f32"), GgufValue(3.25f));
    EXPECT_EQ(file.get("bool_true"), GgufValue(true));
    EXPECT_EQ(file.get("bool_false"), GgufValue(false));
    EXPECT_EQ(file.get_string("string"), std::string("h\xC3\xA9llo \0 world", 14));
    EXPECT_EQ(file.get_string("empty_string"), "");
    EXPECT_EQ(file.get("u64"), GgufValue(uint64_t{18000000000000000000ull}));
    EXPECT_EQ(file.get("i64"), GgufValue(int64_t{-9000000000000000000ll}));
    EXPECT_EQ(file.get("f64"), GgufValue(2.718281828459045));
    EXPECT_EQ(file.get("strings"), gguf_string_array({"a", "", "▁the", "<0x0A>"}));
    EXPECT_EQ(file.get("floats"), gguf_float_array(floats));
    EXPECT_EQ(file.get("ints"), gguf_int32_array(ints));
    EXPECT_EQ(file.get("empty_array"), GgufValue(GgufArray{GgufType::UInt64, {}}));
    EXPECT_EQ(file.get("nested"), GgufValue(nested));
    EXPECT_EQ(file.get("bools"), GgufValue(bools));

    // Every value written equals the value read, in order.
    for (const GgufKeyValue& entry : file.metadata()) {
        const GgufValue* written = writer.find(entry.key);
        ASSERT_NE(written, nullptr) << entry.key;
        EXPECT_EQ(*written, entry.value) << entry.key;
    }

    // Checked conversions.
    EXPECT_EQ(file.get_int("u16"), 60000);
    EXPECT_EQ(file.get_int("i8"), -100);
    EXPECT_DOUBLE_EQ(file.get_double("f32"), 3.25);
    EXPECT_DOUBLE_EQ(file.get_double("i32"), -2000000000.0);
    EXPECT_EQ(file.get_int_or("absent", 42), 42);
    EXPECT_TRUE(file.get_bool_or("bool_true", false));
    expect_error([&] { file.get_int("u64"); }, "too large");
    expect_error([&] { file.get_int("string"); }, "'string' has type string, expected an integer");
    expect_error([&] { file.get_string("absent"); }, "'absent' is missing");
    expect_error([&] { file.get_array("u8"); }, "expected array");
}

TEST(GgufWriterReader, RoundTripsTensorsWithAlignment) {
    for (uint32_t alignment : {32u, 64u, 4096u}) {
        TempDir dir;
        GgufWriter writer(alignment);
        writer.set("general.architecture", "test");
        std::mt19937 rng(alignment);
        std::vector<std::vector<std::byte>> data;
        struct Spec {
            std::string name;
            std::vector<int64_t> ne;
            GgmlType type;
        };
        const std::vector<Spec> specs = {
            {"f32", {3, 5}, GgmlType::F32},      {"f16", {7}, GgmlType::F16},
            {"bf16", {2, 2, 2}, GgmlType::BF16}, {"q8_0", {64, 3}, GgmlType::Q8_0},
            {"q4_0", {32, 1}, GgmlType::Q4_0},   {"q4_k", {256, 2}, GgmlType::Q4_K},
            {"q5_k", {512}, GgmlType::Q5_K},     {"q6_k", {256, 1, 1, 3}, GgmlType::Q6_K},
        };
        for (const Spec& spec : specs) {
            std::vector<std::byte> bytes(ggml_tensor_bytes(spec.type, spec.ne, spec.name));
            for (auto& b : bytes) b = static_cast<std::byte>(rng());
            writer.add_tensor(spec.name, spec.ne, spec.type, bytes);
            data.push_back(std::move(bytes));
        }
        writer.write(dir / "t.gguf");

        const GgufFile file = GgufFile::open(dir / "t.gguf");
        EXPECT_EQ(file.alignment(), alignment);
        EXPECT_EQ(file.data_offset() % alignment, 0u);
        ASSERT_EQ(file.tensors().size(), specs.size());
        for (size_t i = 0; i < specs.size(); ++i) {
            const GgufTensorInfo* tensor = file.find_tensor(specs[i].name);
            ASSERT_NE(tensor, nullptr);
            EXPECT_EQ(tensor->ne, specs[i].ne);
            EXPECT_EQ(tensor->type, specs[i].type);
            EXPECT_EQ(tensor->offset % alignment, 0u);
            ASSERT_EQ(tensor->n_bytes, data[i].size());
            EXPECT_EQ(std::memcmp(tensor->data, data[i].data(), data[i].size()), 0)
                << specs[i].name;
        }
        EXPECT_EQ(file.find_tensor("bf16")->shape(), (std::vector<int64_t>{2, 2, 2}));
        EXPECT_EQ(file.find_tensor("q6_k")->n_elements(), 768);
    }
}

TEST(GgufWriter, RejectsInconsistentInput) {
    GgufWriter writer;
    expect_error(
        [&] { writer.add_tensor("x", {33}, GgmlType::Q8_0, std::span<const std::byte>{}); },
        "not a multiple");
    std::vector<std::byte> bytes(8);
    expect_error([&] { writer.add_tensor("x", {3}, GgmlType::F32, bytes); }, "need 12");
    writer.add_tensor("x", {2}, GgmlType::F32, bytes);
    expect_error([&] { writer.add_tensor("x", {2}, GgmlType::F32, bytes); }, "added twice");
    expect_error([&] { writer.set("bad", GgufArray{GgufType::Int32, {1.0f}}); }, "holds a float32");
    expect_error([] { GgufWriter bad(48); }, "not a power of two");
}

// ---- hand-built files: the reader accepts v2 and rejects every kind of damage ---------------

// A minimal valid file: one metadata key, one F32 tensor of 4 elements at offset 0.
ByteWriter valid_file(uint32_t version = 3) {
    ByteWriter out;
    out.magic().u32(version).u64(1).u64(1);
    out.str("general.name").u32(8).str("tiny");
    out.str("w").u32(1).u64(4).u32(0).u64(0);
    out.pad(32);
    for (float v : {1.0f, 2.0f, 3.0f, 4.0f}) out.f32(v);
    return out;
}

TEST(GgufReader, ReadsVersion2AndVersion3) {
    TempDir dir;
    for (uint32_t version : {2u, 3u}) {
        const auto path = valid_file(version).save(dir / "v.gguf");
        const GgufFile file = GgufFile::open(path);
        EXPECT_EQ(file.version(), version);
        EXPECT_EQ(file.get_string("general.name"), "tiny");
        const GgufTensorInfo* w = file.find_tensor("w");
        ASSERT_NE(w, nullptr);
        float values[4];
        std::memcpy(values, w->data, 16);
        EXPECT_EQ(values[3], 4.0f);
    }
}

TEST(GgufReader, RejectsBrokenFiles) {
    TempDir dir;
    auto open = [&](const ByteWriter& bytes) { GgufFile::open(bytes.save(dir / "bad.gguf")); };

    ByteWriter wrong_magic;
    wrong_magic.raw("GGML").u32(3).u64(0).u64(0);
    expect_error([&] { open(wrong_magic); }, "not a GGUF file (magic 'GGML'");

    expect_error([&] { open(valid_file(1)); }, "unsupported GGUF version 1");
    expect_error([&] { open(valid_file(4)); }, "unsupported GGUF version 4");
    ByteWriter big_endian;
    big_endian.magic().u32(0x03000000).u64(0).u64(0);
    expect_error([&] { open(big_endian); }, "big-endian");

    ByteWriter empty;
    expect_error([&] { open(empty); }, "too short");

    // Every proper prefix of the header is a truncated header.
    const ByteWriter full = valid_file();
    const size_t header_end = full.bytes.size() - 16 - 4;  // before padding and data
    for (size_t cut = 4; cut < header_end; cut += 3) {
        ByteWriter truncated;
        truncated.bytes.assign(full.bytes.begin(), full.bytes.begin() + cut);
        expect_error([&] { open(truncated); }, "truncated");
    }

    ByteWriter long_string;
    long_string.magic().u32(3).u64(0).u64(1).u64(1000).raw("abcdefghijklmnopqrstuvwxyz");
    expect_error([&] { open(long_string); }, "truncated GGUF header: metadata key");

    ByteWriter huge_array;
    huge_array.magic().u32(3).u64(0).u64(1).str("a").u32(9).u32(4).u64(uint64_t{1} << 60);
    expect_error([&] { open(huge_array); }, "array 'a' claims");

    ByteWriter bad_value_type;
    bad_value_type.magic().u32(3).u64(0).u64(1).str("k").u32(13).u32(0);
    expect_error([&] { open(bad_value_type); }, "'k' has unknown value type 13");

    ByteWriter unknown_tensor_type;
    unknown_tensor_type.magic()
        .u32(3)
        .u64(1)
        .u64(0)
        .str("blk.0.attn_q.weight")
        .u32(1)
        .u64(32)
        .u32(99)
        .u64(0);
    unknown_tensor_type.pad(32).zeros(128);
    expect_error([&] { open(unknown_tensor_type); },
                 "tensor 'blk.0.attn_q.weight' has unknown GGML type id 99");

    ByteWriter misaligned;
    misaligned.magic().u32(3).u64(1).u64(0).str("w").u32(1).u64(4).u32(0).u64(8);
    misaligned.pad(32).zeros(64);
    expect_error([&] { open(misaligned); },
                 "'w' data offset 8 is not a multiple of the alignment 32");

    ByteWriter past_end = valid_file();
    past_end.bytes.resize(past_end.bytes.size() - 1);
    expect_error([&] { open(past_end); }, "'w' data (16 bytes at data offset 0) runs past the end");

    ByteWriter far_offset;
    far_offset.magic().u32(3).u64(1).u64(0).str("w").u32(1).u64(4).u32(0).u64(uint64_t{1} << 62);
    far_offset.pad(32).zeros(16);
    expect_error([&] { open(far_offset); }, "runs past the end");

    ByteWriter bad_alignment;
    bad_alignment.magic().u32(3).u64(0).u64(1).str("general.alignment").u32(4).u32(24);
    expect_error([&] { open(bad_alignment); }, "general.alignment 24 is not a power of two");

    ByteWriter too_many_dims;
    too_many_dims.magic().u32(3).u64(1).u64(0).str("w").u32(5);
    for (int i = 0; i < 5; ++i) too_many_dims.u64(1);
    too_many_dims.u32(0).u64(0).pad(32).zeros(4);
    expect_error([&] { open(too_many_dims); }, "'w' has 5 dimensions");

    ByteWriter partial_block;
    partial_block.magic().u32(3).u64(1).u64(0).str("w").u32(1).u64(40).u32(8).u64(0);
    partial_block.pad(32).zeros(64);
    expect_error([&] { open(partial_block); }, "not a multiple of its 32-element blocks");

    ByteWriter duplicate;
    duplicate.magic().u32(3).u64(0).u64(2).str("k").u32(4).u32(1).str("k").u32(4).u32(2);
    expect_error([&] { open(duplicate); }, "duplicate metadata key 'k'");

    ByteWriter bad_bool;
    bad_bool.magic().u32(3).u64(0).u64(1).str("flag").u32(7).u8(2);
    expect_error([&] { open(bad_bool); }, "bool value 2");

    expect_error([&] { GgufFile::open(dir / "does-not-exist.gguf"); }, "does-not-exist.gguf");
}

TEST(GgufReader, ErrorsNameTheFile) {
    TempDir dir;
    ByteWriter wrong_magic;
    wrong_magic.raw("XXXX").u32(3);
    const auto path = wrong_magic.save(dir / "named.gguf");
    expect_error([&] { GgufFile::open(path); }, path.string());
}

// ---- Model loading -----------------------------------------------------------------------------

std::vector<float> to_floats(const Matrix& m) {
    std::vector<float> out(static_cast<size_t>(m.rows * m.cols));
    if (m.dtype == DType::F32 || m.dtype == DType::F16 || m.dtype == DType::BF16) {
        kernels::dequantize_rows(m.dtype, m.data, m.rows, m.cols, out);
    } else {
        kernels::dequantize_rows_quant(m.dtype, m.data, m.rows, m.cols, out.data());
    }
    return out;
}

// The q/k/v weights as one [q + 2 kv, hidden] matrix of floats, whether fused or three parts.
std::vector<float> qkv_floats(const LlamaAttention& attention) {
    std::vector<float> out;
    for (const Matrix& part : attention.qkv_parts()) {
        const std::vector<float> values = to_floats(part);
        out.insert(out.end(), values.begin(), values.end());
    }
    return out;
}

std::vector<float> concat(const TensorValues& values, const std::vector<std::string>& names) {
    std::vector<float> out;
    for (const auto& name : names) {
        const auto& v = values.at(name);
        out.insert(out.end(), v.begin(), v.end());
    }
    return out;
}

void expect_model_matches(const LlamaModel& model, const TensorValues& values, float tolerance) {
    auto expect_close = [&](const std::vector<float>& got, const std::vector<float>& want,
                            const std::string& what) {
        ASSERT_EQ(got.size(), want.size()) << what;
        for (size_t i = 0; i < got.size(); ++i) {
            ASSERT_NEAR(got[i], want[i], tolerance * (1.0f + std::fabs(want[i])))
                << what << " " << i;
        }
    };
    expect_close(to_floats(model.token_embedding), values.at("token_embd.weight"), "token_embd");
    expect_close(model.final_norm, values.at("output_norm.weight"), "output_norm");
    const std::string lm_head =
        values.contains("output.weight") ? "output.weight" : "token_embd.weight";
    expect_close(to_floats(model.lm_head), values.at(lm_head), "lm_head");
    for (size_t i = 0; i < model.layers.size(); ++i) {
        const std::string p = "blk." + std::to_string(i) + ".";
        const DecoderLayer& layer = model.layers[i];
        expect_close(layer.attn_norm, values.at(p + "attn_norm.weight"), p + "attn_norm");
        expect_close(layer.ffn_norm, values.at(p + "ffn_norm.weight"), p + "ffn_norm");
        expect_close(
            qkv_floats(layer.attention),
            concat(values, {p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"}),
            p + "qkv");
        expect_close(to_floats(layer.attention.o_weight()), values.at(p + "attn_output.weight"),
                     p + "attn_output");
        expect_close(to_floats(layer.mlp.gate_up_weight()),
                     concat(values, {p + "ffn_gate.weight", p + "ffn_up.weight"}), p + "gate_up");
        expect_close(to_floats(layer.mlp.down_weight()), values.at(p + "ffn_down.weight"),
                     p + "ffn_down");
    }
}

TEST(GgufLoader, LoadsConfigAndMapsWeightsInPlace) {
    for (GgmlType type :
         {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0}) {
        SCOPED_TRACE(ggml_type_name(type));
        TempDir dir;
        TinyGgufSpec spec;
        spec.matrix_type = type;
        const TensorValues values = write_tiny_gguf(dir / "m.gguf", spec);
        const LlamaModel model = load_gguf_model(dir / "m.gguf", nullptr, /*interleave=*/false);
        const LlamaConfig& c = model.config;
        EXPECT_EQ(c.hidden_size, 64);
        EXPECT_EQ(c.n_layers, 2);
        EXPECT_EQ(c.n_heads, 4);
        EXPECT_EQ(c.n_kv_heads, 2);
        EXPECT_EQ(c.head_dim, 16);
        EXPECT_EQ(c.ffn_size, 96);
        EXPECT_EQ(c.vocab_size, 40);
        EXPECT_EQ(c.max_context, 128);
        EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
        EXPECT_FLOAT_EQ(c.rms_norm_eps, 1e-6f);
        EXPECT_EQ(c.rope_layout, RopeLayout::Interleaved);
        EXPECT_EQ(model.layers[0].attention.qkv_weight().dtype, *dtype_from_ggml(type));
        expect_model_matches(model, values, 0.0f);

        // q/k/v and gate/up were written back to back: the fused matrices are views of the file,
        // and the model owns no weight buffers besides the mapping.
        const GgufFile file = GgufFile::open(dir / "m.gguf");
        const auto mapped = file.file()->bytes();
        auto in_model_file = [&](const Matrix& m) {
            // Same file, so the same offset inside the model's own mapping.
            const auto* model_file = static_cast<const MappedFile*>(model.storage[0].get());
            const std::optional<size_t> offset = model_file->offset_of(m.data);
            return offset && *offset + m.bytes().size() <= mapped.size() &&
                   std::memcmp(m.data, mapped.data() + *offset, m.bytes().size()) == 0;
        };
        EXPECT_EQ(model.storage.size(), 1u);
        EXPECT_TRUE(in_model_file(model.layers[1].attention.qkv_weight()));
        EXPECT_TRUE(in_model_file(model.layers[1].mlp.gate_up_weight()));
        EXPECT_NE(model.description.find("GGUF v3"), std::string::npos) << model.description;
    }
}

TEST(MappedFile, OffsetOfTellsViewsOfTheFileFromOtherMemory) {
    const std::vector<std::byte> bytes(100, std::byte{7});
    const auto file = MappedFile::from_bytes("x.bin", bytes);
    const std::byte* data = file->bytes().data();
    EXPECT_EQ(file->offset_of(data), std::optional<size_t>(0));
    EXPECT_EQ(file->offset_of(data + 99), std::optional<size_t>(99));
    EXPECT_EQ(file->offset_of(data + 100), std::nullopt);    // one past the end
    EXPECT_EQ(file->offset_of(bytes.data()), std::nullopt);  // a copy of the bytes
}

// By default Q4_0 / Q4_K matrices are interleaved in 16-row groups, in buffers of the same size:
// the bytes are the file's, permuted; the embedding table keeps the file's layout; the values
// are unchanged.
TEST(GgufLoader, InterleavesQ4MatricesAtLoad) {
    for (bool swapped : {false, true}) {  // fused views of the file, and fused copies
        SCOPED_TRACE(swapped ? "copied q/k/v" : "q/k/v views");
        TempDir dir;
        TinyGgufSpec spec;
        spec.matrix_type = GgmlType::Q4_0;
        spec.swap_q_and_k = swapped;
        const TensorValues values = write_tiny_gguf(dir / "m.gguf", spec);
        const LlamaModel plain = load_gguf_model(dir / "m.gguf", nullptr, false);
        const LlamaModel model = load_model(dir / "m.gguf");
        EXPECT_EQ(model.token_embedding.dtype, plain.token_embedding.dtype);
        expect_model_matches(model, values, 0.0f);
        const auto check = [](const Matrix& interleaved, const Matrix& original) {
            EXPECT_EQ(interleaved.dtype, DType::Q4_0_R16);
            EXPECT_EQ(interleaved.bytes().size(), original.bytes().size());
            std::vector<std::byte> rows(original.bytes().size());
            kernels::deinterleave_slice(interleaved, 0, interleaved.rows, rows.data());
            EXPECT_EQ(std::memcmp(rows.data(), original.data, rows.size()), 0);
        };
        for (size_t i = 0; i < model.layers.size(); ++i) {
            check(model.layers[i].attention.qkv_weight(), plain.layers[i].attention.qkv_weight());
            check(model.layers[i].attention.o_weight(), plain.layers[i].attention.o_weight());
            check(model.layers[i].mlp.gate_up_weight(), plain.layers[i].mlp.gate_up_weight());
            check(model.layers[i].mlp.down_weight(), plain.layers[i].mlp.down_weight());
        }
        EXPECT_EQ(model.weight_bytes(), plain.weight_bytes());
    }
}

// Matrices without an interleaved layout (Q5_0, F16, BF16, F32, Q6_K on the portable path) are
// copied into the model's own buffers, byte for byte, when the loader repacks; Q5_K and Q6_K
// (where a SIMD kernel runs) are interleaved into them.
TEST(GgufLoader, CopiesOtherMatricesOutOfTheFile) {
    for (GgmlType type : {GgmlType::Q6_K, GgmlType::Q5_K, GgmlType::Q5_0, GgmlType::F16,
                          GgmlType::BF16, GgmlType::F32}) {
        SCOPED_TRACE(ggml_type_name(type));
        TempDir dir;
        TinyGgufSpec spec;
        spec.hidden = 256;  // whole 256-value super-blocks in every row
        spec.ffn = 512;
        spec.matrix_type = type;
        const TensorValues values = write_tiny_gguf(dir / "m.gguf", spec);
        const LlamaModel plain = load_gguf_model(dir / "m.gguf", nullptr, /*interleave=*/false);
        const LlamaModel model = load_model(dir / "m.gguf");
        expect_model_matches(model, values, 0.0f);
        const auto* file = static_cast<const MappedFile*>(model.storage[0].get());
        const auto* plain_file = static_cast<const MappedFile*>(plain.storage[0].get());
        const auto check = [&](const Matrix& loaded, const Matrix& original) {
            // Q5_K is interleaved, Q6_K where a SIMD kernel for it runs (kernels::load_layout),
            // the others copied as they are.
            const DType expected = original.rows % kernels::kInterleaveRows == 0
                                       ? kernels::load_layout(original.dtype)
                                       : original.dtype;
            EXPECT_EQ(loaded.dtype, expected);
            EXPECT_TRUE(plain_file->offset_of(original.data).has_value());
            EXPECT_FALSE(file->offset_of(loaded.data).has_value());
            ASSERT_EQ(loaded.bytes().size(), original.bytes().size());
            std::vector<std::byte> bytes(loaded.bytes().begin(), loaded.bytes().end());
            if (kernels::is_interleaved(loaded.dtype)) {
                kernels::deinterleave_matrix(loaded.dtype, bytes.data(), loaded.rows, loaded.cols);
            }
            EXPECT_EQ(std::memcmp(bytes.data(), original.data, bytes.size()), 0);
        };
        check(model.lm_head, plain.lm_head);
        for (size_t i = 0; i < model.layers.size(); ++i) {
            check(model.layers[i].attention.qkv_weight(), plain.layers[i].attention.qkv_weight());
            check(model.layers[i].attention.o_weight(), plain.layers[i].attention.o_weight());
            check(model.layers[i].mlp.gate_up_weight(), plain.layers[i].mlp.gate_up_weight());
            check(model.layers[i].mlp.down_weight(), plain.layers[i].mlp.down_weight());
        }
        // The embedding table, read a row at a time, stays in the file.
        EXPECT_TRUE(file->offset_of(model.token_embedding.data).has_value());
        EXPECT_EQ(model.weight_bytes(), plain.weight_bytes());
    }
}

TEST(GgufLoader, TiedOutputUsesTheEmbedding) {
    TempDir dir;
    TinyGgufSpec spec;
    spec.tied_output = true;
    const TensorValues values = write_tiny_gguf(dir / "m.gguf", spec);
    const LlamaModel model = load_gguf_model(dir / "m.gguf");
    EXPECT_EQ(model.lm_head.data, model.token_embedding.data);
    expect_model_matches(model, values, 0.0f);
}

TEST(GgufLoader, CopiesNonAdjacentParts) {
    TempDir dir;
    TinyGgufSpec spec;
    spec.matrix_type = GgmlType::Q4_0;
    spec.swap_q_and_k = true;
    const TensorValues values = write_tiny_gguf(dir / "m.gguf", spec);
    const LlamaModel model = load_gguf_model(dir / "m.gguf", nullptr, /*interleave=*/false);
    EXPECT_EQ(model.layers[0].attention.qkv_weight().dtype, DType::Q4_0);
    EXPECT_EQ(model.storage.size(), 3u);  // the file and one qkv buffer per layer
    expect_model_matches(model, values, 0.0f);
}

TEST(GgufLoader, ConvertsPartsOfDifferentTypes) {
    TempDir dir;
    TinyGgufSpec spec;
    spec.matrix_type = GgmlType::Q4_0;
    spec.types["blk.0.attn_v.weight"] = GgmlType::Q8_0;  // as Q4_K_M files mix Q4_K and Q6_K
    spec.types["blk.1.ffn_up.weight"] = GgmlType::F32;   // quantized + float
    spec.types["blk.1.attn_q.weight"] = GgmlType::F16;   // float parts only: widened to F32
    spec.types["blk.1.attn_k.weight"] = GgmlType::F32;
    spec.types["blk.1.attn_v.weight"] = GgmlType::BF16;
    const TensorValues values = write_tiny_gguf(dir / "m.gguf", spec);
    const LlamaModel model = load_gguf_model(dir / "m.gguf", nullptr, /*interleave=*/false);
    // q/k/v with a quantized part: three matrices in the file's own types, not requantized.
    const auto parts = model.layers[0].attention.qkv_parts();
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[0].dtype, DType::Q4_0);
    EXPECT_EQ(parts[1].dtype, DType::Q4_0);
    EXPECT_EQ(parts[2].dtype, DType::Q8_0);
    EXPECT_EQ(model.layers[1].mlp.gate_up_weight().dtype, DType::Q8_0);
    EXPECT_EQ(model.layers[1].attention.qkv_parts().size(), 1u);
    EXPECT_EQ(model.layers[1].attention.qkv_weight().dtype, DType::F32);
    EXPECT_EQ(model.layers[0].mlp.gate_up_weight().dtype, DType::Q4_0);
    // Requantizing to Q8_0 adds at most half a Q8_0 step (|w| <= ~2.5 here: step <= 0.02).
    expect_model_matches(model, values, 0.012f);
    EXPECT_EQ(
        to_floats(model.layers[1].attention.qkv_weight()),
        concat(values, {"blk.1.attn_q.weight", "blk.1.attn_k.weight", "blk.1.attn_v.weight"}));
}

TEST(GgufLoader, LoadsThroughLoadModel) {
    TempDir dir;
    const TensorValues values = write_tiny_gguf(dir / "m.gguf", TinyGgufSpec{});
    const LlamaModel model = load_model(dir / "m.gguf");
    EXPECT_EQ(model.config.rope_layout, RopeLayout::Interleaved);
    expect_model_matches(model, values, 0.0f);
}

TEST(GgufLoader, RejectsBadModels) {
    TempDir dir;
    auto load = [&](TinyGgufSpec spec) {
        write_tiny_gguf(dir / "bad.gguf", spec);
        load_gguf_model(dir / "bad.gguf");
    };
    auto edit = [](std::function<void(GgufWriter&)> f) {
        TinyGgufSpec spec;
        spec.edit = std::move(f);
        return spec;
    };
    expect_error(
        [&] { load(edit([](GgufWriter& w) { w.set("general.architecture", "falcon"); })); },
        "unsupported architecture 'falcon'");
    expect_error([&] { load(edit([](GgufWriter& w) { w.remove("general.architecture"); })); },
                 "general.architecture is missing");
    expect_error([&] { load(edit([](GgufWriter& w) { w.remove("llama.block_count"); })); },
                 "'llama.block_count' is missing");
    expect_error([&] { load(edit([](GgufWriter& w) { w.set("llama.embedding_length", "64"); })); },
                 "'llama.embedding_length' has type string, expected an integer");
    expect_error(
        [&] { load(edit([](GgufWriter& w) { w.set("llama.rope.dimension_count", 8u); })); },
        "llama.rope.dimension_count is 8 but head_dim is 16");
    expect_error(
        [&] { load(edit([](GgufWriter& w) { w.set("llama.attention.head_count_kv", 3u); })); },
        "n_heads (4) is not a multiple of n_kv_heads (3)");
    expect_error(
        [&] {
            load(edit([](GgufWriter& w) {
                w.set("tokenizer.ggml.tokens", gguf_string_array({"a", "b"}));
            }));
        },
        "tokenizer.ggml.tokens has 2 tokens but token_embd.weight has 40 rows");
    expect_error(
        [&] { load(edit([](GgufWriter& w) { w.set("llama.rope.scaling.type", "linear"); })); },
        "RoPE scaling 'linear' is not supported");

    TinyGgufSpec missing;
    missing.skip = {"blk.1.ffn_up.weight"};
    expect_error([&] { load(missing); }, "missing tensor 'blk.1.ffn_up.weight'");

    TinyGgufSpec missing_norm;
    missing_norm.skip = {"output_norm.weight"};
    expect_error([&] { load(missing_norm); }, "missing tensor 'output_norm.weight'");

    // A config that disagrees with the tensors: the file says ffn 64, the tensors have 96 rows.
    expect_error(
        [&] { load(edit([](GgufWriter& w) { w.set("llama.feed_forward_length", 64u); })); },
        "tensor 'blk.0.ffn_gate.weight' has shape [96, 64] but the model config needs [64, 64]");

    TinyGgufSpec unsupported;
    unsupported.types["blk.0.attn_output.weight"] = GgmlType::Q8_1;
    expect_error([&] { load(unsupported); },
                 "tensor 'blk.0.attn_output.weight' has type Q8_1, which this engine does not "
                 "support");

    // Broken at the file level: the reader's errors come through load_model too.
    ByteWriter wrong_magic;
    wrong_magic.raw("GGUF").u32(7).u64(0).u64(0);
    expect_error([&] { load_gguf_model(wrong_magic.save(dir / "v7.gguf")); },
                 "unsupported GGUF version 7");
}

}  // namespace
}  // namespace llama
