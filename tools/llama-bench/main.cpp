// llama-bench: batch x sequence-length timing of the engine and an A/B test of the attention QKV
// split path (sizes cached at load vs rebuilt every forward), with an A/A control. See --help.

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "llama/error.h"
#include "llama/isa.h"
#include "llama/random_model.h"
#include "tools/llama-bench/heatmap.h"
#include "tools/llama-bench/llama_workload.h"
#include "tools/llama-bench/machine_info.h"
#include "tools/llama-bench/options.h"
#include "tools/llama-bench/progress.h"
#include "tools/llama-bench/report.h"

namespace llama::bench {
namespace {

std::string command_line(int argc, char** argv) {
    std::string s;
    for (int i = 0; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.find_first_of(" \t'\"") != std::string::npos) arg = "'" + arg + "'";
        s += (i ? " " : "") + arg;
    }
    return s;
}

LlamaModel build_model(const BenchOptions& o, int threads, std::string& model_name) {
    if (o.isa.empty()) {
        apply_isa_environment();
    } else {
        set_isa_cap(o.isa, "--isa");
    }
    if (!o.model_path.empty()) {
        LlamaModel model = load_model(o.model_path, {}, {.interleave_weights = o.repack});
        if (o.layers > 0 && o.layers < model.config.n_layers) {
            model.layers.erase(model.layers.begin() + o.layers, model.layers.end());
            model.config.n_layers = o.layers;
        }
        model_name = o.model_path;
        return model;
    }
    std::optional<LlamaConfig> config = preset_config(o.config_name);
    if (!config) {
        std::string names;
        for (const std::string& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
        throw Error("--config: unknown preset '" + o.config_name + "' (known: " + names + ")");
    }
    if (o.layers > 0) {
        if (o.layers > config->n_layers) {
            throw Error("--layers " + std::to_string(o.layers) + " exceeds the " +
                        std::to_string(config->n_layers) + " layers of " + o.config_name);
        }
        config->n_layers = o.layers;
    }
    RandomModelParams params;
    params.config = *config;
    params.dtype = o.dtype;
    params.seed = o.seed;
    params.n_threads = threads;
    model_name = "synthetic " + o.config_name;
    return make_random_model(params);
}

std::vector<ConfigKey> grid(const BenchOptions& o) {
    std::vector<ConfigKey> keys;
    for (TestKind kind : o.kinds) {
        for (int64_t batch : o.batches) {
            for (int64_t seq : o.seqs) {
                keys.push_back({kind, batch, seq, kind == TestKind::TokenGeneration ? o.n_gen : 0});
            }
        }
    }
    return keys;
}

std::vector<Arm> arms_for(SplitChoice split) {
    switch (split) {
        case SplitChoice::Cached:
            return {Arm::Cached};
        case SplitChoice::PerForward:
            return {Arm::PerForward};
        case SplitChoice::Ab:
            return {Arm::Cached, Arm::PerForward, Arm::CachedControl};
    }
    return {};
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    if (!out) throw Error("cannot open " + path + " for writing");
    out << text;
    if (!out) throw Error("writing " + path + " failed");
}

// Calibrates on a small probe (one sequence of at most 128 tokens), whatever the grid: the cost
// model scales it to every configuration, and the runner refines the rate as it measures.
double calibrate_plan(const RunPlan& plan, LlamaWorkloadSource& source) {
    int64_t probe_seq = 128;
    for (const ConfigKey& key : plan.configs) probe_seq = std::min(probe_seq, key.seq);
    const ConfigKey probe{TestKind::PromptProcessing, 1, probe_seq, 0};
    const double rate = calibrate(source, probe);
    std::fprintf(stderr, "llama-bench: calibration on %s: %.1f ms per measurement\n",
                 probe.label().c_str(), 1000.0 * rate * source.cost(probe));
    return rate;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open " + path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_report(const BenchOptions& o, const Report& report) {
    std::string text;
    switch (o.format) {
        case OutputFormat::Markdown:
            text = to_markdown(report);
            break;
        case OutputFormat::Csv:
            text = to_csv(report);
            break;
        case OutputFormat::Json:
            text = to_json(report);
            break;
    }
    if (o.output_path.empty()) {
        std::fputs(text.c_str(), stdout);
        std::fflush(stdout);
    } else {
        write_text(o.output_path, text);
        std::fprintf(stderr, "llama-bench: report written to %s\n", o.output_path.c_str());
    }
    if (!o.plot_path.empty()) {
        write_text(o.plot_path, heatmap_svg(report));
        std::fprintf(stderr, "llama-bench: heatmap written to %s\n", o.plot_path.c_str());
    }
}

int run(int argc, char** argv) {
    spdlog::set_default_logger(spdlog::stderr_color_mt("llama-bench"));
    const ParseResult parsed = parse_args(argc, argv);
    if (!parsed.options) {
        std::fprintf(stderr, "llama-bench: error: %s\n", parsed.error.c_str());
        return 1;
    }
    const BenchOptions& o = *parsed.options;
    if (o.help) {
        std::fputs(usage().c_str(), stdout);
        return 0;
    }
    if (!o.report_from.empty()) {
        write_report(o, parse_json(read_text(o.report_from)));
        return 0;
    }
    const int threads = o.threads > 0
                            ? o.threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));

