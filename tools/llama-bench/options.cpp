#include "tools/llama-bench/options.h"

#include <charconv>
#include <functional>
#include <map>
#include <set>

#include "llama/error.h"

namespace llama::bench {

namespace {

constexpr size_t kMaxListValues = 4096;

int64_t parse_positive(std::string_view text, std::string_view what) {
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        throw Error(std::string(what) + ": '" + std::string(text) + "' is not an integer");
    }
    if (value <= 0) {
        throw Error(std::string(what) + ": " + std::string(text) + " must be positive");
    }
    return value;
}

int64_t parse_non_negative(std::string_view text, std::string_view what) {
    if (text == "0") return 0;
    return parse_positive(text, what);
}

double parse_double(std::string_view text, std::string_view what) {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        throw Error(std::string(what) + ": '" + std::string(text) + "' is not a number");
    }
    return value;
}

void append_range(std::string_view item, std::vector<int64_t>& out) {
    const size_t dots = item.find("..");
    const std::string what = "list item '" + std::string(item) + "'";
    const int64_t first = parse_positive(item.substr(0, dots), what);
    std::string_view rest = item.substr(dots + 2);
    const size_t op_pos = rest.find_first_of("+*");
    const int64_t last = parse_positive(rest.substr(0, op_pos), what);
    if (last < first) throw Error(what + ": the range end is below its start");
    char op = '+';
    int64_t step = 1;
    if (op_pos != std::string_view::npos) {
        op = rest[op_pos];
        step = parse_positive(rest.substr(op_pos + 1), what);
        if (op == '*' && step < 2) throw Error(what + ": a multiplying step must be at least 2");
    }
    for (int64_t v = first; v <= last; v = (op == '+') ? v + step : v * step) {
        out.push_back(v);
        if (out.size() > kMaxListValues) throw Error(what + ": more than 4096 values");
    }
}

struct FlagSpec {
    std::vector<std::string_view> names;
    bool takes_value;
    std::function<void(BenchOptions&, std::string_view)> apply;
};

DType parse_dtype(std::string_view v) {
    if (v == "f16") return DType::F16;
    if (v == "bf16") return DType::BF16;
    if (v == "f32") return DType::F32;
    throw Error("--dtype: '" + std::string(v) + "' is not one of f16, bf16, f32");
}

int parse_int_flag(std::string_view v, std::string_view flag, bool allow_zero) {
    const int64_t x = allow_zero ? parse_non_negative(v, flag) : parse_positive(v, flag);
    if (x > 1'000'000) throw Error(std::string(flag) + ": " + std::string(v) + " is too large");
    return static_cast<int>(x);
}

