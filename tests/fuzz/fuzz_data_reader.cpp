// fuzz_data_reader.cpp: smtp::DataReader fed the same bytes whole and in random splits.
// Input: the first 2 bytes pick the limits, the rest is DATA content as a client sends it.
// Invariants: every split gives the same consumed count, flags and content; the end of data is
// only ever CRLF "." CRLF; an accepted message has no bare CR/LF and respects the limits.
#include <string>
#include <string_view>

#include "fuzz.hpp"
#include "smtp/data_reader.hpp"

using sluice::smtp::DataReader;

namespace {

struct Result {
    std::size_t used = 0;
    bool done, bare, nul, too_big, too_long;
    std::size_t size;
    std::string data;
};

Result run(std::string_view in, std::size_t max_size, std::size_t max_line,
           sluice::fuzz::Rng* rng) {
    DataReader r(max_size, max_line);
    Result res{};
    std::size_t pos = 0;
    while (pos < in.size() && !r.done()) {
        std::size_t n = rng ? rng->chunk(in.size() - pos) : in.size() - pos;
        std::size_t used = r.feed(in.substr(pos, n));
        FUZZ_CHECK(used <= n);
        FUZZ_CHECK(used == n || r.done());  // stops early only at the end marker
        pos += used;
        res.used += used;
    }
    res.done = r.done();
    res.bare = r.bare_cr_or_lf();
    res.nul = r.nul();
    res.too_big = r.too_big();
    res.too_long = r.line_too_long();
    res.size = r.size();
    if (r.ok()) res.data = r.data();
    return res;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    std::size_t max_size = 16 + data[0] * 8;  // small limits so the fuzzer reaches them
    std::size_t max_line = 8 + data[1];
    std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);

    Result whole = run(in, max_size, max_line, nullptr);
    sluice::fuzz::Rng rng(in);
    for (int round = 0; round < 3; ++round) {
        Result split = run(in, max_size, max_line, &rng);
        FUZZ_CHECK(split.used == whole.used);
        FUZZ_CHECK(split.done == whole.done);
        FUZZ_CHECK(split.bare == whole.bare && split.nul == whole.nul);
        FUZZ_CHECK(split.too_big == whole.too_big && split.too_long == whole.too_long);
        FUZZ_CHECK(split.size == whole.size);
        FUZZ_CHECK(split.data == whole.data);
    }
    if (whole.done) {
        std::string_view consumed = in.substr(0, whole.used);
        FUZZ_CHECK(consumed == ".\r\n" ||
                   (consumed.size() >= 5 && consumed.substr(consumed.size() - 5) == "\r\n.\r\n"));
        // The marker is the first CRLF.CRLF: nothing before it ends the message.
        std::string framed = "\r\n" + std::string(consumed);
        FUZZ_CHECK(framed.find("\r\n.\r\n") == framed.size() - 5);
    } else {
        FUZZ_CHECK(whole.used == in.size());
    }
    bool ok = !whole.bare && !whole.nul && !whole.too_big && !whole.too_long;
    if (ok && whole.done) {
        FUZZ_CHECK(whole.data.size() <= max_size);
        FUZZ_CHECK(whole.data.size() == whole.size);
        FUZZ_CHECK(whole.data.empty() ||
                   (whole.data.size() >= 2 && whole.data.substr(whole.data.size() - 2) == "\r\n"));
        for (std::size_t i = 0; i < whole.data.size(); ++i) {
            if (whole.data[i] == '\n') FUZZ_CHECK(i > 0 && whole.data[i - 1] == '\r');
            if (whole.data[i] == '\r')
                FUZZ_CHECK(i + 1 < whole.data.size() && whole.data[i + 1] == '\n');
            FUZZ_CHECK(whole.data[i] != '\0');
        }
    }
    (void)sluice::smtp::count_received_headers(in);
    return 0;
}