    std::string model_name;
    const LlamaModel model = build_model(o, threads, model_name);
    const LlamaConfig& c = model.config;

    RunPlan plan;
    plan.configs = grid(o);
    plan.arms = arms_for(o.split);
    plan.reps = o.reps;
    plan.warmup = o.warmup;
    plan.seed = o.seed;

    const int64_t max_bytes = o.max_memory_gib > 0
                                  ? static_cast<int64_t>(o.max_memory_gib * (1ll << 30))
                                  : available_memory_bytes() / 10 * 9;
    ContextParams base;
    base.n_threads = threads;
    base.n_batch = o.ubatch;
    base.prompt_precision = o.precision;
    LlamaWorkloadSource source(model, base, o.seed, max_bytes);

    install_interrupt_handler();
    const double seconds_per_cost = calibrate_plan(plan, source);
    std::fprintf(stderr,
                 "llama-bench: %zu configurations x %zu arms x (%d warm-up + %d reps): "
                 "estimated %s\n",
                 plan.configs.size(), plan.arms.size(), plan.warmup, plan.reps,
                 format_duration(estimate_seconds(plan, source, seconds_per_cost)).c_str());

    if (o.dry_run) {
        const double runs = static_cast<double>(plan.arms.size()) * (plan.warmup + plan.reps);
        std::printf(
            "| config | est. per measurement | est. total | context memory |\n"
            "|---|--:|--:|--:|\n");
        for (const ConfigKey& key : plan.configs) {
            const double one = seconds_per_cost * source.cost(key);
            const double gib = static_cast<double>(source.context_bytes(key)) / (1ll << 30);
            std::printf("| %s | %.2f s | %s | %.2f GiB%s |\n", key.label().c_str(), one,
                        format_duration(one * runs).c_str(), gib,
                        source.context_bytes(key) > max_bytes ? " (over the limit: skipped)" : "");
        }
        std::printf("\nweights %.2f GiB; memory limit for a context %.2f GiB\n",
                    static_cast<double>(model.weight_bytes()) / (1ll << 30),
                    static_cast<double>(max_bytes) / (1ll << 30));
        return 0;
    }

    const auto start = std::chrono::steady_clock::now();
    RunOutput output;
    {
        ProgressDisplay display(o.progress && stderr_is_terminal());
        output = run_plan(plan, source, display, seconds_per_cost);
    }

    Report report;
    AnalysisOptions analysis;
    analysis.bootstrap_resamples = o.bootstrap_resamples;
    analysis.alpha = o.alpha;
    analysis.seed = o.seed;
    report.configs = analyze(output.samples, analysis);
    report.summary = summarize_grid(report.configs, o.alpha);

    Metadata& m = report.meta;
    m.cpu = cpu_model();
    m.hardware_threads = std::thread::hardware_concurrency();
    m.threads = threads;
    m.model = model_name;
    m.model_description = model.description;
    m.layers = c.n_layers;
    m.dtype = model.layers.empty()
                  ? "?"
                  : std::string(dtype_name(model.layers.front().attention.qkv_weight().dtype));
    m.hidden_size = c.hidden_size;
    m.n_heads = c.n_heads;
    m.n_kv_heads = c.n_kv_heads;
    m.head_dim = c.head_dim;
    m.ffn_size = c.ffn_size;
    m.vocab_size = c.vocab_size;
    m.split_mode = split_choice_name(o.split);
    m.reps = o.reps;
    m.warmup = o.warmup;
    m.ubatch = o.ubatch;
    m.precision = o.precision == PromptPrecision::BF16 ? "bf16" : "f32";
    m.isa = isa_name(active_isa());
    m.decode_bytes = model.decode_bytes();
    m.seed = o.seed;
    m.bootstrap_resamples = o.bootstrap_resamples;
    m.alpha = o.alpha;
    m.commit = source_commit();
    m.date = utc_timestamp();
    m.command_line = command_line(argc, argv);
    m.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    m.interrupted = output.interrupted;
    m.skipped = output.skipped;
    for (const std::string& s : output.skipped)
        std::fprintf(stderr, "llama-bench: skipped %s\n", s.c_str());

    write_report(o, report);
    // 130 = the shell's code for SIGINT: the report is partial.
    return output.interrupted ? 130 : 0;
}

}  // namespace
}  // namespace llama::bench

int main(int argc, char** argv) {
    try {
        return llama::bench::run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "llama-bench: error: %s\n", e.what());
        return 1;
    }
}
