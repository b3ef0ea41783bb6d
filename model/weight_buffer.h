#pragma once

#include <cstddef>
#include <memory>

namespace llama {

// A buffer for weights the loader copies or repacks: anonymous memory asking for transparent huge
// pages (MADV_HUGEPAGE, for THP set to "madvise"), so a matrix-vector product streams through
// 2 MiB pages, not 4 KiB ones, and the hardware prefetchers run further without TLB misses. Falls
// back to operator new where mmap fails. Throws std::bad_alloc if neither can allocate.
std::shared_ptr<std::byte[]> allocate_weight_buffer(size_t bytes);

}  // namespace llama
