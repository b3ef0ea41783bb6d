// llama-bench flags and grid lists: what parses, what does not and how it says so, and one run of
// the built binary to check a bad flag ends with a message and a non-zero exit status.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>

#include "llama/error.h"
#include "tools/llama-bench/options.h"

namespace llama::bench {
namespace {

ParseResult parse(std::vector<std::string_view> args) { return parse_args(args); }

std::string error_of(std::vector<std::string_view> args) {
    const ParseResult r = parse(std::move(args));
    EXPECT_FALSE(r.options.has_value());
    return r.error;
}

TEST(BenchCli, IntListsAndRanges) {
    EXPECT_EQ(parse_int_list("7"), (std::vector<int64_t>{7}));
    EXPECT_EQ(parse_int_list("1,2,4"), (std::vector<int64_t>{1, 2, 4}));
    EXPECT_EQ(parse_int_list("1..64*2"), (std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64}));
    EXPECT_EQ(parse_int_list("1..70*2"), (std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64}));
    EXPECT_EQ(parse_int_list("128..512+128"), (std::vector<int64_t>{128, 256, 384, 512}));
    EXPECT_EQ(parse_int_list("3..5"), (std::vector<int64_t>{3, 4, 5}));
    EXPECT_EQ(parse_int_list("128,512..4096*2"),
              (std::vector<int64_t>{128, 512, 1024, 2048, 4096}));
    EXPECT_EQ(parse_int_list("64,1"), (std::vector<int64_t>{64, 1}));  // order kept
}

