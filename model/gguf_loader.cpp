#include "model/gguf_loader.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "kernels/quant_interleave.h"
#include "llama/error.h"
#include "model/load_progress.h"
#include "model/weight_buffer.h"

namespace llama {

namespace {

std::string shape_text(const std::vector<int64_t>& dims) {
    std::string text;
    for (int64_t dim : dims) text += (text.empty() ? "" : ", ") + std::to_string(dim);
    return "[" + text + "]";
}

// body(begin, end) over [0, n) in contiguous ranges, one per hardware thread (the loader has no
// thread pool; the ranges are disjoint, so the result is the same on any number of threads).
template <class Body>
void for_ranges_in_parallel(int64_t n, const Body& body) {
    const int64_t threads = std::clamp<int64_t>(
        static_cast<int64_t>(std::thread::hardware_concurrency()), 1, std::max<int64_t>(n, 1));
    std::vector<std::thread> workers;
    for (int64_t t = 1; t < threads; ++t) {
        workers.emplace_back(
            [&body, n, t, threads] { body(n * t / threads, n * (t + 1) / threads); });
    }
    body(0, n / threads);
    for (std::thread& worker : workers) worker.join();
}

// Rows [0, rows) of any supported type, widened to fp32.
void to_f32(DType type, const std::byte* data, int64_t rows, int64_t cols, float* out) {
    if (is_plain_float(type)) {
        kernels::dequantize_rows(type, data, rows, cols,
                                 std::span<float>(out, static_cast<size_t>(rows * cols)));
    } else {
        kernels::dequantize_rows_quant(type, data, rows, cols, out);
    }
}

class GgufModelReader {
  public:
    explicit GgufModelReader(const GgufFile& file) : file_(file) {}

    [[noreturn]] void fail(const std::string& message) const {
        throw Error(file_.path().string() + ": " + message);
    }

    const GgufTensorInfo& tensor(const std::string& name) const {
        const GgufTensorInfo* info = file_.find_tensor(name);
        if (info == nullptr) fail("missing tensor '" + name + "'");
        return *info;
    }

    DType dtype(const GgufTensorInfo& info) const {
        const auto type = dtype_from_ggml(info.type);
        if (!type) {
            fail("tensor '" + info.name + "' has type " + ggml_type_name(info.type) +
                 ", which this engine does not support (supported: F32, F16, BF16, Q8_0, Q4_0, "
                 "Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)");
        }
        return *type;
    }

    // A [rows, cols] matrix view (GGUF ne = {cols, rows}).
    Matrix matrix(const std::string& name, int64_t rows, int64_t cols) const {
        const GgufTensorInfo& info = tensor(name);
        if (info.ne.size() != 2 || info.ne[0] != cols || info.ne[1] != rows) {
            fail("tensor '" + name + "' has shape " + shape_text(info.shape()) +
                 " but the model config needs [" + std::to_string(rows) + ", " +
                 std::to_string(cols) + "]");
        }
        return {dtype(info), rows, cols, info.data};
    }

    std::vector<float> vector(const std::string& name, int64_t size) const {
        const GgufTensorInfo& info = tensor(name);
        if (info.ne.size() != 1 || info.ne[0] != size) {
            fail("tensor '" + name + "' has shape " + shape_text(info.shape()) +
                 " but the model config needs [" + std::to_string(size) + "]");
        }
        std::vector<float> out(static_cast<size_t>(size));
        to_f32(dtype(info), info.data, 1, size, out.data());
        return out;
    }

