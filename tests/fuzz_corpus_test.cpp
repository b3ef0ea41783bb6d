// The fuzz targets (tests/fuzz/targets.h) in the normal test suite:
//  - the seed corpus under tests/fuzz/corpus/<target>/ is what the tests below generate, and every
//    seed is accepted by its target (so the fuzzers start from files that reach deep), except
//    seeds named partial-*, valid inputs that a later stage of the target rejects;
//  - every input a fuzzer once failed on, tests/fuzz/regressions/<target>/<name>, is handled:
//    accepted, or rejected with a llama::Error whose message contains <name>.expect when present.
// LLAMA_UPDATE_FUZZ_CORPUS=1 writes the generated seeds into the source tree.

#include <gtest/gtest.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>

#include "model/gguf.h"
#include "model/gguf_vocab.h"
#include "tests/fuzz/targets.h"
#include "tests/spm_test_model.h"
#include "tests/tiny_gguf.h"

namespace llama {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;
using Seeds = std::map<std::string, Bytes>;  // file name -> contents

const fs::path kFuzzDir = fs::path(LLAMA_SOURCE_DIR) / "tests" / "fuzz";

Bytes read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Bytes text_bytes(std::string_view text) { return {text.begin(), text.end()}; }

Bytes gguf_bytes(const GgufWriter& writer, const test::TempDir& dir) {
    const auto path = dir.path() / "seed.gguf";
    writer.write(path);
    return read_file(path);
}

Bytes tiny_gguf(const test::TinyGgufSpec& spec, const test::TempDir& dir) {
    test::TensorValues values;
    return gguf_bytes(test::tiny_gguf_writer(spec, values), dir);
}

Seeds gguf_reader_seeds() {
    test::TempDir dir("fuzz-seeds");
    Seeds seeds;
    test::TinyGgufSpec small;
    small.hidden = 8;
    small.layers = 1;
    small.heads = 2;
    small.kv_heads = 1;
    small.ffn = 8;
    small.vocab = 8;
    small.context = 16;
    seeds["tiny-f32.gguf"] = tiny_gguf(small, dir);
    test::TinyGgufSpec tied = small;
    tied.matrix_type = GgmlType::BF16;
    tied.tied_output = true;
    tied.swap_q_and_k = true;  // q/k/v not adjacent: copied into one buffer
    seeds["tiny-bf16-tied.gguf"] = tiny_gguf(tied, dir);
    test::TinyGgufSpec quant = small;
    quant.hidden = 32;
    quant.ffn = 32;
    quant.matrix_type = GgmlType::Q8_0;
    quant.types = {{"blk.0.attn_k.weight", GgmlType::F16},  // mixed: requantized to Q8_0
                   {"blk.0.ffn_up.weight", GgmlType::Q4_0}};
    seeds["tiny-q8_0-mixed.gguf"] = tiny_gguf(quant, dir);

    // Every metadata value type, nested arrays and a non-default alignment; no model.
    GgufWriter writer(64);
    writer.set("general.alignment", uint32_t{64});
    writer.set("u8", uint8_t{1});
    writer.set("i8", int8_t{-1});
    writer.set("u16", uint16_t{2});
    writer.set("i16", int16_t{-2});
    writer.set("u32", uint32_t{3});
    writer.set("i32", int32_t{-3});
    writer.set("f32", 0.5f);
    writer.set("bool", true);
    writer.set("string", "text");
    writer.set("u64", uint64_t{4});
    writer.set("i64", int64_t{-4});
    writer.set("f64", 0.25);
    writer.set("strings", gguf_string_array({"a", "bc", ""}));
    const float floats[] = {1.0f, 2.0f};
    writer.set("floats", gguf_float_array(floats));
    GgufArray nested{GgufType::Array, {gguf_string_array({"x"}), gguf_float_array(floats)}};
    writer.set("nested", nested);
    const std::vector<std::byte> data(64 * 2, std::byte{1});
    writer.add_tensor("t.f32", {4, 2}, GgmlType::F32, std::span(data).first(32));
    writer.add_tensor("t.q8_0", {32}, GgmlType::Q8_0, std::span(data).first(34));
    seeds["partial-all-value-types.gguf"] = gguf_bytes(writer, dir);
    return seeds;
}

std::string train(const test::TempDir& dir, int vocab_size, bool byte_fallback) {
    const auto corpus = dir.path() / "corpus.txt";
    std::ofstream(corpus) << test::make_corpus(300) << "café naïve über 日本語\n";
    std::string serialized;
    const auto status = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + corpus.string() + " --vocab_size=" + std::to_string(vocab_size) +
            " --model_type=bpe --character_coverage=1.0 --normalization_rule_name=identity"
            " --remove_extra_whitespaces=false --split_digits=true --num_threads=1"
            " --minloglevel=2" +
            (byte_fallback ? " --byte_fallback=true" : ""),
        nullptr, &serialized);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return serialized;
}