TEST(BenchCli, BadListsNameTheProblem) {
    auto message = [](std::string_view text) {
        try {
            parse_int_list(text);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(message("").find("empty"), std::string::npos);
    EXPECT_NE(message("1,,2").find("empty item"), std::string::npos);
    EXPECT_NE(message("0").find("positive"), std::string::npos);
    EXPECT_NE(message("-3").find("-3 must be positive"), std::string::npos);
    EXPECT_NE(message("x").find("'x' is not an integer"), std::string::npos);
    EXPECT_NE(message("8..2").find("below its start"), std::string::npos);
    EXPECT_NE(message("1..8*1").find("at least 2"), std::string::npos);
    EXPECT_NE(message("1..8/2").find("not an integer"), std::string::npos);
    EXPECT_NE(message("2,1..4").find("repeats the value 2"), std::string::npos);
    EXPECT_NE(message("1..100000").find("more than 4096"), std::string::npos);
}

TEST(BenchCli, Defaults) {
    const ParseResult r = parse({"--config", "tiny"});
    ASSERT_TRUE(r.options) << r.error;
    const BenchOptions& o = *r.options;
    EXPECT_EQ(o.config_name, "tiny");
    EXPECT_EQ(o.batches, std::vector<int64_t>{1});
    EXPECT_EQ(o.seqs, std::vector<int64_t>{128});
    EXPECT_EQ(o.kinds, std::vector<TestKind>{TestKind::PromptProcessing});
    EXPECT_EQ(o.split, SplitChoice::Ab);
    EXPECT_EQ(o.format, OutputFormat::Markdown);
    EXPECT_EQ(o.dtype, DType::F16);
    EXPECT_EQ(o.reps, 5);
    EXPECT_EQ(o.warmup, 1);
    EXPECT_EQ(o.threads, 0);
    EXPECT_TRUE(o.progress);
}

TEST(BenchCli, EveryFlag) {
    const ParseResult r = parse({"--config",
                                 "llama-7b",
                                 "--layers",
                                 "2",
                                 "--dtype=bf16",
                                 "--seed",
                                 "9",
                                 "-b",
                                 "1..8*2",
                                 "--seq=128,512",
                                 "-k",
                                 "pp,tg",
                                 "-n",
                                 "32",
                                 "-r",
                                 "7",
                                 "--warmup",
                                 "0",
                                 "-t",
                                 "2",
                                 "--ubatch",
                                 "256",
                                 "--split-mode",
                                 "per-forward",
                                 "--precision",
                                 "f32",
                                 "--bootstrap",
                                 "5000",
                                 "--alpha",
                                 "0.01",
                                 "--max-memory",
                                 "12.5",
                                 "-o",
                                 "json",
                                 "--output",
                                 "out.json",
                                 "--no-progress",
                                 "--dry-run"});
    ASSERT_TRUE(r.options) << r.error;
    const BenchOptions& o = *r.options;
    EXPECT_EQ(o.layers, 2);
    EXPECT_EQ(o.dtype, DType::BF16);
    EXPECT_EQ(o.seed, 9u);
    EXPECT_EQ(o.batches, (std::vector<int64_t>{1, 2, 4, 8}));
    EXPECT_EQ(o.seqs, (std::vector<int64_t>{128, 512}));
    EXPECT_EQ(o.kinds,
              (std::vector<TestKind>{TestKind::PromptProcessing, TestKind::TokenGeneration}));
    EXPECT_EQ(o.n_gen, 32);
    EXPECT_EQ(o.reps, 7);
    EXPECT_EQ(o.warmup, 0);
    EXPECT_EQ(o.threads, 2);
    EXPECT_EQ(o.ubatch, 256);
    EXPECT_EQ(o.split, SplitChoice::PerForward);
    EXPECT_EQ(o.precision, PromptPrecision::F32);
    EXPECT_EQ(o.bootstrap_resamples, 5000);
    EXPECT_DOUBLE_EQ(o.alpha, 0.01);
    EXPECT_DOUBLE_EQ(o.max_memory_gib, 12.5);
    EXPECT_EQ(o.format, OutputFormat::Json);
    EXPECT_EQ(o.output_path, "out.json");
    EXPECT_FALSE(o.progress);
    EXPECT_TRUE(o.dry_run);

    const ParseResult m = parse({"-m", "/models/x", "--plot", "h.svg", "-o", "csv"});
    ASSERT_TRUE(m.options) << m.error;
    EXPECT_EQ(m.options->model_path, "/models/x");
    EXPECT_EQ(m.options->plot_path, "h.svg");
    EXPECT_EQ(m.options->format, OutputFormat::Csv);

    const ParseResult saved = parse({"--report-from", "r.json", "-o", "md", "--plot", "p.svg"});
    ASSERT_TRUE(saved.options) << saved.error;
    EXPECT_EQ(saved.options->report_from, "r.json");
    EXPECT_NE(error_of({"--report-from", "r.json", "--config", "tiny"}).find("give no -m"),
              std::string::npos);

    const ParseResult h = parse({"--help"});
    ASSERT_TRUE(h.options);
    EXPECT_TRUE(h.options->help);
    EXPECT_NE(usage().find("--split-mode"), std::string::npos);
    // --isa's help names every level, as llama::isa_names() lists them (cpu_features_test checks
    // that list; this test does not link the kernels). The text is wrapped: compare without
    // spaces and line breaks.
    std::string flat;
    for (const char c : usage()) {
        if (c != ' ' && c != '\n') flat += c;
    }
    EXPECT_NE(flat.find("scalar|avx2|avx2-vnni|avx512|avx512-vnni|avx512-bf16|amx"),
              std::string::npos)
        << usage();
}

TEST(BenchCli, BadFlagsGiveClearErrors) {
    EXPECT_EQ(error_of({"--config", "tiny", "--frobnicate"}),
              "unknown flag '--frobnicate' (see --help)");
    EXPECT_EQ(error_of({"--config", "tiny", "stray"}), "unexpected argument 'stray' (see --help)");
    EXPECT_EQ(error_of({"--config", "tiny", "-b"}), "-b needs a value");
    EXPECT_EQ(error_of({"--config", "tiny", "--no-progress=1"}), "--no-progress takes no value");
    EXPECT_EQ(error_of({}), "give exactly one model source: -m PATH or --config NAME");
    EXPECT_EQ(error_of({"-m", "x", "--config", "tiny"}),
              "give exactly one model source: -m PATH or --config NAME");
    EXPECT_NE(error_of({"--config", "tiny", "--split-mode", "both"})
                  .find("--split-mode: 'both' is not one of cached, per-forward, ab"),
              std::string::npos);
    EXPECT_NE(error_of({"--config", "tiny", "--precision", "f16"})
                  .find("--precision must be f32 or bf16, got 'f16'"),
              std::string::npos);
    EXPECT_NE(error_of({"--config", "tiny", "-o", "xml"}).find("--format: 'xml'"),
              std::string::npos);
    EXPECT_NE(error_of({"--config", "tiny", "--dtype", "q4"}).find("--dtype: 'q4'"),
              std::string::npos);
    EXPECT_NE(error_of({"-m", "x", "--dtype", "f32"}).find("--config models only"),
              std::string::npos);
    EXPECT_NE(error_of({"--config", "tiny", "--split-mode", "cached", "--plot", "p.svg"})
                  .find("needs --split-mode ab"),
              std::string::npos);
    EXPECT_NE(error_of({"--config", "tiny", "-r", "0"}).find("--reps: 0 must be positive"),
              std::string::npos);
    EXPECT_NE(error_of({"--config", "tiny", "-k", "pp,xx"}).find("'xx' is not pp or tg"),
              std::string::npos);
    EXPECT_NE(error_of({"--config", "tiny", "-k", "pp,pp"}).find("repeated"), std::string::npos);
    EXPECT_NE(error_of({"--config", "tiny", "--alpha", "0.7"}).find("--alpha"), std::string::npos);
    EXPECT_NE(error_of({"--config", "tiny", "-s", "128,abc"})
                  .find("-s: list item: 'abc' is not an integer"),
              std::string::npos);
    EXPECT_NE(error_of({"--config", "tiny", "-t", "two"}).find("--threads: 'two'"),
              std::string::npos);
}

struct ProcessResult {
    int status = -1;
    std::string output;
};

ProcessResult run_binary(const std::string& args) {
    const std::string command = std::string(LLAMA_BENCH_BINARY) + " " + args + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return {};
    ProcessResult result;
    std::array<char, 512> buf;
    while (fgets(buf.data(), buf.size(), pipe)) result.output += buf.data();
    const int raw = pclose(pipe);
    result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return result;
}

TEST(BenchCli, BinaryRejectsABadFlagWithAMessage) {
    const ProcessResult bad = run_binary("--config tiny --split-mode sideways");
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.output.find("llama-bench: error: --split-mode: 'sideways'"), std::string::npos)
        << bad.output;

    const ProcessResult unknown_preset = run_binary("--config llama-99b --no-progress");
    EXPECT_EQ(unknown_preset.status, 1);
    EXPECT_NE(unknown_preset.output.find("unknown preset 'llama-99b'"), std::string::npos)
        << unknown_preset.output;

    const ProcessResult help = run_binary("--help");
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.output.find("usage: llama-bench"), std::string::npos);
}

}  // namespace
}  // namespace llama::bench