const std::vector<FlagSpec>& flag_specs() {
    static const std::vector<FlagSpec> specs = {
        {{"-m", "--model"}, true, [](BenchOptions& o, std::string_view v) { o.model_path = v; }},
        {{"--config"}, true, [](BenchOptions& o, std::string_view v) { o.config_name = v; }},
        {{"--layers"},
         true,
         [](BenchOptions& o, std::string_view v) { o.layers = parse_positive(v, "--layers"); }},
        {{"--dtype"},
         true,
         [](BenchOptions& o, std::string_view v) {
             o.dtype = parse_dtype(v);
             o.dtype_given = true;
         }},
        {{"--seed"},
         true,
         [](BenchOptions& o, std::string_view v) {
             o.seed = static_cast<uint64_t>(parse_non_negative(v, "--seed"));
         }},
        {{"-b", "--batch"},
         true,
         [](BenchOptions& o, std::string_view v) { o.batches = parse_int_list(v); }},
        {{"-s", "--seq"},
         true,
         [](BenchOptions& o, std::string_view v) { o.seqs = parse_int_list(v); }},
        {{"-k", "--kind"},
         true,
         [](BenchOptions& o, std::string_view v) {
             o.kinds.clear();
             size_t start = 0;
             while (true) {
                 const size_t comma = v.find(',', start);
                 const std::string_view name = v.substr(start, comma - start);
                 const auto kind = parse_test_kind(name);
                 if (!kind) {
                     throw Error("--kind: '" + std::string(name) + "' is not pp or tg");
                 }
                 for (TestKind k : o.kinds) {
                     if (k == *kind) throw Error("--kind: '" + std::string(name) + "' repeated");
                 }
                 o.kinds.push_back(*kind);
                 if (comma == std::string_view::npos) break;
                 start = comma + 1;
             }
         }},
        {{"-n", "--n-gen"},
         true,
         [](BenchOptions& o, std::string_view v) { o.n_gen = parse_positive(v, "--n-gen"); }},
        {{"-r", "--reps"},
         true,
         [](BenchOptions& o, std::string_view v) { o.reps = parse_int_flag(v, "--reps", false); }},
        {{"--warmup"},
         true,
         [](BenchOptions& o, std::string_view v) {
             o.warmup = parse_int_flag(v, "--warmup", true);
         }},
        {{"-t", "--threads"},
         true,
         [](BenchOptions& o, std::string_view v) {
             o.threads = parse_int_flag(v, "--threads", false);
         }},
        {{"--ubatch"},
         true,
         [](BenchOptions& o, std::string_view v) { o.ubatch = parse_positive(v, "--ubatch"); }},
        {{"--precision"},
         true,
         [](BenchOptions& o, std::string_view v) {
             if (v == "f32") {
                 o.precision = PromptPrecision::F32;
             } else if (v == "bf16") {
                 o.precision = PromptPrecision::BF16;
             } else {
                 throw Error("--precision must be f32 or bf16, got '" + std::string(v) + "'");
             }
         }},
        {{"--repack"},
         true,
         [](BenchOptions& o, std::string_view v) {
             if (v != "0" && v != "1") {
                 throw Error("--repack must be 0 or 1, got '" + std::string(v) + "'");
             }
             o.repack = v == "1";
         }},
        {{"--isa"},
         true,
         // Checked when applied (main.cpp): bench_core does not link the engine.
         [](BenchOptions& o, std::string_view v) { o.isa = std::string(v); }},
        {{"--split-mode"},
         true,
         [](BenchOptions& o, std::string_view v) {
             if (v == "cached") {
                 o.split = SplitChoice::Cached;
             } else if (v == "per-forward") {
                 o.split = SplitChoice::PerForward;
             } else if (v == "ab") {
                 o.split = SplitChoice::Ab;
             } else {
                 throw Error("--split-mode: '" + std::string(v) +
                             "' is not one of cached, per-forward, ab");
             }
         }},
        {{"--bootstrap"},
         true,
         [](BenchOptions& o, std::string_view v) {
             o.bootstrap_resamples = parse_int_flag(v, "--bootstrap", false);
             if (o.bootstrap_resamples < 100) throw Error("--bootstrap: use at least 100");
         }},
        {{"--alpha"},
         true,
         [](BenchOptions& o, std::string_view v) {
             o.alpha = parse_double(v, "--alpha");
             if (!(o.alpha > 0 && o.alpha < 0.5)) throw Error("--alpha: must be in (0, 0.5)");
         }},
        {{"--max-memory"},
         true,
         [](BenchOptions& o, std::string_view v) {
             o.max_memory_gib = parse_double(v, "--max-memory");
             if (!(o.max_memory_gib > 0)) throw Error("--max-memory: must be positive (GiB)");
         }},
        {{"-o", "--format"},
         true,
         [](BenchOptions& o, std::string_view v) {
             if (v == "md") {
                 o.format = OutputFormat::Markdown;
             } else if (v == "csv") {
                 o.format = OutputFormat::Csv;
             } else if (v == "json") {
                 o.format = OutputFormat::Json;
             } else {
                 throw Error("--format: '" + std::string(v) + "' is not one of md, csv, json");
             }
         }},
        {{"--output"}, true, [](BenchOptions& o, std::string_view v) { o.output_path = v; }},
        {{"--plot"}, true, [](BenchOptions& o, std::string_view v) { o.plot_path = v; }},
        {{"--no-progress"}, false, [](BenchOptions& o, std::string_view) { o.progress = false; }},
        {{"--report-from"}, true, [](BenchOptions& o, std::string_view v) { o.report_from = v; }},
        {{"--dry-run"}, false, [](BenchOptions& o, std::string_view) { o.dry_run = true; }},
        {{"-h", "--help"}, false, [](BenchOptions& o, std::string_view) { o.help = true; }},
    };
    return specs;
}