Seeds gguf_tokenizer_seeds() {
    test::TempDir dir("fuzz-seeds");
    Seeds seeds;
    const std::string small = train(dir, 80, false);
    const std::string bytes = train(dir, 420, true);
    GgufWriter plain;
    plain.set("general.architecture", "llama");
    add_gguf_tokenizer_metadata(plain, small, 80);
    seeds["bpe-80.gguf"] = gguf_bytes(plain, dir);
    GgufWriter padded;
    add_gguf_tokenizer_metadata(padded, small, 90);  // ten [PAD] pieces of type unused
    padded.remove("tokenizer.ggml.add_space_prefix");
    seeds["bpe-80-padded.gguf"] = gguf_bytes(padded, dir);
    GgufWriter byte_fallback;
    add_gguf_tokenizer_metadata(byte_fallback, bytes, 420);
    seeds["bpe-420-byte-fallback.gguf"] = gguf_bytes(byte_fallback, dir);
    GgufWriter untyped;  // types inferred from the special ids and <0xNN> pieces
    add_gguf_tokenizer_metadata(untyped, bytes, 420);
    untyped.remove("tokenizer.ggml.token_type");
    untyped.remove("tokenizer.ggml.scores");
    seeds["bpe-420-untyped.gguf"] = gguf_bytes(untyped, dir);
    return seeds;
}

Bytes safetensors(const std::string& header, size_t data_bytes) {
    Bytes out(8);
    const uint64_t size = header.size();
    std::memcpy(out.data(), &size, 8);
    out.insert(out.end(), header.begin(), header.end());
    for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<uint8_t>(i * 7));
    return out;
}

Seeds safetensors_header_seeds() {
    return {
        {"mixed.safetensors",
         safetensors(R"({"__metadata__":{"format":"pt"},)"
                     R"("a.f32":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                     R"("b.f16":{"dtype":"F16","shape":[4],"data_offsets":[24,32]},)"
                     R"("c.bf16":{"dtype":"BF16","shape":[2,2],"data_offsets":[32,40]},)"
                     R"("d.empty":{"dtype":"F32","shape":[0,4],"data_offsets":[40,40]}})",
                     40)},
        {"scalar.safetensors",
         safetensors(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})", 4)},
    };
}

Seeds safetensors_index_seeds() {
    return {
        {"sharded.index.json",
         read_file(fs::path(LLAMA_SOURCE_DIR) /
                   "tests/data/tiny-gqa-bf16-sharded/model.safetensors.index.json")},
        {"small.index.json",
         text_bytes(R"({"metadata":{"total_size":64},"weight_map":{"a":"model-1.safetensors",)"
                    R"("b":"model-2.safetensors","c":"model-1.safetensors"}})")},
    };
}