    // Rows of several matrices as one [sum rows, cols] matrix (see gguf_loader.h for when it is
    // a view, a copy or a conversion).
    Matrix fuse(const std::vector<std::string>& names, const std::vector<int64_t>& rows,
                int64_t cols, std::vector<std::shared_ptr<const void>>& storage) const {
        std::vector<Matrix> parts;
        int64_t total_rows = 0;
        bool same_type = true;
        bool adjacent = true;
        bool all_float = true;
        for (size_t i = 0; i < names.size(); ++i) {
            parts.push_back(matrix(names[i], rows[i], cols));
            total_rows += rows[i];
            same_type = same_type && parts[i].dtype == parts[0].dtype;
            all_float = all_float && is_plain_float(parts[i].dtype);
            if (i > 0) {
                adjacent =
                    adjacent && parts[i - 1].data + parts[i - 1].bytes().size() == parts[i].data;
            }
        }
        if (same_type && adjacent) return {parts[0].dtype, total_rows, cols, parts[0].data};

        DType fused_type = parts[0].dtype;
        if (!same_type) {
            fused_type = all_float ? DType::F32 : DType::Q8_0;
            if (fused_type == DType::Q8_0 && cols % kernels::kQ8_0BlockSize != 0) {
                fail("tensors '" + names[0] + "'... have different types and " +
                     std::to_string(cols) + " columns, which cannot be requantized to Q8_0");
            }
            std::string types;
            for (size_t i = 0; i < parts.size(); ++i) {
                types += (i ? ", " : "") + names[i] + " " + std::string(dtype_name(parts[i].dtype));
            }
            spdlog::debug("fusing {} into one {} matrix", types, dtype_name(fused_type));
            mixed_fusions_++;
        }
        Matrix fused{fused_type, total_rows, cols, nullptr};
        auto buffer = allocate_weight_buffer(fused.bytes().size());
        std::byte* out = buffer.get();
        std::vector<float> row(static_cast<size_t>(cols));
        for (const Matrix& part : parts) {
            if (part.dtype == fused_type) {
                std::memcpy(out, part.data, part.bytes().size());
                out += part.bytes().size();
            } else {
                for (int64_t r = 0; r < part.rows; ++r) {
                    to_f32(part.dtype, part.row(r), 1, cols, row.data());
                    if (fused_type == DType::F32) {
                        std::memcpy(out, row.data(), row.size() * sizeof(float));
                    } else {
                        kernels::quantize_row_q8_0(row.data(), cols,
                                                   reinterpret_cast<kernels::BlockQ8_0*>(out));
                    }
                    out += fused.row_stride();
                }
            }
            // The copy is what the model uses from now on: let the kernel drop the file pages.
            const std::byte* file_start = file_.file()->bytes().data();
            file_.file()->advise_dontneed(static_cast<size_t>(part.data - file_start),
                                          part.bytes().size());
        }
        fused.data = buffer.get();
        storage.push_back(std::move(buffer));
        copied_fusions_++;
        return fused;
    }

    // A Q4_0 / Q4_K / IQ4_NL / Q8_0 / Q6_K matrix of whole 16-row groups as its
    // row-interleaved type (kernels/quant_interleave.h, kernels::load_layout): in place in a copy
    // the loader made (fused q/k/v, gate/up), else into a buffer of its own, the file's pages
    // released. Other matrices (Q5_K, Q6_K on the portable path, F16, BF16, F32, ...) are copied as
    // they are into such a buffer (copy_from_file). The matrix takes the same memory either way.
    Matrix interleave(const Matrix& m, std::vector<std::shared_ptr<const void>>& storage) const {
        const DType type = kernels::load_layout(m.dtype);
        if (type == m.dtype || m.rows % kernels::kInterleaveRows != 0) {
            return copy_from_file(m, storage);
        }
        const std::optional<size_t> offset = file_.file()->offset_of(m.data);
        const int64_t stride = m.row_stride();
        if (!offset) {
            // The loader's own copy (std::byte storage it allocated non-const), in place: each
            // core takes whole groups.
            auto* data = const_cast<std::byte*>(m.data);
            for_ranges_in_parallel(
                m.rows / kernels::kInterleaveRows, [&](int64_t begin, int64_t end) {
                    const int64_t r = begin * kernels::kInterleaveRows;
                    kernels::interleave_matrix(m.dtype, data + r * stride,
                                               (end - begin) * kernels::kInterleaveRows, m.cols);
                });
            interleaved_++;
            return {type, m.rows, m.cols, m.data};
        }
        const int64_t n_blocks = m.cols / dtype_traits(m.dtype).block_elements;
        // Groups on every core: the copy and the kernel zeroing the new pages at first touch were
        // 70% of a 7B Q4_0 load on one thread.
        const Matrix out =
            out_of_file(m, type, *offset, m.rows / kernels::kInterleaveRows, storage,
                        [&](std::byte* buffer, int64_t begin, int64_t end) {
                            for (int64_t g = begin; g < end; ++g) {
                                const int64_t r = g * kernels::kInterleaveRows;
                                kernels::interleave_rows(m.dtype, m.row(r), stride, n_blocks,
                                                         buffer + r * stride);
                            }
                        });
        interleaved_++;
        return out;
    }

