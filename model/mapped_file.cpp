#include "model/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "llama/error.h"

namespace llama {
namespace {

std::string errno_text() { return std::strerror(errno); }

// Closes the descriptor on every path out of open(); the mapping does not need it.
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::filesystem::path& path) {
    FdGuard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0) {
        throw Error("cannot open " + path.string() + ": " + errno_text());
    }
    struct stat info {};
    if (::fstat(fd.fd, &info) != 0) {
        throw Error("cannot stat " + path.string() + ": " + errno_text());
    }
    if (!S_ISREG(info.st_mode)) {
        throw Error(path.string() + " is not a regular file");
    }
    const auto size = static_cast<size_t>(info.st_size);
    if (size == 0) {
        // mmap rejects empty mappings; an empty file is still a valid (if useless) input.
        return std::shared_ptr<MappedFile>(new MappedFile(path, nullptr, 0));
    }
    void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
    if (data == MAP_FAILED) {
        throw Error("cannot memory-map " + path.string() + ": " + errno_text());
    }
    return std::shared_ptr<MappedFile>(
        new MappedFile(path, static_cast<const std::byte*>(data), size));
}

std::shared_ptr<MappedFile> MappedFile::from_bytes(std::filesystem::path name,
                                                   std::vector<std::byte> bytes) {
    return std::shared_ptr<MappedFile>(new MappedFile(std::move(name), std::move(bytes)));
}

MappedFile::MappedFile(std::filesystem::path path, const std::byte* data, size_t size)
    : path_(std::move(path)), data_(data), size_(size), mapped_(data != nullptr) {}

MappedFile::MappedFile(std::filesystem::path path, std::vector<std::byte> owned)
    : path_(std::move(path)), owned_(std::move(owned)) {
    data_ = owned_.empty() ? nullptr : owned_.data();
    size_ = owned_.size();
}

MappedFile::~MappedFile() {
    if (mapped_) ::munmap(const_cast<std::byte*>(data_), size_);
}

void MappedFile::advise(size_t offset, size_t length, int advice) const {
    if (!mapped_ || offset >= size_ || length == 0) return;
    length = std::min(length, size_ - offset);
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t begin = offset / page * page;  // the mapping itself is page aligned
    size_t end = offset + length;
    if (advice == MADV_DONTNEED) {
        // Only drop pages entirely inside the range: neighbours may still be in use.
        const size_t inner_begin = (offset + page - 1) / page * page;
        const size_t inner_end = end / page * page;
        if (inner_end <= inner_begin) return;
        ::madvise(const_cast<std::byte*>(data_) + inner_begin, inner_end - inner_begin, advice);
        return;
    }
    ::madvise(const_cast<std::byte*>(data_) + begin, end - begin, advice);
}

void MappedFile::advise_sequential(size_t offset, size_t length) const {
    advise(offset, length, MADV_SEQUENTIAL);
}
void MappedFile::advise_willneed(size_t offset, size_t length) const {
    advise(offset, length, MADV_WILLNEED);
}
void MappedFile::populate(size_t offset, size_t length) const {
    if (!mapped_ || offset >= size_) return;
    length = std::min(length, size_ - offset);
    const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t begin = offset / page * page;
    const size_t end = offset + length;
#ifdef MADV_POPULATE_READ
    if (::madvise(const_cast<std::byte*>(data_) + begin, end - begin, MADV_POPULATE_READ) == 0) {
        return;
    }
#endif
    volatile unsigned char sink = 0;
    for (size_t at = begin; at < end; at += page) {
        sink = sink + static_cast<unsigned char>(data_[at]);
    }
}

void MappedFile::advise_dontneed(size_t offset, size_t length) const {
    advise(offset, length, MADV_DONTNEED);
}

}  // namespace llama
