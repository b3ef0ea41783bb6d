#pragma once

// The llama-bench report and its three formats. Markdown is for people; CSV (one row per
// configuration) and JSON (everything, raw samples included) are for programs, and both parse back.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/llama-bench/analysis.h"

namespace llama::bench {

struct Metadata {
    std::string cpu;               // model name from /proc/cpuinfo
    int64_t hardware_threads = 0;  // std::thread::hardware_concurrency
    int threads = 0;
    std::string model;              // path, or "synthetic <config>"
    std::string model_description;  // from the loader or the synthetic model builder
    int64_t layers = 0;
    std::string dtype;
    int64_t hidden_size = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, ffn_size = 0,
            vocab_size = 0;
    std::string split_mode;  // cached | per-forward | ab
    int reps = 0, warmup = 0;
    int64_t ubatch = 0;
    std::string precision = "f32";  // prompt GEMM arithmetic: f32 | bf16
    std::string isa = "unknown";    // kernels' instruction-set level (llama/isa.h)
    int64_t decode_bytes = 0;       // weights a decode step reads (LlamaModel::decode_bytes)
    uint64_t seed = 0;
    int bootstrap_resamples = 0;
    double alpha = 0.05;
    std::string commit;
    std::string date;  // ISO 8601, UTC
    std::string command_line;
    double wall_seconds = 0;
    bool interrupted = false;
    std::vector<std::string> skipped;  // configurations not run, each with the reason
};

struct Report {
    Metadata meta;
    std::vector<ConfigResult> configs;
    std::optional<Summary> summary;
};

std::string to_markdown(const Report& report);
std::string to_csv(const Report& report);
std::string to_json(const Report& report);

// Parse what to_csv / to_json wrote; throw llama::Error on malformed input. The CSV keeps the
// per-configuration numbers only (no raw samples, metadata or summary); the JSON keeps everything.
std::vector<ConfigResult> parse_csv(const std::string& text);
Report parse_json(const std::string& text);

}  // namespace llama::bench
