// fuzz.hpp: shared helpers for the fuzz targets (tests/fuzz/fuzz_*.cpp).
//
// Every target defines LLVMFuzzerTestOneInput. It is linked either with libFuzzer (SLUICE_FUZZ=ON,
// clang) or with replay_main.cpp, which runs it over the files of a seed corpus as a plain ctest.
// FUZZ_CHECK is an invariant check that aborts in both builds (assert() vanishes with NDEBUG).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                     \
        }                                                                                     \
    } while (0)

namespace sluice::fuzz {

// A small deterministic generator (splitmix64), seeded from the input so a run is reproducible
// from the input file alone.
class Rng {
  public:
    explicit Rng(std::string_view seed) {
        std::uint64_t h = 1469598103934665603ull;  // FNV-1a
        for (unsigned char c : seed) h = (h ^ c) * 1099511628211ull;
        state_ = h;
    }
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    // 1..max, biased towards small chunks (the interesting splits cut CRLF and "." apart).
    std::size_t chunk(std::size_t max) {
        std::uint64_t r = next();
        std::size_t limit = (r & 3) == 0 ? max : ((r & 3) == 1 ? 3 : 17);
        if (limit > max) limit = max;
        return limit == 0 ? 1 : 1 + static_cast<std::size_t>((r >> 8) % limit);
    }

  private:
    std::uint64_t state_;
};

}  // namespace sluice::fuzz