const FlagSpec* find_flag(std::string_view name) {
    for (const FlagSpec& spec : flag_specs()) {
        for (std::string_view n : spec.names) {
            if (n == name) return &spec;
        }
    }
    return nullptr;
}

void validate(const BenchOptions& o) {
    if (o.help) return;
    if (!o.report_from.empty()) {
        if (!o.model_path.empty() || !o.config_name.empty()) {
            throw Error("--report-from renders a saved report: give no -m or --config with it");
        }
        return;
    }
    if (o.model_path.empty() == o.config_name.empty()) {
        throw Error("give exactly one model source: -m PATH or --config NAME");
    }
    if (o.dtype_given && !o.model_path.empty()) {
        throw Error("--dtype applies to --config models only (a loaded model keeps its types)");
    }
    if (!o.plot_path.empty() && o.split != SplitChoice::Ab) {
        throw Error("--plot shows the A/B comparison: it needs --split-mode ab");
    }
}

}  // namespace

std::string_view split_choice_name(SplitChoice choice) {
    switch (choice) {
        case SplitChoice::Cached:
            return "cached";
        case SplitChoice::PerForward:
            return "per-forward";
        case SplitChoice::Ab:
            return "ab";
    }
    return "?";
}

std::string_view output_format_name(OutputFormat format) {
    switch (format) {
        case OutputFormat::Markdown:
            return "md";
        case OutputFormat::Csv:
            return "csv";
        case OutputFormat::Json:
            return "json";
    }
    return "?";
}

std::vector<int64_t> parse_int_list(std::string_view text) {
    if (text.empty()) throw Error("empty list");
    std::vector<int64_t> values;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        const std::string_view item = text.substr(start, comma - start);
        if (item.empty()) throw Error("list '" + std::string(text) + "' has an empty item");
        if (item.find("..") != std::string_view::npos) {
            append_range(item, values);
        } else {
            values.push_back(parse_positive(item, "list item"));
        }
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    std::set<int64_t> seen;
    for (int64_t v : values) {
        if (!seen.insert(v).second) {
            throw Error("list '" + std::string(text) + "' repeats the value " + std::to_string(v));
        }
    }
    return values;
}

ParseResult parse_args(std::span<const std::string_view> args) {
    BenchOptions options;
    try {
        for (size_t i = 0; i < args.size(); ++i) {
            std::string_view arg = args[i];
            std::string_view value;
            bool inline_value = false;
            if (arg.starts_with("--")) {
                if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
                    value = arg.substr(eq + 1);
                    arg = arg.substr(0, eq);
                    inline_value = true;
                }
            }
            const FlagSpec* spec = find_flag(arg);
            if (!spec) {
                if (!arg.starts_with("-")) {
                    throw Error("unexpected argument '" + std::string(arg) + "' (see --help)");
                }
                throw Error("unknown flag '" + std::string(arg) + "' (see --help)");
            }
            if (spec->takes_value && !inline_value) {
                if (i + 1 >= args.size()) throw Error(std::string(arg) + " needs a value");
                value = args[++i];
            } else if (!spec->takes_value && inline_value) {
                throw Error(std::string(arg) + " takes no value");
            }
            try {
                spec->apply(options, value);
            } catch (const Error& e) {
                // Messages from list parsing do not know which flag they came from.
                const std::string message = e.what();
                if (message.starts_with(arg)) throw;
                throw Error(std::string(arg) + ": " + message);
            }
        }
        validate(options);
    } catch (const Error& e) {
        return {std::nullopt, e.what()};
    }
    return {options, {}};
}

