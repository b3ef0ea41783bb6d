#pragma once

namespace llama {

// How q/k rows pair up dimensions for rotary embeddings. Hugging Face checkpoints rotate the two
// halves of each head (x[i], x[i + d/2]); Meta and GGUF checkpoints rotate adjacent pairs
// (x[2i], x[2i+1]). The loader picks the one matching the file's weight layout.
enum class RopeLayout { RotateHalf, Interleaved };

}  // namespace llama
