#pragma once

// Trains a small sentencepiece model at test time, so tokenizer tests do not depend on a
// shipped file. Settings follow LLaMA's tokenizer: BPE, identity normalization, dummy prefix,
// whitespace kept as is, digits split, optional byte fallback.

#include <sentencepiece_trainer.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace llama::test {

// English-like lines with punctuation and numbers, the same on every run.
inline std::string make_corpus(int n_lines) {
    static const char* const kWords[] = {
        "the",  "of",  "and",   "to",     "in",   "that",  "he",   "shall", "unto",
        "for",  "his", "a",     "lord",   "they", "be",    "is",   "him",   "not",
        "them", "it",  "with",  "all",    "thou", "thy",   "was",  "god",   "which",
        "my",   "me",  "said",  "but",    "ye",   "their", "have", "will",  "land",
        "king", "son", "house", "people", "day",  "came",  "went", "earth", "heaven"};
    std::mt19937 rng(1234);
    std::string text;
    for (int line = 0; line < n_lines; ++line) {
        const int n_words = 3 + static_cast<int>(rng() % 10);
        for (int w = 0; w < n_words; ++w) {
            std::string word = kWords[rng() % std::size(kWords)];
            if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
            if (w > 0) text += ' ';
            text += word;
            if (rng() % 11 == 0) text += ' ' + std::to_string(rng() % 200);
        }
        text += ".,;:"[rng() % 4];
        text += '\n';
    }
    return text;
}

// Writes `dir`/tokenizer.model (and .vocab) and returns the model's path.
// `llama_style` false uses sentencepiece's defaults instead (NFKC, extra whitespace removed),
// which change how decoding treats leading spaces.
inline std::filesystem::path train_tokenizer(const std::filesystem::path& dir, int vocab_size,
                                             bool byte_fallback, bool llama_style = true) {
    std::filesystem::create_directories(dir);
    const auto corpus = dir / "corpus.txt";
    std::ofstream(corpus) << make_corpus(2000);
    const std::string args = "--input=" + corpus.string() +
                             " --model_prefix=" + (dir / "tokenizer").string() +
                             " --vocab_size=" + std::to_string(vocab_size) +
                             " --model_type=bpe --character_coverage=1.0"
                             " --num_threads=1 --minloglevel=2" +
                             (llama_style ? " --normalization_rule_name=identity"
                                            " --remove_extra_whitespaces=false --split_digits=true"
                                          : "") +
                             (byte_fallback ? " --byte_fallback=true" : "");
    const auto status = sentencepiece::SentencePieceTrainer::Train(args);
    if (!status.ok())
        throw std::runtime_error("sentencepiece training failed: " + status.ToString());
    std::filesystem::remove(corpus);
    return dir / "tokenizer.model";
}

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
  public:
    explicit TempDir(const std::string& prefix) {
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() /
                (prefix + "-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace llama::test