    // A matrix that is a view of the file, copied into a buffer of the loader's own (huge pages
    // where the kernel grants them, weight_buffer.h), the file's pages released; any other matrix
    // as it is. Decode reads such a copy faster than the page cache's pages: on the Intel Xeon
    // (one thread, 8-layer 7B-shape Q4_K_M) its Q6_K matrices (the output, half the ffn_down and
    // attn_v) streamed 8.0 GB/s from the file's pages against 10.7 in quant_bench; with the
    // copy, 2 threads, Q4_K_M 19.0 -> 20.0 t/s and Q4_0 (its output Q6_K) 23.3 -> 24.4; F16
    // (8-layer file, 2 threads, alternating runs) 7.4-7.5 -> 7.9-8.3 t/s. The cost is the load:
    // the kernel zeroes every new page at first touch (on that VM 1.5-3.8 s for the 3.7 GB F16 file
    // in the page cache, against 0.6 s mapping it).
    Matrix copy_from_file(const Matrix& m,
                          std::vector<std::shared_ptr<const void>>& storage) const {
        const std::optional<size_t> offset = file_.file()->offset_of(m.data);
        if (!offset) return m;
        const int64_t stride = m.row_stride();
        return out_of_file(m, m.dtype, *offset, m.rows, storage,
                           [&](std::byte* buffer, int64_t begin, int64_t end) {
                               std::memcpy(buffer + begin * stride, m.row(begin),
                                           static_cast<size_t>((end - begin) * stride));
                           });
    }

    // `m` (a view of the file at `offset`) as a `type` matrix of the same size in a buffer of the
    // loader's own: fill(buffer, begin, end) writes units [begin, end) of n_units on every core,
    // then the file's pages are released and the buffer joins the model's storage.
    template <class Fill>
    Matrix out_of_file(const Matrix& m, DType type, size_t offset, int64_t n_units,
                       std::vector<std::shared_ptr<const void>>& storage, const Fill& fill) const {
        auto buffer = allocate_weight_buffer(m.bytes().size());
        for_ranges_in_parallel(n_units,
                               [&](int64_t begin, int64_t end) { fill(buffer.get(), begin, end); });
        file_.file()->advise_dontneed(offset, m.bytes().size());
        const Matrix out{type, m.rows, m.cols, buffer.get()};
        storage.push_back(std::move(buffer));
        return out;
    }

    // Whether the named matrices have different types, one of them quantized: the q/k/v that
    // stay separate matrices rather than being requantized to one type.
    bool mixed_quantized(const std::vector<std::string>& names) const {
        bool mixed = false;
        bool quantized = false;
        const DType first = dtype(tensor(names[0]));
        for (const std::string& name : names) {
            const DType type = dtype(tensor(name));
            mixed = mixed || type != first;
            quantized = quantized || !is_plain_float(type);
        }
        return mixed && quantized;
    }

    int copied_fusions() const { return copied_fusions_; }
    int interleaved() const { return interleaved_; }
    int mixed_fusions() const { return mixed_fusions_; }

