#pragma once

// Helpers for the GGUF tests: a scratch directory, a little-endian byte builder for hand-made
// (often deliberately broken) files, and an assertion that a call throws llama::Error whose
// message contains a given text.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "llama/error.h"

namespace llama::test {

class TempDir {
  public:
    TempDir() {
        static std::atomic<int> counter{0};
        path_ = std::filesystem::temp_directory_path() /
                ("llama-gguf-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  private:
    std::filesystem::path path_;
};

struct ByteWriter {
    std::vector<uint8_t> bytes;

    template <typename T>
    ByteWriter& put(T value) {
        const auto* p = reinterpret_cast<const uint8_t*>(&value);
        bytes.insert(bytes.end(), p, p + sizeof(T));
        return *this;
    }
    ByteWriter& u8(uint8_t v) { return put(v); }
    ByteWriter& u32(uint32_t v) { return put(v); }
    ByteWriter& u64(uint64_t v) { return put(v); }
    ByteWriter& f32(float v) { return put(v); }
    ByteWriter& raw(const std::string& s) {
        bytes.insert(bytes.end(), s.begin(), s.end());
        return *this;
    }
    ByteWriter& magic() { return raw("GGUF"); }
    ByteWriter& str(const std::string& s) { return u64(s.size()).raw(s); }
    ByteWriter& zeros(size_t n) {
        bytes.resize(bytes.size() + n, 0);
        return *this;
    }
    ByteWriter& pad(size_t alignment) {
        while (bytes.size() % alignment != 0) bytes.push_back(0);
        return *this;
    }
    std::filesystem::path save(const std::filesystem::path& path) const {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
        return path;
    }
};

inline void expect_error(const std::function<void()>& call, const std::string& expected) {
    try {
        call();
        ADD_FAILURE() << "expected llama::Error containing \"" << expected << "\"";
    } catch (const llama::Error& e) {
        EXPECT_NE(std::string(e.what()).find(expected), std::string::npos)
            << "message: " << e.what() << "\nexpected to contain: " << expected;
    }
}

// Logits [positions, vocab]: max |a - b| over a position relative to the largest |b| of that
// position (NaN counts as infinitely far); the worst position.
inline double worst_relative_error(const std::vector<float>& a, const std::vector<float>& b,
                                   int64_t vocab) {
    EXPECT_EQ(a.size(), b.size());
    double worst = 0.0;
    for (size_t p = 0; p < b.size() / vocab; ++p) {
        double diff = 0.0, scale = 1e-6;
        for (int64_t i = 0; i < vocab; ++i) {
            const double d = std::fabs(double(a[p * vocab + i]) - double(b[p * vocab + i]));
            diff = std::max(diff, std::isnan(d) ? INFINITY : d);
            scale = std::max(scale, std::fabs(double(b[p * vocab + i])));
        }
        worst = std::max(worst, diff / scale);
    }
    return worst;
}

}  // namespace llama::test
