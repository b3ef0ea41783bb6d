#include "common/cli.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "llama/error.h"
#include "llama/isa.h"

namespace llama::cli {

namespace {

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string join(const std::vector<std::string>& items, std::string_view sep) {
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += sep;
        out += items[i];
    }
    return out;
}

// Help lines wrap at this width, continuing under the column where the help texts start.
constexpr size_t kHelpWidth = 100;

// `text` split at spaces into lines of at most `width` characters (a longer word stays whole).
std::vector<std::string> wrap_words(std::string_view text, size_t width) {
    std::vector<std::string> lines;
    std::string current;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t space = std::min(text.find(' ', start), text.size());
        const std::string_view word = text.substr(start, space - start);
        if (!current.empty() && current.size() + 1 + word.size() > width) {
            lines.push_back(std::move(current));
            current.clear();
        }
        if (!current.empty()) current += ' ';
        current += word;
        start = space + 1;
    }
    lines.push_back(std::move(current));
    return lines;
}

}  // namespace

ArgParser::ArgParser(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

void ArgParser::add_option(std::vector<std::string> names, std::string value_name, std::string help,
                           Setter set) {
    options_.push_back({std::move(names), std::move(value_name), std::move(help), std::move(set)});
}

void ArgParser::add_switch(std::vector<std::string> names, std::string help,
                           std::function<void()> set) {
    options_.push_back({std::move(names), "", std::move(help),
                        [set = std::move(set)](std::string_view, std::string_view) { set(); }});
}

void ArgParser::add_string(std::vector<std::string> names, std::string value_name, std::string help,
                           std::string* target) {
    add_option(std::move(names), std::move(value_name), std::move(help),
               [target](std::string_view, std::string_view value) { *target = value; });
}

void ArgParser::add_int(std::vector<std::string> names, std::string value_name, std::string help,
                        int64_t* target, int64_t min, int64_t max) {
    add_option(std::move(names), std::move(value_name), std::move(help),
               [target, min, max](std::string_view flag, std::string_view value) {
                   *target = parse_int(flag, value, min, max);
               });
}

void ArgParser::add_float(std::vector<std::string> names, std::string value_name, std::string help,
                          float* target, double min, double max) {
    add_option(std::move(names), std::move(value_name), std::move(help),
               [target, min, max](std::string_view flag, std::string_view value) {
                   *target = static_cast<float>(parse_float(flag, value, min, max));
               });
}

void ArgParser::add_flag(std::vector<std::string> names, std::string help, bool* target) {
    add_switch(std::move(names), std::move(help), [target] { *target = true; });
}

void ArgParser::add_choice(std::vector<std::string> names, std::vector<std::string> choices,
                           std::string help, std::string* target) {
    const std::string value_name = join(choices, "|");
    add_option(std::move(names), value_name, std::move(help),
               [target, choices](std::string_view flag, std::string_view value) {
                   for (const auto& c : choices) {
                       if (value == c) {
                           *target = c;
                           return;
                       }
                   }
                   throw Error("invalid value " + in_quotes(value) + " for " + std::string(flag) +
                               ": expected one of " + join(choices, ", "));
               });
}

const ArgParser::Option* ArgParser::find(std::string_view name) const {
    for (const auto& option : options_) {
        for (const auto& n : option.names) {
            if (n == name) return &option;
        }
    }
    return nullptr;
}

bool ArgParser::parse(int argc, const char* const* argv) {
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
    return parse(args);
}

bool ArgParser::parse(std::span<const std::string> args) {
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "-h" || arg == "--help") return false;
        if (arg.size() < 2 || arg[0] != '-') {
            throw Error("unexpected argument " + in_quotes(arg) + " (flags start with '-'; see " +
                        program_ + " --help)");
        }
        std::string name = arg;
        std::optional<std::string> inline_value;
        if (arg.starts_with("--")) {
            if (const auto eq = arg.find('='); eq != std::string::npos) {
                name = arg.substr(0, eq);
                inline_value = arg.substr(eq + 1);
            }
        }
        const Option* option = find(name);
        if (!option) {
            throw Error("unknown flag " + in_quotes(name) + " (see " + program_ + " --help)");
        }
        if (option->value_name.empty()) {
            if (inline_value) throw Error("flag " + name + " takes no value");
            option->set(name, {});
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= args.size()) {
                throw Error("flag " + name + " needs a value (" + option->value_name + ")");
            }
            inline_value = args[++i];
        }
        option->set(name, *inline_value);
    }
    return true;
}

