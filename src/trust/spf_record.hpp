// spf_record.hpp: an SPF record ("v=spf1 ...") parsed into its terms, without I/O.
//
// RFC 7208 4.6: a record with any syntax error anywhere is a permerror as a whole, before anything
// in it is evaluated; so the parser checks every term (mechanism names, CIDR lengths, macro
// syntax, the domain-spec's ending) up front and the evaluator only ever sees well-formed terms.
//
// SECURITY: records come from DNS (anyone's zone): untrusted. Sizes are bounded by the TXT answer
// (and by the DNS layer); parsing is linear and never recursive.
// STANDARDS: RFC 7208 3 (records), 4.5 (selection), 4.6 (syntax), 5 (mechanisms), 6 (modifiers),
// 7.1 (macro syntax).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/cidr.hpp"

namespace sluice::trust::spf {

enum class Result : std::uint8_t { none, neutral, pass, fail, softfail, temperror, permerror };
std::string_view result_name(
    Result r);  // "pass", "softfail", ... as RFC 8601 and 7208 8 spell them

enum class Qualifier : std::uint8_t { pass, fail, softfail, neutral };  // + - ~ ?

struct Mechanism {
    enum class Kind : std::uint8_t { all, include, a, mx, ptr, ip4, ip6, exists };
    Kind kind = Kind::all;
    Qualifier qualifier = Qualifier::pass;
    std::string domain_spec;  // macro-string; "" = the current domain (a, mx, ptr)
    int cidr4 = 32;           // a, mx, ip4
    int cidr6 = 128;          // a, mx, ip6
    Cidr network{};           // ip4, ip6: the network (host bits cleared)
    std::string text;         // the term as written, for logs and Received-SPF
};

struct Record {
    std::vector<Mechanism> mechanisms;
    std::optional<std::string> redirect;  // domain-spec
    std::optional<std::string> exp;       // domain-spec
};

struct ParseError {
    std::string reason;  // "unknown mechanism 'foo'", for the permerror's comment
};

// True when a TXT string is an SPF version 1 record: "v=spf1" alone or followed by a space.
bool is_spf_record(std::string_view txt);

// Parses a record that is_spf_record() accepted.
std::variant<Record, ParseError> parse_record(std::string_view txt);

std::string_view mechanism_name(Mechanism::Kind k);

// Whether `s` is a syntactically valid macro-string (7.1); `explain`: an explain-string, where
// spaces and the c, r, t macros are allowed too.
bool valid_macro_string(std::string_view s, bool explain = false);

// A domain-spec (7.1): a macro-string ending with a macro or with "." toplabel ["."].
bool valid_domain_spec(std::string_view s);

}  // namespace sluice::trust::spf
