#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace llama {

// A whole file mapped read-only into memory. Weights are views into these bytes, so the mapping
// lives as long as any LlamaModel (or tool) holds the shared_ptr.
class MappedFile {
  public:
    // Throws llama::Error naming the file if it cannot be opened, sized or mapped.
    static std::shared_ptr<MappedFile> open(const std::filesystem::path& path);
    // Bytes already in memory standing in for a file called `name` (fuzzers and tests parse
    // them without touching the disk). The buffer is exactly the file's size, so an address
    // sanitizer catches a read one byte past the end, which a page-rounded mapping would hide.
    static std::shared_ptr<MappedFile> from_bytes(std::filesystem::path name,
                                                  std::vector<std::byte> bytes);

    ~MappedFile();
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    std::span<const std::byte> bytes() const { return {data_, size_}; }
    const std::filesystem::path& path() const { return path_; }
    // The offset of `p` in the file if it points into these bytes (a weight that is a view of
    // the file), else nullopt (a copy the loader made).
    std::optional<size_t> offset_of(const std::byte* p) const {
        // std::less: a total order even for pointers into other objects.
        if (std::less<>{}(p, data_) || !std::less<>{}(p, data_ + size_)) return std::nullopt;
        return static_cast<size_t>(p - data_);
    }

    // Page-cache hints for a byte range of the file (rounded out to whole pages). Failures are
    // ignored: they only cost speed or memory, never correctness.
    void advise_sequential(size_t offset, size_t length) const;
    void advise_willneed(size_t offset, size_t length) const;
    // Maps the range's pages in now (reading them from disk if needed), so later accesses do not
    // fault one page at a time. Uses MADV_POPULATE_READ, or touches each page on older kernels.
    void populate(size_t offset, size_t length) const;
    // Drops the process's resident pages of the range (they are file-backed and clean, so a later
    // read faults them back in from the file). Used after repacking tensors into owned buffers.
    void advise_dontneed(size_t offset, size_t length) const;

  private:
    MappedFile(std::filesystem::path path, const std::byte* data, size_t size);
    MappedFile(std::filesystem::path path, std::vector<std::byte> owned);
    void advise(size_t offset, size_t length, int advice) const;

    std::filesystem::path path_;
    const std::byte* data_ = nullptr;
    size_t size_ = 0;
    std::vector<std::byte> owned_;  // from_bytes: the bytes themselves (data_ points into them)
    bool mapped_ = false;           // data_ is an mmap to unmap and to pass page hints for
};

}  // namespace llama