ParseResult parse_args(int argc, const char* const* argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    return parse_args(args);
}

std::string usage() {
    return R"(usage: llama-bench (-m PATH | --config NAME) [options]
       llama-bench --report-from FILE.json [-o md|csv|json] [--output FILE] [--plot FILE.svg]

Times prompt processing and token generation over a batch x sequence-length grid, and A/B-tests
the two ways attention splits its fused QKV output (sizes cached at load vs rebuilt every forward).

Model (exactly one):
  -m, --model PATH        Hugging Face directory or GGUF file
  --config NAME           synthetic model with seeded random weights:
                          llama-7b, llama-13b, small, tiny
  --layers N              keep only the first N decoder layers
  --dtype f16|bf16|f32    weight type of a --config model (default f16)
  --seed N                seed of weights, tokens, arm order and bootstrap (default 42)

Grid:
  -b, --batch LIST        sequences run side by side (default 1)
  -s, --seq LIST          tokens per sequence: prompt length (pp) or prefill length (tg)
                          (default 128)
  -k, --kind pp,tg        pp: one forward over batch x seq tokens, timed;
                          tg: untimed prefill of seq tokens, then -n decode steps timed
                          (default pp)
  -n, --n-gen N           decode steps per tg measurement (default 16)
  -r, --reps N            measured repetitions per arm and configuration (default 5)
  --warmup N              unmeasured runs per arm before measuring (default 1)
  -t, --threads N         threads (default: all hardware threads)
  --ubatch N              most tokens per forward chunk over all sequences (default 512)
  --precision f32|bf16    arithmetic of many-token projections: bf16 (default) uses AMX
                          tiles or AVX512-BF16 (AMD) where the ISA level has them, fp32 elsewhere
  --isa LEVEL             cap the instruction set: scalar|avx2|avx2-vnni|avx512|
                          avx512-vnni|avx512-bf16|amx (default: $LLAMA_ISA, else all the
                          CPU has)
  --repack 0|1            interleave Q4_0/Q4_K/Q5_K/Q6_K/IQ4_NL/Q8_0 weights at load and
                          copy the other quantized ones out of the file (default 1; 0 = the
                          file's layout and pages, for A/B timing)
  --split-mode MODE       cached | per-forward | ab (default ab). ab runs three arms per
                          configuration -- cached, per-forward and cached again (the A/A
                          control) -- in a seeded random order within every repetition.
  --max-memory GIB        skip configurations whose KV cache and buffers would exceed this
                          (default: the memory available when the run starts)

Statistics:
  --bootstrap N           bootstrap resamples for confidence intervals (default 2000)
  --alpha X               significance level, Holm-Bonferroni corrected (default 0.05)

Output:
  -o, --format md|csv|json  report format (default md)
  --output FILE           write the report to FILE instead of stdout
  --plot FILE.svg         heatmap of the latency improvement over batch x seq (ab only)
  --no-progress           no progress bar (it is only drawn when stderr is a terminal)
  --report-from FILE.json render a report saved with -o json again (in -o format, with
                          --plot), without measuring
  --dry-run               build the model, calibrate, print each configuration's estimated
                          time and memory and the total, then exit without measuring
  -h, --help              this text

LIST: comma-separated items, each N, A..B (step 1), A..B+S (add S) or A..B*F (multiply by F).
  -b 1..64*2  = 1,2,4,8,16,32,64      -s 128,512..4096*2 = 128,512,1024,2048,4096

Sign convention: "improvement" is the effect of caching relative to per-forward; positive means
the cached path is faster. latency improvement = 100 * (1 - mean_cached / mean_per_forward);
throughput improvement = 100 * (mean_per_forward / mean_cached - 1).
Ctrl-C finishes the current measurement and reports what has been measured.
)";
}

}  // namespace llama::bench
