// fuzz_spool_format.cpp: the queue file decoder (spool::decode) on arbitrary bytes.
// Invariants: no crash or over-read on any input; whatever decodes re-encodes to a file that
// decodes to the same message (the format round-trips).
#include <string>
#include <string_view>

#include "fuzz.hpp"
#include "spool/format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    std::string error;
    auto m = sluice::spool::decode(in, &error);
    if (!m) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    FUZZ_CHECK(m->message.size() <= size);
    std::string again = sluice::spool::encode(*m);
    auto m2 = sluice::spool::decode(again);
    FUZZ_CHECK(m2.has_value());
    FUZZ_CHECK(m2->envelope == m->envelope);
    FUZZ_CHECK(m2->message == m->message);
    return 0;
}