  private:
    const GgufFile& file_;
    mutable int copied_fusions_ = 0;
    mutable int mixed_fusions_ = 0;
    mutable int interleaved_ = 0;
};

std::string layer_tensor(int64_t layer, const char* suffix) {
    return "blk." + std::to_string(layer) + "." + suffix + ".weight";
}

// "Q4_K x 193, Q6_K x 33, F32 x 65"
std::string tensor_type_summary(const GgufFile& file) {
    std::map<std::string, int> counts;
    for (const GgufTensorInfo& tensor : file.tensors()) counts[ggml_type_name(tensor.type)]++;
    std::string text;
    for (const auto& [name, count] : counts) {
        text += (text.empty() ? "" : ", ") + name + " x " + std::to_string(count);
    }
    return text;
}

// Maps in the file pages the model will read (the weights that stayed views of the file), so the
// first forward pass does not fault them in 4 KiB at a time, and the progress bar shows the
// reading. Copied tensors' pages were released and are skipped.
void prefault_weights(const LlamaModel& model, const MappedFile& file, LoadProgress& progress) {
    std::vector<std::pair<size_t, size_t>> ranges;
    auto note = [&](const Matrix& m) {
        if (const std::optional<size_t> offset = file.offset_of(m.data)) {
            ranges.emplace_back(*offset, *offset + m.bytes().size());
        }
    };
    note(model.token_embedding);
    note(model.lm_head);
    for (const DecoderLayer& layer : model.layers) {
        for (const Matrix& part : layer.attention.qkv_parts()) note(part);
        note(layer.attention.o_weight());
        note(layer.mlp.gate_up_weight());
        note(layer.mlp.down_weight());
    }
    std::sort(ranges.begin(), ranges.end());
    std::vector<std::pair<size_t, size_t>> merged;
    for (const auto& range : ranges) {
        if (!merged.empty() && range.first <= merged.back().second) {
            merged.back().second = std::max(merged.back().second, range.second);
        } else {
            merged.push_back(range);
        }
    }
    constexpr size_t kChunk = size_t{64} << 20;
    int64_t chunks = 0;
    for (const auto& [first, last] : merged) {
        chunks += static_cast<int64_t>((last - first + kChunk - 1) / kChunk);
    }
    progress.extend(chunks);
    for (const auto& [first, last] : merged) {
        for (size_t at = first; at < last; at += kChunk) {
            file.populate(at, std::min(kChunk, last - at));
            progress.advance();
        }
    }
}

}  // namespace

LlamaConfig read_gguf_config(const GgufFile& file) {
    auto fail = [&](const std::string& message) -> void {
        throw Error(file.path().string() + ": " + message);
    };
    const GgufValue* architecture = file.find("general.architecture");
    if (architecture == nullptr) fail("not a model: GGUF key general.architecture is missing");
    const std::string& arch = file.get_string("general.architecture");
    if (arch != "llama") {
        fail("unsupported architecture '" + arch + "' (only 'llama' is supported)");
    }
    if (file.get_int_or("llama.expert_count", 0) > 0) {
        fail("mixture-of-experts models (llama.expert_count > 0) are not supported");
    }
    if (const GgufValue* scaling = file.find("llama.rope.scaling.type")) {
        const std::string& type = scaling->as_string("llama.rope.scaling.type");
        if (type != "none") fail("RoPE scaling '" + type + "' is not supported");
    }

    if (file.find_tensor("rope_freqs.weight") != nullptr) {
        fail("RoPE frequency factors (rope_freqs.weight, Llama 3.1 scaling) are not supported");
    }

    LlamaConfig c;
    c.hidden_size = file.get_int("llama.embedding_length");
    c.n_layers = file.get_int("llama.block_count");
    c.ffn_size = file.get_int("llama.feed_forward_length");
    c.n_heads = file.get_int("llama.attention.head_count");
    c.n_kv_heads = file.get_int_or("llama.attention.head_count_kv", c.n_heads);
    c.max_context = file.get_int("llama.context_length");
    c.head_dim = file.get_int_or("llama.attention.key_length",
                                 c.n_heads > 0 ? c.hidden_size / c.n_heads : 0);
    if (file.get_int_or("llama.attention.value_length", c.head_dim) != c.head_dim) {
        fail("llama.attention.value_length differs from key_length, which is not supported");
    }
    const int64_t rope_dims = file.get_int_or("llama.rope.dimension_count", c.head_dim);
    if (rope_dims != c.head_dim) {
        fail("llama.rope.dimension_count is " + std::to_string(rope_dims) + " but head_dim is " +
             std::to_string(c.head_dim) + " (partial rotary embeddings are not supported)");
    }
    c.rope_theta = static_cast<float>(file.get_double_or("llama.rope.freq_base", 10000.0));
    c.rms_norm_eps =
        static_cast<float>(file.get_double_or("llama.attention.layer_norm_rms_epsilon", 1e-5));
    c.rope_layout = RopeLayout::Interleaved;

    const GgufTensorInfo* embedding = file.find_tensor("token_embd.weight");
    if (embedding == nullptr) fail("missing tensor 'token_embd.weight'");
    if (embedding->ne.size() != 2) fail("tensor 'token_embd.weight' is not a matrix");
    c.vocab_size = embedding->ne[1];
    if (const GgufValue* tokens = file.find("tokenizer.ggml.tokens")) {
        const auto n_tokens =
            static_cast<int64_t>(tokens->as_array("tokenizer.ggml.tokens").values.size());
        if (n_tokens != c.vocab_size) {
            fail("tokenizer.ggml.tokens has " + std::to_string(n_tokens) +
                 " tokens but token_embd.weight has " + std::to_string(c.vocab_size) + " rows");
        }
    }
    if (const GgufValue* vocab = file.find("llama.vocab_size")) {
        if (vocab->as_int("llama.vocab_size") != c.vocab_size) {
            fail("llama.vocab_size is " + std::to_string(vocab->as_int("llama.vocab_size")) +
                 " but token_embd.weight has " + std::to_string(c.vocab_size) + " rows");
        }
    }
    c.bos_token_id = static_cast<int32_t>(file.get_int_or("tokenizer.ggml.bos_token_id", 1));
    c.eos_token_id = static_cast<int32_t>(file.get_int_or("tokenizer.ggml.eos_token_id", 2));
    try {
        c.validate();
    } catch (const Error& e) {
        fail(e.what());
    }
    return c;
}

LlamaModel load_gguf_model(const std::filesystem::path& path, ProgressReporter* progress_reporter,
                           bool interleave) {
    return load_gguf_model(GgufFile::open(path), progress_reporter, interleave);
}

LlamaModel load_gguf_model(const GgufFile& file, ProgressReporter* progress_reporter,
                           bool interleave) {
    const std::filesystem::path& path = file.path();
    LlamaModel model;
    model.config = read_gguf_config(file);
    const LlamaConfig& c = model.config;
    model.storage.push_back(file.file());
    GgufModelReader reader(file);

    model.token_embedding = reader.matrix("token_embd.weight", c.vocab_size, c.hidden_size);
    model.final_norm = reader.vector("output_norm.weight", c.hidden_size);
    if (file.find_tensor("output.weight") != nullptr) {
        model.lm_head = reader.matrix("output.weight", c.vocab_size, c.hidden_size);
    } else {
        model.lm_head = model.token_embedding;  // tied embeddings
    }

    // The layer count sizes allocations below: check the file has the last layer before
    // trusting it (a 3 KB file claiming 65534 layers made the loader reserve 13 MB; fuzzing).
    const std::string last_layer = layer_tensor(c.n_layers - 1, "attn_norm");
    if (file.find_tensor(last_layer) == nullptr) {
        reader.fail("llama.block_count is " + std::to_string(c.n_layers) +
                    " but the file has no tensor '" + last_layer + "'");
    }
    LoadProgress progress("loading " + path.filename().string(), c.n_layers, progress_reporter);
    model.layers.reserve(static_cast<size_t>(c.n_layers));
    // Q4_0 / Q4_K / Q5_K / IQ4_NL / Q8_0 / Q6_K weights interleaved for the kernels
    // (kernels::load_layout) (the embedding table stays as it is: its rows are looked up one by
    // one).
    const auto weight = [&](const Matrix& m) {
        return interleave ? reader.interleave(m, model.storage) : m;
    };
    if (model.lm_head.data != model.token_embedding.data) model.lm_head = weight(model.lm_head);
    for (int64_t i = 0; i < c.n_layers; ++i) {
        const std::vector<std::string> qkv_names{
            layer_tensor(i, "attn_q"), layer_tensor(i, "attn_k"), layer_tensor(i, "attn_v")};
        const Matrix o =
            weight(reader.matrix(layer_tensor(i, "attn_output"), c.hidden_size, c.q_size()));
        const LlamaAttention attention =
            reader.mixed_quantized(qkv_names)
                ? LlamaAttention(c, weight(reader.matrix(qkv_names[0], c.q_size(), c.hidden_size)),
                                 weight(reader.matrix(qkv_names[1], c.kv_size(), c.hidden_size)),
                                 weight(reader.matrix(qkv_names[2], c.kv_size(), c.hidden_size)), o)
                : LlamaAttention(
                      c,
                      weight(reader.fuse(qkv_names, {c.q_size(), c.kv_size(), c.kv_size()},
                                         c.hidden_size, model.storage)),
                      o);
        const Matrix gate_up =
            weight(reader.fuse({layer_tensor(i, "ffn_gate"), layer_tensor(i, "ffn_up")},
                               {c.ffn_size, c.ffn_size}, c.hidden_size, model.storage));
        model.layers.push_back(DecoderLayer{
            reader.vector(layer_tensor(i, "attn_norm"), c.hidden_size),
            attention,
            reader.vector(layer_tensor(i, "ffn_norm"), c.hidden_size),
            LlamaMLP(c, gate_up,
                     weight(reader.matrix(layer_tensor(i, "ffn_down"), c.hidden_size, c.ffn_size))),
        });
        progress.advance();
    }

    prefault_weights(model, *file.file(), progress);

    model.description = "GGUF v" + std::to_string(file.version()) + " (" +
                        tensor_type_summary(file) + "), " + c.describe();
    if (reader.copied_fusions() > 0) {
        spdlog::info(
            "{}: {} fused q/k/v or gate/up matrices copied ({} with mixed types, converted "
            "to one type)",
            path.string(), reader.copied_fusions(), reader.mixed_fusions());
    }
    if (reader.interleaved() > 0) {
        spdlog::info(
            "{}: {} Q4_0/Q4_K/Q5_K/Q6_K/IQ4_NL/Q8_0 matrices interleaved in groups of 16 rows",
            path.string(), reader.interleaved());
    }
    spdlog::info("loaded {}: {}", path.string(), model.description);
    return model;
}

}  // namespace llama
