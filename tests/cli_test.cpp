#include "common/cli.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "llama/error.h"
#include "tests/spm_test_model.h"

namespace {

using llama::cli::ArgParser;

struct Flags {
    std::string model = "default-model";
    int64_t n_predict = 128;
    float temp = 0.8f;
    bool ignore_eos = false;
    std::string split = "cached";
};

ArgParser make_parser(Flags& flags) {
    ArgParser parser("tool", "A test tool.");
    parser.add_string({"-m", "--model"}, "PATH", "model path", &flags.model);
    parser.add_int({"-n", "--n-predict"}, "N", "tokens to predict", &flags.n_predict, -1, 1000);
    parser.add_float({"--temp"}, "T", "temperature", &flags.temp, 0.0);
    parser.add_flag({"--ignore-eos"}, "ignore EOS", &flags.ignore_eos);
    parser.add_choice({"--split-mode"}, {"cached", "per-forward"}, "split mode", &flags.split);
    return parser;
}

// `text` with every run of whitespace as one space, so wrapped help reads as one line.
std::string single_spaced(const std::string& text) {
    std::string out;
    for (char c : text) {
        const bool space = c == ' ' || c == '\n';
        if (space && (out.empty() || out.back() == ' ')) continue;
        out += space ? ' ' : c;
    }
    return out;
}

// Parses `args`; returns the error message, or "" if parsing succeeded.
std::string parse_error(const std::vector<std::string>& args) {
    Flags flags;
    ArgParser parser = make_parser(flags);
    try {
        parser.parse(args);
    } catch (const llama::Error& e) {
        return e.what();
    }
    return "";
}

TEST(ArgParser, DefaultsStayWithoutFlags) {
    Flags flags;
    ArgParser parser = make_parser(flags);
    EXPECT_TRUE(parser.parse(std::vector<std::string>{}));
    EXPECT_EQ(flags.model, "default-model");
    EXPECT_EQ(flags.n_predict, 128);
    EXPECT_FALSE(flags.ignore_eos);
}

TEST(ArgParser, ShortLongAndEqualsForms) {
    Flags flags;
    ArgParser parser = make_parser(flags);
    const std::vector<std::string> args = {"-m",   "dir",          "--n-predict=7", "--temp",
                                           "0.25", "--ignore-eos", "--split-mode",  "per-forward"};
    EXPECT_TRUE(parser.parse(args));
    EXPECT_EQ(flags.model, "dir");
    EXPECT_EQ(flags.n_predict, 7);
    EXPECT_FLOAT_EQ(flags.temp, 0.25f);
    EXPECT_TRUE(flags.ignore_eos);
    EXPECT_EQ(flags.split, "per-forward");
}

TEST(ArgParser, NegativeNumbersAreValues) {
    Flags flags;
    ArgParser parser = make_parser(flags);
    EXPECT_TRUE(parser.parse(std::vector<std::string>{"-n", "-1"}));
    EXPECT_EQ(flags.n_predict, -1);
}

TEST(ArgParser, LaterFlagsWin) {
    Flags flags;
    ArgParser parser = make_parser(flags);
    EXPECT_TRUE(parser.parse(std::vector<std::string>{"-n", "3", "--n-predict", "4"}));
    EXPECT_EQ(flags.n_predict, 4);
}

TEST(ArgParser, ArgcArgvForm) {
    Flags flags;
    ArgParser parser = make_parser(flags);
    const char* argv[] = {"tool", "-n", "9", "-m", "x"};
    EXPECT_TRUE(parser.parse(5, argv));
    EXPECT_EQ(flags.n_predict, 9);
    EXPECT_EQ(flags.model, "x");
}

TEST(ArgParser, HelpStopsParsing) {
    Flags flags;
    ArgParser parser = make_parser(flags);
    EXPECT_FALSE(parser.parse(std::vector<std::string>{"-n", "5", "--help", "--bogus"}));
    EXPECT_FALSE(parser.parse(std::vector<std::string>{"-h"}));
    const std::string help = parser.help();
    for (const char* needle : {"usage: tool", "A test tool.", "-m, --model PATH", "--temp T",
                               "--ignore-eos", "cached|per-forward", "--help"}) {
        EXPECT_NE(help.find(needle), std::string::npos) << needle << " missing from\n" << help;
    }
}

TEST(ArgParser, HelpWrapsLongTextsUnderTheirColumn) {
    ArgParser parser("tool", "A test tool.");
    std::string text;
    for (int i = 0; i < 40; ++i) text += "word" + std::to_string(i) + " ";
    text += "end";
    parser.add_flag({"--long"}, text, nullptr);
    const std::string help = parser.help();
    std::istringstream lines(help);
    size_t text_column = std::string::npos;  // where the flag's text starts on its first line
    size_t n_continued = 0;
    for (std::string line; std::getline(lines, line);) {
        EXPECT_LE(line.size(), 100u) << line;
        if (line.starts_with("  --long ")) text_column = line.find("word0");
        if (line.starts_with("        ")) {
            ++n_continued;
            EXPECT_EQ(line.find_first_not_of(' '), text_column) << line;
        }
    }
    EXPECT_GE(n_continued, 2u) << help;
    // Nothing is lost: the words read as before, in order.
    EXPECT_NE(single_spaced(help).find(text), std::string::npos) << help;
}

TEST(ArgParser, UnknownFlag) {
    const std::string error = parse_error({"--bogus", "1"});
    EXPECT_NE(error.find("unknown flag '--bogus'"), std::string::npos) << error;
    EXPECT_NE(error.find("--help"), std::string::npos) << error;
    EXPECT_NE(parse_error({"--model-path=x"}).find("'--model-path'"), std::string::npos);
}

TEST(ArgParser, MissingValue) {
    const std::string error = parse_error({"-m", "dir", "-n"});
    EXPECT_NE(error.find("-n needs a value"), std::string::npos) << error;
}

TEST(ArgParser, BadNumbers) {
    for (const char* bad : {"abc", "12x", "1.5", "", " 3", "1e3"}) {
        const std::string error = parse_error({"-n", bad});
        EXPECT_NE(error.find("invalid value '" + std::string(bad) + "' for -n"), std::string::npos)
            << error;
        EXPECT_NE(error.find("integer"), std::string::npos) << error;
    }
    for (const char* bad : {"hot", "0.5.1", "nan", ""}) {
        const std::string error = parse_error({"--temp", bad});
        EXPECT_NE(error.find("for --temp"), std::string::npos) << error;
    }
}

TEST(ArgParser, OutOfRangeNumbers) {
    std::string error = parse_error({"-n", "-2"});
    EXPECT_NE(error.find("out of range"), std::string::npos) << error;
    EXPECT_NE(error.find("between -1 and 1000"), std::string::npos) << error;
    error = parse_error({"-n", "99999999999999999999999"});
    EXPECT_NE(error.find("out of range"), std::string::npos) << error;
    error = parse_error({"--temp", "-0.5"});
    EXPECT_NE(error.find("out of range"), std::string::npos) << error;
}

TEST(ArgParser, BadChoice) {
    const std::string error = parse_error({"--split-mode", "fast"});
    EXPECT_NE(error.find("'fast'"), std::string::npos) << error;
    EXPECT_NE(error.find("cached, per-forward"), std::string::npos) << error;
}

TEST(ArgParser, SwitchTakesNoValue) {
    EXPECT_NE(parse_error({"--ignore-eos=1"}).find("takes no value"), std::string::npos);
}

TEST(ArgParser, StrayArgument) {
    const std::string error = parse_error({"-m", "dir", "prompt words"});
    EXPECT_NE(error.find("unexpected argument 'prompt words'"), std::string::npos) << error;
}

TEST(Precision, ParsesF32AndBf16) {
    EXPECT_EQ(llama::cli::parse_precision("--precision", "f32"), llama::PromptPrecision::F32);
    EXPECT_EQ(llama::cli::parse_precision("--precision", "bf16"), llama::PromptPrecision::BF16);
    for (auto precision : {llama::PromptPrecision::F32, llama::PromptPrecision::BF16}) {
        const std::string_view name = llama::cli::precision_name(precision);
        EXPECT_EQ(llama::cli::parse_precision("--precision", name), precision);
    }
}

TEST(Precision, BadValuesNameTheFlagAndTheChoices) {
    for (const char* bad : {"f16", "fp32", "BF16", ""}) {
        try {
            llama::cli::parse_precision("--precision", bad);
            FAIL() << "expected llama::Error for '" << bad << "'";
        } catch (const llama::Error& e) {
            const std::string message = e.what();
            EXPECT_NE(message.find("'" + std::string(bad) + "'"), std::string::npos) << message;
            EXPECT_NE(message.find("--precision"), std::string::npos) << message;
            EXPECT_NE(message.find("f32, bf16"), std::string::npos) << message;
        }
    }
}

TEST(Precision, FlagSetsTheTargetAndExplainsItself) {
    ArgParser parser("tool", "A test tool.");
    auto precision = llama::PromptPrecision::BF16;
    llama::cli::add_precision_flag(parser, &precision);
    EXPECT_TRUE(parser.parse(std::vector<std::string>{"--precision", "f32"}));
    EXPECT_EQ(precision, llama::PromptPrecision::F32);
    EXPECT_TRUE(parser.parse(std::vector<std::string>{"--precision=bf16"}));
    EXPECT_EQ(precision, llama::PromptPrecision::BF16);
    EXPECT_THROW(parser.parse(std::vector<std::string>{"--precision", "int8"}), llama::Error);
    EXPECT_EQ(precision, llama::PromptPrecision::BF16);
    const std::string help = single_spaced(parser.help());
    for (const char* needle : {"--precision f32|bf16", "AMX", "default: bf16"}) {
        EXPECT_NE(help.find(needle), std::string::npos) << needle << " missing from\n" << help;
    }
}

TEST(ParseNumbers, Valid) {
    EXPECT_EQ(llama::cli::parse_int("-x", "42"), 42);
    EXPECT_EQ(llama::cli::parse_int("-x", "-7"), -7);
    EXPECT_DOUBLE_EQ(llama::cli::parse_float("-x", "0.95"), 0.95);
    EXPECT_DOUBLE_EQ(llama::cli::parse_float("-x", "1e-3"), 1e-3);
    EXPECT_DOUBLE_EQ(llama::cli::parse_float("-x", "3"), 3.0);
}

TEST(ContextSize, ZeroMeansModelMaxAndLargerIsAnError) {
    EXPECT_EQ(llama::cli::resolve_context_size(0, 2048), 2048);
    EXPECT_EQ(llama::cli::resolve_context_size(256, 2048), 256);
    EXPECT_EQ(llama::cli::resolve_context_size(2048, 2048), 2048);
    try {
        llama::cli::resolve_context_size(4096, 2048);
        FAIL() << "expected llama::Error";
    } catch (const llama::Error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("4096"), std::string::npos) << message;
        EXPECT_NE(message.find("2048"), std::string::npos) << message;
    }
    EXPECT_THROW(llama::cli::resolve_context_size(-1, 2048), llama::Error);
}

