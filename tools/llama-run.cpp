// llama-run: generates text from a prompt with a LLaMA model, streaming it to stdout; load time
// and speeds go to stderr. With --chat it holds a LLaMA-2-chat conversation instead: the
// messages come from -p/-f (one turn) or stdin (a line per turn, interactive on a terminal).

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <random>
#include <string>

#include "common/cli.h"
#include "common/run_flags.h"
#include "llama/chat.h"
#include "llama/context.h"
#include "llama/error.h"
#include "llama/generator.h"
#include "llama/model.h"
#include "llama/tokenizer.h"

namespace {

struct GenerateOptions {
    llama::cli::RunOptions run;
    std::string prompt;
    bool prompt_given = false;
    std::string prompt_file;
    int64_t n_predict = 128;
    bool n_predict_given = false;
    int64_t ctx_size = 0;
    float temperature = 0.8f;
    int64_t top_k = 40;
    float top_p = 0.95f;
    float min_p = 0.05f;
    float repeat_penalty = 1.0f;
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    int64_t repeat_last_n = 64;
    int64_t seed = -1;
    bool no_bos = false;
    bool ignore_eos = false;
    bool chat = false;
    std::optional<std::string> system;
};

constexpr const char* kDefaultPrompt = "And God said";

bool print_piece(std::string_view piece) {
    std::cout << piece << std::flush;
    return true;
}

void check_flags(const GenerateOptions& opt) {
    if (opt.prompt_given && !opt.prompt_file.empty()) {
        throw llama::Error("give the prompt with -p or -f, not both");
    }
    if (opt.system && !opt.chat) {
        throw llama::Error("--system sets the system prompt of a chat: it needs --chat");
    }
    if (opt.chat && opt.no_bos) {
        throw llama::Error(
            "--no-bos does not apply to --chat: the chat format puts BOS before "
            "every message");
    }
}

// The user's messages: the one from -p/-f, else the lines of stdin, with "> " on stderr before
// each when stdin is a terminal. Ends at end of input.
class MessageSource {
  public:
    explicit MessageSource(std::optional<std::string> single)
        : single_(std::move(single)), interactive_(!single_ && isatty(STDIN_FILENO)) {}

    std::optional<std::string> next() {
        if (single_) {
            if (single_used_) return std::nullopt;
            single_used_ = true;
            return single_;
        }
        if (interactive_) std::cerr << "> " << std::flush;
        std::string line;
        if (!std::getline(std::cin, line)) {
            if (interactive_) std::cerr << std::endl;  // the shell's prompt on a line of its own
            return std::nullopt;
        }
        return line;
    }

