#include "model/weight_buffer.h"

#include <sys/mman.h>

#include <new>

namespace llama {

std::shared_ptr<std::byte[]> allocate_weight_buffer(size_t bytes) {
    constexpr size_t kHugePage = size_t{2} << 20;
    if (bytes >= kHugePage) {
        void* memory =
            ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory != MAP_FAILED) {
            (void)::madvise(memory, bytes, MADV_HUGEPAGE);  // a hint: ignored where unsupported
            return std::shared_ptr<std::byte[]>(static_cast<std::byte*>(memory),
                                                [bytes](std::byte* p) { ::munmap(p, bytes); });
        }
    }
    return std::shared_ptr<std::byte[]>(new std::byte[bytes]);
}

}  // namespace llama