std::string ArgParser::help() const {
    std::ostringstream out;
    out << "usage: " << program_ << " [options]\n\n" << summary_ << "\n\noptions:\n";
    std::vector<std::string> heads;
    size_t width = std::string("  -h, --help").size();
    for (const auto& option : options_) {
        std::string head = "  " + join(option.names, ", ");
        if (!option.value_name.empty()) head += " " + option.value_name;
        width = std::max(width, head.size());
        heads.push_back(std::move(head));
    }
    const size_t text_column = width + 2;
    const size_t text_width = std::max<size_t>(kHelpWidth - std::min(text_column, kHelpWidth), 30);
    const auto line = [&](const std::string& head, const std::string& text) {
        const std::vector<std::string> parts = wrap_words(text, text_width);
        out << head << std::string(text_column - head.size(), ' ') << parts[0] << "\n";
        for (size_t i = 1; i < parts.size(); ++i) {
            out << std::string(text_column, ' ') << parts[i] << "\n";
        }
    };
    line("  -h, --help", "show this help and exit");
    for (size_t i = 0; i < options_.size(); ++i) line(heads[i], options_[i].help);
    return out.str();
}

int64_t parse_int(std::string_view flag, std::string_view value, int64_t min, int64_t max) {
    int64_t result = 0;
    const char* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, result);
    if (value.empty() || ec == std::errc::invalid_argument || ptr != end) {
        throw Error("invalid value " + in_quotes(value) + " for " + std::string(flag) +
                    ": expected an integer");
    }
    if (ec == std::errc::result_out_of_range || result < min || result > max) {
        std::string range;
        if (min != INT64_MIN && max != INT64_MAX) {
            range = "between " + std::to_string(min) + " and " + std::to_string(max);
        } else if (min != INT64_MIN) {
            range = ">= " + std::to_string(min);
        } else {
            range = "<= " + std::to_string(max);
        }
        throw Error("value " + in_quotes(value) + " for " + std::string(flag) +
                    " is out of range: " + "must be " + range);
    }
    return result;
}

double parse_float(std::string_view flag, std::string_view value, double min, double max) {
    double result = 0.0;
    const char* end = value.data() + value.size();
    const auto [ptr, ec] = std::from_chars(value.data(), end, result);
    if (value.empty() || ec == std::errc::invalid_argument || ptr != end || std::isnan(result)) {
        throw Error("invalid value " + in_quotes(value) + " for " + std::string(flag) +
                    ": expected a number");
    }
    if (ec == std::errc::result_out_of_range || result < min || result > max) {
        std::ostringstream range;
        range << "must be between " << min << " and " << max;
        throw Error("value " + in_quotes(value) + " for " + std::string(flag) +
                    " is out of range: " + range.str());
    }
    return result;
}

PromptPrecision parse_precision(std::string_view flag, std::string_view value) {
    if (value == "f32") return PromptPrecision::F32;
    if (value == "bf16") return PromptPrecision::BF16;
    throw Error("invalid value " + in_quotes(value) + " for " + std::string(flag) +
                ": expected one of f32, bf16");
}

std::string_view precision_name(PromptPrecision precision) {
    return precision == PromptPrecision::F32 ? "f32" : "bf16";
}

void add_isa_flag(ArgParser& parser, std::string* target) {
    parser.add_option({"--isa"}, std::string(isa_names()),
                      "cap the kernels' instruction set at this level, for comparisons and tests "
                      "(default: $LLAMA_ISA, else everything the CPU has: " +
                          std::string(isa_name(detected_isa())) + " here)",
                      [target](std::string_view flag, std::string_view value) {
                          if (!parse_isa(value)) {
                              throw Error("invalid value '" + std::string(value) + "' for " +
                                          std::string(flag) + ": expected one of " +
                                          std::string(isa_names()));
                          }
                          *target = std::string(value);
                      });
}