  private:
    std::optional<std::string> single_;
    bool interactive_;
    bool single_used_ = false;
};

// Answers each message on stdout, one answer per line; returns the totals over all turns.
llama::GenerationStats run_chat(llama::InferenceContext& context, const llama::Tokenizer& tokenizer,
                                const std::optional<std::string>& system,
                                const std::optional<std::string>& prompt,
                                const llama::GenerationParams& params) {
    llama::ChatSession session(context, tokenizer, system, params);
    MessageSource messages(prompt);
    llama::GenerationStats total;
    while (const std::optional<std::string> message = messages.next()) {
        const std::string_view text = llama::strip_whitespace(*message);
        if (text == "/bye") break;
        if (text.empty()) continue;
        const llama::GenerationStats stats = session.reply(text, print_piece);
        std::cout << std::endl;
        total.prompt_tokens += stats.prompt_tokens;
        total.generated_tokens += stats.generated_tokens;
        total.prompt_seconds += stats.prompt_seconds;
        total.generation_seconds += stats.generation_seconds;
        total.stop_reason = stats.stop_reason;
        if (stats.stop_reason == llama::StopReason::ContextFull) {
            throw llama::Error("the conversation filled the context (" +
                               std::to_string(context.n_ctx()) +
                               " tokens) before the answer ended; raise the context size (-c) "
                               "or limit the answers (-n)");
        }
    }
    return total;
}

int run(int argc, char** argv) {
    GenerateOptions opt;

    llama::cli::ArgParser parser("llama-run",
                                 "Generates text from a prompt with a LLaMA model and streams it "
                                 "to stdout; timings go to stderr.");
    llama::cli::add_run_flags(parser, &opt.run);
    parser.add_option({"-p", "--prompt"}, "TEXT",
                      std::string("prompt (default: \"") + kDefaultPrompt + "\")",
                      [&](std::string_view, std::string_view value) {
                          opt.prompt = value;
                          opt.prompt_given = true;
                      });
    parser.add_string({"-f", "--file"}, "FILE", "read the prompt from FILE", &opt.prompt_file);
    parser.add_option({"-n", "--n-predict"}, "N",
                      "tokens to generate (per answer with --chat), -1 = until EOS or the "
                      "context is full (default: 128; with --chat -1)",
                      [&](std::string_view flag, std::string_view value) {
                          opt.n_predict = llama::cli::parse_int(flag, value, -1);
                          opt.n_predict_given = true;
                      });
    parser.add_int({"-c", "--ctx-size"}, "N", "context size in tokens, 0 = the model's maximum",
                   &opt.ctx_size, 0);
    parser.add_float({"--temp"}, "T", "temperature, 0 = greedy (default: 0.8)", &opt.temperature,
                     0.0);
    parser.add_int({"--top-k"}, "N", "top-k sampling, 0 = off (default: 40)", &opt.top_k, 0,
                   INT32_MAX);
    parser.add_float({"--top-p"}, "P", "top-p sampling, 1 = off (default: 0.95)", &opt.top_p, 1e-6,
                     1.0);
    parser.add_float({"--min-p"}, "P",
                     "min-p sampling: drop tokens below P times the most likely one's "
                     "probability, 0 = off (default: 0.05)",
                     &opt.min_p, 0.0, 1.0);
    parser.add_float({"--repeat-penalty"}, "X",
                     "penalty for repeating recent tokens, 1 = off (default: 1.0)",
                     &opt.repeat_penalty, 1e-6);
    parser.add_float({"--presence-penalty"}, "X",
                     "subtracted from the logit of every recent token, 0 = off (default: 0)",
                     &opt.presence_penalty, -2.0, 2.0);
    parser.add_float({"--frequency-penalty"}, "X",
                     "subtracted from a recent token's logit per occurrence, 0 = off (default: 0)",
                     &opt.frequency_penalty, -2.0, 2.0);
    parser.add_int({"--repeat-last-n"}, "N",
                   "how many recent tokens the penalties look at, 0 = off (default: 64)",
                   &opt.repeat_last_n, 0, INT32_MAX);
    parser.add_int({"-s", "--seed"}, "N", "random seed, -1 = random (default: -1; printed)",
                   &opt.seed, -1);
    parser.add_flag({"--chat"},
                    "LLaMA-2-chat conversation: \"[INST] ... [/INST]\" turns, the KV cache kept "
                    "from turn to turn; the message is -p/-f (one turn), else each line of stdin "
                    "(interactive on a terminal; \"/bye\" or end of input quits)",
                    &opt.chat);
    parser.add_option({"-sys", "--system"}, "TEXT",
                      "system prompt of a --chat conversation (a <<SYS>> block in the first "
                      "message; default: none)",
                      [&](std::string_view, std::string_view value) { opt.system = value; });
    parser.add_flag({"--no-bos"}, "do not put BOS before the prompt", &opt.no_bos);
    parser.add_flag({"--ignore-eos"}, "keep generating past end-of-sequence", &opt.ignore_eos);
    if (!parser.parse(argc, argv)) {
        std::cout << parser.help();
        return 0;
    }
    llama::cli::init_logging(opt.run.log_level);
    llama::cli::apply_isa_flag(opt.run.isa);
    check_flags(opt);

    uint64_t seed = static_cast<uint64_t>(opt.seed);
    if (opt.seed < 0) seed = std::random_device{}() & 0xFFFFFFFFu;
    // Read before loading, so a missing prompt file fails fast.
    std::optional<std::string> prompt;
    if (opt.prompt_given) prompt = opt.prompt;
    if (!opt.prompt_file.empty()) prompt = llama::cli::read_text_file(opt.prompt_file);

    using Clock = std::chrono::steady_clock;
    const auto load_start = Clock::now();
    const llama::LlamaModel model = llama::load_model(opt.run.model);
    const llama::Tokenizer tokenizer = llama::Tokenizer::load(opt.run.model);
    const int64_t n_ctx = llama::cli::resolve_context_size(opt.ctx_size, model.config.max_context);
    llama::InferenceContext context(model, llama::cli::context_params(opt.run, n_ctx));
    const double load_seconds = std::chrono::duration<double>(Clock::now() - load_start).count();
    spdlog::info("{}", llama::cli::describe(opt.run, n_ctx));

    llama::GenerationParams params;
    params.n_predict = opt.n_predict;
    if (opt.chat && !opt.n_predict_given) params.n_predict = -1;  // answers end at EOS
    params.add_bos = !opt.no_bos;
    params.ignore_eos = opt.ignore_eos;
    params.echo_prompt = true;
    params.sampler.temperature = opt.temperature;
    params.sampler.top_k = static_cast<int32_t>(opt.top_k);
    params.sampler.top_p = opt.top_p;
    params.sampler.min_p = opt.min_p;
    params.sampler.repeat_penalty = opt.repeat_penalty;
    params.sampler.presence_penalty = opt.presence_penalty;
    params.sampler.frequency_penalty = opt.frequency_penalty;
    params.sampler.repeat_last_n = static_cast<int32_t>(opt.repeat_last_n);
    params.sampler.seed = seed;

    llama::GenerationStats stats;
    if (opt.chat) {
        stats = run_chat(context, tokenizer, opt.system, prompt, params);
    } else {
        stats = llama::generate(context, tokenizer, prompt.value_or(kDefaultPrompt), params,
                                print_piece);
        std::cout << std::endl;
    }

    std::fprintf(stderr, "seed = %llu\n", static_cast<unsigned long long>(seed));
    std::fprintf(stderr, "load time: %.3f s\n", load_seconds);
    std::fprintf(stderr, "prompt: %lld tokens in %.3f s (%.2f tokens/s)\n",
                 static_cast<long long>(stats.prompt_tokens), stats.prompt_seconds,
                 stats.prompt_tokens_per_second());
    std::fprintf(stderr, "generation: %lld tokens in %.3f s (%.2f tokens/s)\n",
                 static_cast<long long>(stats.generated_tokens), stats.generation_seconds,
                 stats.generation_tokens_per_second());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return llama::cli::run_tool([&] { return run(argc, argv); });
}