Seeds config_json_seeds() {
    Seeds seeds;
    for (const char* dir : {"model/kjv-tiny", "tests/data/tiny-gqa-f32", "tests/data/tiny-mha-f16",
                            "tests/data/tiny-gqa-bf16-sharded"}) {
        std::string name = fs::path(dir).filename().string() + ".json";
        seeds[name] = read_file(fs::path(LLAMA_SOURCE_DIR) / dir / "config.json");
    }
    seeds["minimal.json"] =
        text_bytes(R"({"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,)"
                   R"("intermediate_size":16,"vocab_size":32,"head_dim":4,"rope_scaling":null})");
    return seeds;
}

Bytes with_mode(uint8_t mode, std::string_view payload) {
    Bytes out(payload.size() + 1);
    out[0] = mode;
    std::copy(payload.begin(), payload.end(), out.begin() + 1);
    return out;
}

Seeds tokenizer_text_seeds() {
    Bytes ids{1};
    for (int16_t id : {1, 5, 300, 3, 0, 2, 17, 1999}) {
        ids.push_back(static_cast<uint8_t>(id & 0xff));
        ids.push_back(static_cast<uint8_t>(id >> 8));
    }
    return {
        {"text.bin", with_mode(0, test::make_corpus(4))},
        {"text-bos.bin", with_mode(2, "  In the beginning God created\tthe heaven.\n\n")},
        {"unicode.bin", with_mode(0, "naïve café 日本語 🙂 Ωmega ¿qué? \xE2\x96\x81 x")},
        {"bad-utf8.bin", with_mode(0, "a\xFF\xFE\xC3 b\xE2\x82 \xF0\x9F\x99")},
        {"ids.bin", ids},
    };
}

Seeds chat_prompt_seeds() {
    using namespace std::string_literals;
    return {
        {"system-dialog.bin",
         with_mode(3, "You are a helpful assistant.\0Who was Moses?\0A prophet.\0And Aaron?"s)},
        {"dialog.bin", with_mode(0, "Hello\0Hi! How can I help?\0Tell me a story.\0Once..."s)},
        {"single.bin", with_mode(0, "  [INST] what is <s> and </s>? [/INST] "s)},
        {"system-only-turn.bin", with_mode(1, "<<SYS>>\nbe brief\n<</SYS>>\0\n\t hi \n"s)},
    };
}

#ifdef LLAMA_FUZZ_SERVER
// Mode byte 0: POST /v1/completions; 1: /v1/chat/completions; 2: /tokenize; 3: /detokenize.
Seeds server_request_seeds() {
    return {
        {"completion.bin", with_mode(0, R"({"prompt": "In the beginning", "max_tokens": 16})")},
        {"completion-all-fields.bin",
         with_mode(0, R"({"model": "x", "prompt": ["And God said"], "max_tokens": 8,)"
                      R"( "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05,)"
                      R"( "seed": -3, "stop": ["\n", "Amen"], "presence_penalty": 0.5,)"
                      R"( "frequency_penalty": -0.5, "repeat_penalty": 1.1, "stream": true,)"
                      R"( "stream_options": {"include_usage": true}, "ignore_eos": false,)"
                      R"( "logprobs": null, "user": "someone"})")},
        {"chat.bin",
         with_mode(1, R"({"messages": [{"role": "user", "content": "Who was Moses?"}]})")},
        {"chat-dialog.bin",
         with_mode(1, R"({"messages": [{"role": "system", "content": "Be brief."},)"
                      R"( {"role": "user", "content": [{"type": "text", "text": "Hello"}]},)"
                      R"( {"role": "assistant", "content": "Hi!"},)"
                      R"( {"role": "user", "content": "Who was Aaron?"}],)"
                      R"( "max_completion_tokens": 32, "temperature": 0, "stop": "\n"})")},
        {"tokenize.bin", with_mode(2, R"({"content": "Let there be light", "add_special": true})")},
        {"detokenize.bin", with_mode(3, R"({"tokens": [1, 5, 300, 17]})")},
    };
}
#endif

