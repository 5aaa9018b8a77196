// dmarc.hpp: DMARC (RFC 7489) without I/O: the policy record, organizational domains, identifier
// alignment and the policy a failing message falls under. The caller looks up _dmarc records
// (policy/verify_stage.cpp) and applies the disposition.
//
// SECURITY: records come from anyone's DNS; the From domain from the message (untrusted). A
// record that does not parse is no record (RFC 7489 6.6.3), never a guess at the author's intent.
// STANDARDS: RFC 7489 3.1 (alignment), 3.2 (organizational domain, via the Public Suffix List),
// 6.3 (record), 6.6.1 (From), 6.6.2-6.6.4 (evaluation, discovery, pct); RFC 9091 np= is read.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::trust::dmarc {

enum class Policy : std::uint8_t { none, quarantine, reject };
std::string_view policy_name(Policy p);

struct Record {
    Policy p = Policy::none;
    std::optional<Policy> sp;  // subdomains of the organizational domain; default p
    std::optional<Policy> np;  // non-existent subdomains (RFC 9091); default sp
    bool strict_dkim = false;  // adkim=s
    bool strict_spf = false;   // aspf=s
    int pct = 100;
    std::vector<std::string> rua;  // aggregate report URIs as written ("mailto:...")
    std::vector<std::string> ruf;
};

// A TXT string that starts with "v=DMARC1" (RFC 7489 6.6.3: others are ignored).
bool is_dmarc_record(std::string_view txt);

// nullopt when the record is unusable (bad syntax, unknown p=, no p= and no rua=): "no policy".
// Unknown tags are ignored (6.3); invalid values of known tags make the record unusable except
// where 6.3 gives a default (a bad pct= is 100, bad adkim/aspf are relaxed).
std::optional<Record> parse_record(std::string_view txt);

// The organizational domain (3.2): the registrable domain by the Public Suffix List (ICANN and
// private sections; libpsl with Debian's publicsuffix data, newest of built-in and installed).
// Lower-case; the name itself when it is a public suffix or not under one.
std::string organizational_domain(std::string_view domain);

// Identifier alignment (3.1): strict is equality (case-insensitive), relaxed the same
// organizational domain.
bool aligned(std::string_view a, std::string_view b, bool strict);

struct Evaluation {
    bool pass = false;  // an aligned SPF or DKIM pass
    bool spf_aligned = false;
    bool dkim_aligned = false;
    Policy policy = Policy::none;   // the policy that applies (p, sp or np), before pct
    Policy applied = Policy::none;  // after pct sampling (a failing message's disposition)
};

struct Inputs {
    std::string from_domain;  // RFC5322.From
    std::string spf_domain;   // the MAIL FROM (or HELO) domain SPF checked
    bool spf_pass = false;
    std::vector<std::string> dkim_domains;  // d= of each passing signature
    bool record_at_org = false;             // the record was found at the organizational domain
    bool from_domain_exists = true;         // for np= (RFC 9091)
    int sample = 0;                         // a number in [0, 100) drawn for pct
};

Evaluation evaluate(const Record& r, const Inputs& in);

}  // namespace sluice::trust::dmarc
