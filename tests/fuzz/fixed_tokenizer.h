#pragma once

#include "llama/tokenizer.h"

namespace llama::fuzz {

// The shipped kjv-tiny sentencepiece model (BPE with byte fallback, LLaMA's settings), loaded
// once: the text and chat targets fuzz what goes through a tokenizer, not the tokenizer file.
const Tokenizer& fixed_tokenizer();

}  // namespace llama::fuzz