const std::map<std::string, Seeds (*)()>& seed_generators() {
    static const std::map<std::string, Seeds (*)()> generators = {
        {"gguf_reader", gguf_reader_seeds},
        {"gguf_tokenizer", gguf_tokenizer_seeds},
        {"safetensors_header", safetensors_header_seeds},
        {"safetensors_index", safetensors_index_seeds},
        {"config_json", config_json_seeds},
        {"tokenizer_text", tokenizer_text_seeds},
        {"chat_prompt", chat_prompt_seeds},
#ifdef LLAMA_FUZZ_SERVER
        {"server_request", server_request_seeds},
#endif
    };
    return generators;
}

bool must_be_accepted(const std::string& name) { return !name.starts_with("partial-"); }

TEST(FuzzCorpus, EveryTargetHasASeedGenerator) {
    for (const fuzz::Target& target : fuzz::all_targets()) {
        EXPECT_TRUE(seed_generators().contains(std::string(target.name))) << target.name;
    }
}

TEST(FuzzCorpus, GeneratedSeedsAreAcceptedAndCheckedIn) {
    const bool update = std::getenv("LLAMA_UPDATE_FUZZ_CORPUS") != nullptr;
    for (const auto& [name, generate] : seed_generators()) {
        const fuzz::Target* target = fuzz::find_target(name);
        ASSERT_NE(target, nullptr) << name;
        const fs::path dir = kFuzzDir / "corpus" / name;
        for (const auto& [file, bytes] : generate()) {
            SCOPED_TRACE(name + "/" + file);
            const std::string error = fuzz::run_target(*target, bytes);
            if (must_be_accepted(file)) {
                EXPECT_EQ(error, "");
            }
            if (update) {
                fs::create_directories(dir);
                std::ofstream(dir / file, std::ios::binary)
                    .write(reinterpret_cast<const char*>(bytes.data()),
                           static_cast<std::streamsize>(bytes.size()));
            }
            EXPECT_TRUE(fs::exists(dir / file))
                << "seed not checked in; run with LLAMA_UPDATE_FUZZ_CORPUS=1";
        }
    }
}

TEST(FuzzCorpus, CheckedInSeedsAreAccepted) {
    for (const fuzz::Target& target : fuzz::all_targets()) {
        const fs::path dir = kFuzzDir / "corpus" / target.name;
        ASSERT_TRUE(fs::is_directory(dir)) << dir;
        for (const auto& entry : fs::directory_iterator(dir)) {
            const std::string file = entry.path().filename().string();
            SCOPED_TRACE(std::string(target.name) + "/" + file);
            const std::string error = fuzz::run_target(target, read_file(entry.path()));
            if (must_be_accepted(file)) {
                EXPECT_EQ(error, "");
            }
        }
    }
}

TEST(FuzzCorpus, RegressionInputsAreRejectedWithTheirMessage) {
    int count = 0;
    for (const fuzz::Target& target : fuzz::all_targets()) {
        const fs::path dir = kFuzzDir / "regressions" / target.name;
        if (!fs::is_directory(dir)) continue;
        for (const auto& entry : fs::directory_iterator(dir)) {
            if (entry.path().extension() == ".expect") continue;
            SCOPED_TRACE(entry.path().string());
            const std::string error = fuzz::run_target(target, read_file(entry.path()));
            fs::path expect = entry.path();
            expect += ".expect";
            if (fs::exists(expect)) {
                std::ifstream in(expect);
                std::string wanted;
                std::getline(in, wanted);
                EXPECT_NE(error.find(wanted), std::string::npos)
                    << "error \"" << error << "\" should contain \"" << wanted << "\"";
            }
            ++count;
        }
    }
    // Regressions are added as fuzzing finds them; none is fine, but list how many ran.
    RecordProperty("regression_inputs", count);
}

}  // namespace
}  // namespace llama
