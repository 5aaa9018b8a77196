// fuzz_dmarc_record.cpp: the DMARC record parser and the organizational-domain lookup (RFC 7489
// 6.3, 3.2), which read records from anyone's DNS zone and domains from messages.
// Input: the TXT record text ("v=DMARC1; " added when missing), and the same bytes as a domain.
// Invariants: a usable record has pct in 0..100 and is evaluated without trouble; an organizational
// domain is never longer than the name it came from and is a suffix of its lower-cased form.
#include <string>
#include <string_view>

#include "common/ascii.hpp"
#include "fuzz.hpp"
#include "trust/dmarc.hpp"

using namespace sluice::trust::dmarc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string raw(reinterpret_cast<const char*>(data), size);
    const std::string in = is_dmarc_record(raw) ? raw : "v=DMARC1; " + raw;
    if (auto r = parse_record(in)) {
        FUZZ_CHECK(r->pct >= 0 && r->pct <= 100);
        Inputs x;
        x.from_domain = "example.com";
        x.dkim_domains = {raw};
        x.sample = 42;
        (void)evaluate(*r, x);
    }
    if (raw.find('\0') == std::string::npos && raw.size() < 300) {
        std::string lower = sluice::ascii_lower(raw);
        if (!lower.empty() && lower.back() == '.') lower.pop_back();
        const std::string org = organizational_domain(raw);
        FUZZ_CHECK(org.size() <= lower.size());
        FUZZ_CHECK(std::string_view(lower).ends_with(org));
    }
    return 0;
}
