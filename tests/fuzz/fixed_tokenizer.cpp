#include "tests/fuzz/fixed_tokenizer.h"

#include "tests/fuzz/targets.h"

namespace llama::fuzz {

const Tokenizer& fixed_tokenizer() {
    static const Tokenizer tokenizer =
        Tokenizer::load(std::string(LLAMA_SOURCE_DIR) + "/model/kjv-tiny/tokenizer.model");
    return tokenizer;
}

void prepare_targets() { fixed_tokenizer(); }

}  // namespace llama::fuzz
