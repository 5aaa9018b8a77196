// fuzz_spf_record.cpp: the SPF record parser and macro expander (RFC 7208 4.6, 7), which read
// records from anyone's DNS zone.
// Input: the TXT record text (the "v=spf1" prefix is added when missing, so the fuzzer spends its
// time on terms). Invariants: a record either parses or says why; every domain-spec it keeps is
// valid and expands (macros from a fixed context) to a name that truncates to at most 253
// octets; explanations expand or are refused, never crash.
#include <string>
#include <string_view>
#include <variant>

#include "fuzz.hpp"
#include "trust/spf_macro.hpp"
#include "trust/spf_record.hpp"

using namespace sluice::trust::spf;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);
    if (!is_spf_record(in)) in = "v=spf1 " + in;
    if (!is_spf_record(in)) return 0;

    MacroContext ctx;
    ctx.sender = "strong-bad@email.example.com";
    ctx.local_part = "strong-bad";
    ctx.sender_domain = "email.example.com";
    ctx.domain = "email.example.com";
    ctx.ip = *sluice::IpAddress::parse("2001:db8::cb01");
    ctx.helo = "mx.example.net";
    ctx.ptr_name = "unknown";

    auto r = parse_record(in);
    if (auto* e = std::get_if<ParseError>(&r)) {
        FUZZ_CHECK(!e->reason.empty());
    } else {
        const Record& rec = std::get<Record>(r);
        for (const auto& m : rec.mechanisms) {
            if (m.domain_spec.empty()) continue;
            FUZZ_CHECK(valid_domain_spec(m.domain_spec));
            auto x = expand(m.domain_spec, ctx);
            FUZZ_CHECK(x.has_value());  // the parser accepted its syntax
            FUZZ_CHECK(truncate_domain(*x).size() <= 253);
        }
        for (const auto* spec : {&rec.redirect, &rec.exp})
            if (*spec) FUZZ_CHECK(expand(**spec, ctx).has_value());
    }
    // The same bytes as an explanation text (exp= TXT records are free text with macros).
    if (auto x = expand(std::string_view(in).substr(7), ctx, true)) FUZZ_CHECK(x->size() < 1 << 24);
    return 0;
}
