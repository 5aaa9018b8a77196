// fuzz_address.cpp: the RFC 5321 path parser (parse_path) and the UTF-8 helpers.
// Input: first byte selects allow_null / allow_postmaster, the rest is the path text.
// Invariants: limits hold, `rest` is a suffix of the input, a parsed mailbox written back as
// "<local@domain>" parses again to the same mailbox (what we store is what we would accept).
#include <string>
#include <string_view>

#include "fuzz.hpp"
#include "smtp/address.hpp"

using namespace sluice::smtp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    bool allow_null = data[0] & 1;
    bool allow_postmaster = data[0] & 2;
    std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);

    PathResult r = parse_path(in, allow_null, allow_postmaster);
    if (!r.path) {
        FUZZ_CHECK(r.error != AddressError::none);
        return 0;
    }
    FUZZ_CHECK(r.error == AddressError::none);
    FUZZ_CHECK(r.rest.size() <= in.size());
    FUZZ_CHECK(r.rest.empty() || r.rest.data() + r.rest.size() == in.data() + in.size());
    if (r.path->null) {
        FUZZ_CHECK(allow_null);
        return 0;
    }
    const Mailbox& m = r.path->mailbox;
    FUZZ_CHECK(!m.local.empty() && m.local.size() <= 64);
    FUZZ_CHECK(m.domain.size() <= 255);
    FUZZ_CHECK(m.domain.empty() == false || allow_postmaster);
    FUZZ_CHECK(valid_utf8(m.local) && valid_utf8(m.domain));
    for (unsigned char c : m.local + m.domain) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
    FUZZ_CHECK(
        m.utf8 ==
        !(std::string_view(m.local + m.domain)
              .find_first_of("\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f"
                             "\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f"
                             "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf"
                             "\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf"
                             "\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf"
                             "\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf"
                             "\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef"
                             "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff") ==
          std::string_view::npos));

    // Round trip: the canonical form parses to the same mailbox.
    std::string again = "<" + m.str() + ">";
    PathResult r2 = parse_path(again, false, allow_postmaster);
    FUZZ_CHECK(r2.path && !r2.path->null);
    FUZZ_CHECK(r2.rest.empty());
    FUZZ_CHECK(r2.path->mailbox.local == m.local);
    FUZZ_CHECK(r2.path->mailbox.domain == m.domain);

    std::string unq = unquote_local_part(m.local);
    FUZZ_CHECK(unq.size() <= m.local.size());
    return 0;
}