void apply_isa_flag(const std::string& isa) {
    if (isa.empty()) {
        apply_isa_environment();
    } else {
        set_isa_cap(isa, "--isa");
    }
}

void add_precision_flag(ArgParser& parser, PromptPrecision* target) {
    parser.add_option({"--precision"}, "f32|bf16",
                      "arithmetic of prompt processing (many tokens per forward): bf16 multiplies "
                      "in bfloat16 on AMX tiles or with AVX512-BF16 dot products (AMD), several "
                      "times faster than f32 with logits within about 1e-2 relative, where the ISA "
                      "level has them (elsewhere it runs f32), and one-token generation with F16 "
                      "weights reads the activations rounded to f16, as llama.cpp does; f32 is "
                      "exact fp32 everywhere (default: " +
                          std::string(precision_name(*target)) + ")",
                      [target](std::string_view flag, std::string_view value) {
                          *target = parse_precision(flag, value);
                      });
}

std::filesystem::path default_model_path() {
#ifdef LLAMA_INSTALLED_MODEL_DIR
    // Relative to the executable's directory, so an installed tree works wherever it is put.
    std::error_code error;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
    if (!error) {
        const std::filesystem::path installed =
            (exe.parent_path() / LLAMA_INSTALLED_MODEL_DIR).lexically_normal();
        if (std::filesystem::is_regular_file(installed / "config.json", error)) return installed;
    }
#endif
#ifdef LLAMA_DEFAULT_MODEL_DIR
    return LLAMA_DEFAULT_MODEL_DIR;
#else
    return "model/kjv-tiny";
#endif
}

int default_threads() {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : static_cast<int>(n);
}

void init_logging(std::string_view level, std::string_view fallback) {
    std::string chosen(level);
    if (chosen.empty()) {
        const char* env = std::getenv("LLAMA_LOG_LEVEL");
        chosen = env && *env ? env : std::string(fallback);
    }
    static constexpr std::string_view kLevels[] = {"trace", "debug",    "info", "warn",
                                                   "error", "critical", "off"};
    bool known = false;
    for (auto name : kLevels) known = known || name == chosen;
    if (chosen == "warning") chosen = "warn", known = true;
    if (!known) {
        throw Error("unknown log level " + in_quotes(chosen) +
                    ": expected trace, debug, info, warn, error, critical or off");
    }
    // Logs go to stderr so stdout carries only the tool's output.
    auto logger = std::make_shared<spdlog::logger>(
        "llama", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    spdlog::set_default_logger(std::move(logger));
    spdlog::set_level(spdlog::level::from_str(chosen));
}

int64_t resolve_context_size(int64_t requested, int64_t model_max) {
    if (requested < 0) {
        throw Error("context size must be >= 0 (0 = the model's maximum), got " +
                    std::to_string(requested));
    }
    if (requested == 0) return model_max;
    if (requested > model_max) {
        throw Error("context size " + std::to_string(requested) +
                    " is larger than the model's maximum context of " + std::to_string(model_max));
    }
    return requested;
}

std::string read_text_file(const std::filesystem::path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        throw Error("cannot read " + path.string() + ": no such file");
    }
    if (std::filesystem::is_directory(path, ec)) {
        throw Error("cannot read " + path.string() + ": it is a directory");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open " + path.string());
    std::ostringstream contents;
    contents << in.rdbuf();
    if (in.bad()) throw Error("error while reading " + path.string());
    return contents.str();
}

int run_tool(const std::function<int()>& body) {
    try {
        return body();
    } catch (const std::exception& e) {
        std::cout.flush();
        std::cerr << "error: " << e.what() << std::endl;
        return 1;
    } catch (...) {
        std::cout.flush();
        std::cerr << "error: unknown failure" << std::endl;
        return 1;
    }
}

}  // namespace llama::cli