TEST(Defaults, ModelPathAndThreads) {
    EXPECT_FALSE(llama::cli::default_model_path().empty());
    EXPECT_GE(llama::cli::default_threads(), 1);
}

TEST(ReadTextFile, ReadsAndReportsMissingFiles) {
    llama::test::TempDir dir("cli-test");
    const auto file = dir.path() / "prompt.txt";
    std::ofstream(file, std::ios::binary) << "line 1\nline 2\n";
    EXPECT_EQ(llama::cli::read_text_file(file), "line 1\nline 2\n");
    try {
        llama::cli::read_text_file(dir.path() / "missing.txt");
        FAIL() << "expected llama::Error";
    } catch (const llama::Error& e) {
        EXPECT_NE(std::string(e.what()).find("missing.txt"), std::string::npos) << e.what();
    }
    EXPECT_THROW(llama::cli::read_text_file(dir.path()), llama::Error);
}

TEST(Logging, LevelFromFlagThenEnvironmentThenFallback) {
    ::unsetenv("LLAMA_LOG_LEVEL");
    llama::cli::init_logging("", "warn");
    EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
    llama::cli::init_logging("debug");
    EXPECT_EQ(spdlog::get_level(), spdlog::level::debug);
    ::setenv("LLAMA_LOG_LEVEL", "error", 1);
    llama::cli::init_logging("", "warn");
    EXPECT_EQ(spdlog::get_level(), spdlog::level::err);
    llama::cli::init_logging("info");  // the flag beats the environment
    EXPECT_EQ(spdlog::get_level(), spdlog::level::info);
    ::unsetenv("LLAMA_LOG_LEVEL");
    EXPECT_THROW(llama::cli::init_logging("loud"), llama::Error);
    llama::cli::init_logging("warn");
}

TEST(RunTool, ErrorsBecomeExitStatusOne) {
    EXPECT_EQ(llama::cli::run_tool([] { return 0; }), 0);
    testing::internal::CaptureStderr();
    const int status = llama::cli::run_tool([]() -> int { throw llama::Error("bad thing"); });
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(status, 1);
    EXPECT_EQ(err, "error: bad thing\n");
}

}  // namespace
