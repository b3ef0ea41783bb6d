#pragma once

// The real workload: an InferenceContext over a model, one per configuration, with fixed seeded
// tokens; the split path is switched on the same context so memory and inputs are identical.

#include <cstdint>
#include <memory>

#include "llama/context.h"
#include "llama/model.h"
#include "tools/llama-bench/runner.h"

namespace llama::bench {

class LlamaWorkloadSource : public WorkloadSource {
  public:
    // base: threads, ubatch (n_batch) and arithmetic of every context; n_ctx, n_seqs and the
    // split mode are set per configuration and arm. max_bytes: configurations whose context
    // memory estimate exceeds it are refused (0 = none).
    LlamaWorkloadSource(const LlamaModel& model, const ContextParams& base, uint64_t seed,
                        int64_t max_bytes);

    std::unique_ptr<Workload> open(const ConfigKey& key) override;
    // Floating-point operations of one measurement, prefill included.
    double cost(const ConfigKey& key) const override;
    // KV cache, activations and logits of a context for `key`, in bytes (weights excluded).
    int64_t context_bytes(const ConfigKey& key) const;

  private:
    const LlamaModel& model_;
    ContextParams base_;
    uint64_t seed_;
    int64_t max_bytes_;
};

}  // namespace llama::bench
