// route.hpp: where mail for a domain goes, per RFC 5321 5.1, as a pure function of DNS answers.
//
// MX hosts are tried by preference, equal preferences in random order; a domain without MX records
// is its own mail host (implicit MX); a null MX (RFC 7505) refuses mail at once; and an MX list
// that names this server keeps only the hosts more preferred than us, a list left empty being a
// mail loop. NXDOMAIN is permanent, SERVFAIL and timeouts are temporary.
//
// SECURITY: the answers are untrusted; this code only orders and filters them.
// STANDARDS: RFC 5321 5.1; RFC 7505 (null MX); RFC 3463 codes 5.1.2, 5.1.10, 5.4.4, 5.4.6, 4.4.3.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "dns/rdata.hpp"

namespace sluice::dns {

enum class Status {
    ok,         // records found
    nodata,     // the name exists but has no record of that type
    nxdomain,   // the name does not exist: permanent
    temp_fail,  // SERVFAIL, timeout, network error, DNSSEC failure: try again later
};

template <class T>
struct Answer {
    Status status = Status::temp_fail;
    std::vector<T> records;
    std::string error;  // for logs and DSNs when status is not ok
};

using MxAnswer = Answer<MxRecord>;
using AddressAnswer = Answer<std::string>;  // textual IP addresses

// Why a destination cannot be reached now (temporary) or ever (permanent); becomes the reply text
// of a deferral or a DSN.
struct RouteError {
    int code = 451;
    std::string enhanced = "4.4.3";
    std::string text;
    bool permanent() const { return code >= 500; }
};

struct MxPlan {
    std::vector<std::string> hosts;          // in the order to try
    std::vector<std::uint16_t> preferences;  // of each host (0 for the implicit MX)
    bool implicit = false;                   // no MX: the domain itself is the host (A/AAAA)
    std::optional<RouteError> error;
};

// self_names: names of this server (lower-case), e.g. the configured hostname.
MxPlan plan_mx(std::string_view domain, const MxAnswer& answer,
               const std::vector<std::string>& self_names, std::mt19937_64& rng);

// The addresses of one host in the order to try them: IPv6 first, then IPv4 (RFC 5321 5.1 leaves
// the order to us). Addresses in `self` (ours) are dropped. Empty when neither lookup found any.
std::vector<std::string> order_addresses(const AddressAnswer& aaaa, const AddressAnswer& a,
                                         const std::vector<std::string>& self);

// The error for a host none of whose lookups gave an address: permanent only when both said the
// name does not exist (or has no address) and the host is the domain itself (implicit MX).
RouteError address_error(std::string_view host, const AddressAnswer& aaaa, const AddressAnswer& a,
                         bool implicit);

}  // namespace sluice::dns
