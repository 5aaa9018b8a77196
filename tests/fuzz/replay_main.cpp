// replay_main.cpp: a plain main() that runs a fuzz target over files, so the seed corpora (and
// every finding kept in them) replay as ordinary ctest regression tests without libFuzzer or clang.
//
// Usage: fuzz_<target>_replay PATH... (each PATH a file or a directory of files, not recursive).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

int run_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) {
        std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
        return 1;
    }
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    // A copy of exactly `size` bytes, so ASan sees reads past the end like libFuzzer does.
    std::vector<std::uint8_t> buf(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int files = 0, failures = 0;
    for (int i = 1; i < argc; ++i) {
        std::filesystem::path arg(argv[i]);
        std::vector<std::filesystem::path> paths;
        if (std::filesystem::is_directory(arg)) {
            for (const auto& e : std::filesystem::directory_iterator(arg))
                if (e.is_regular_file()) paths.push_back(e.path());
        } else {
            paths.push_back(arg);
        }
        std::sort(paths.begin(), paths.end());
        for (const auto& p : paths) {
            failures += run_file(p);
            ++files;
        }
    }
    std::printf("replay: %d file(s), %d unreadable\n", files, failures);
    return files == 0 || failures != 0 ? 1 : 0;
}
