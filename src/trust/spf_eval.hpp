// spf_eval.hpp: check_host() of RFC 7208: is this client address allowed to send for a domain?
//
// Asynchronous over dns::Lookup (the server's libunbound resolver, whose cache honours TTLs;
// tests answer from zone data), so a check never blocks an event-loop thread. One Evaluator is
// shared; each check keeps its own counters.
//
// Limits (4.6.4): at most 10 DNS-querying terms (include, a, mx, ptr, exists, redirect) per check
// including nested records, at most 2 void lookups (NXDOMAIN or no answer), at most 10 MX hosts
// per mx (more is permerror), and the first 10 PTR names per ptr / %{p} (the rest are ignored,
// 4.6.4); records over 4096 octets and macro expansions over 2048 are permerror: a hostile record
// costs at most a few dozen queries and a few kilobytes of work.
//
// SECURITY: the client address is from the kernel; the sender and HELO name are client-supplied
// (validated by the SMTP parsers) and only reach DNS through macro expansion. Records and answers
// are untrusted: a record that does not parse is a permerror, never a guess.
// STANDARDS: RFC 7208 2.3-2.4 (identities), 4 (check_host), 5 (mechanisms), 6 (modifiers),
// 7 (macros), 8 (results).
#pragma once

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <string>

#include "common/cidr.hpp"
#include "dns/resolver.hpp"
#include "trust/spf_record.hpp"

namespace sluice::trust::spf {

struct Request {
    IpAddress ip{};
    std::string sender;    // MAIL FROM address ("" for the null sender)
    std::string helo;      // the HELO/EHLO argument
    std::string receiver;  // our host name, for %{r} in explanations
    std::int64_t now = 0;  // Unix seconds, for %{t}
};

struct Outcome {
    Result result = Result::none;
    std::string identity;     // "mailfrom" or "helo"
    std::string domain;       // the domain checked
    std::string sender;       // the identity as checked ("postmaster@helo" for <>)
    std::string mechanism;    // what decided: "-all", "ip4:192.0.2.0/24", "default", ""
    std::string explanation;  // fail: the domain's exp= text, else ""
    std::string problem;      // temperror/permerror: why, for logs and the A-R comment
};

struct Limits {
    std::size_t dns_terms = 10;
    std::size_t void_lookups = 2;
};

class Evaluator {
  public:
    explicit Evaluator(dns::Lookup& dns, Limits limits = {}) : dns_(dns), limits_(limits) {}

    // The MAIL FROM identity (2.4); for the null sender, the HELO identity as "postmaster@helo".
    boost::asio::awaitable<Outcome> check_mail_from(const Request& r);
    // The HELO identity (2.3).
    boost::asio::awaitable<Outcome> check_helo(const Request& r);

  private:
    struct State;
    struct Partial;
    boost::asio::awaitable<Outcome> check(const Request& r, std::string identity,
                                          std::string sender);
    boost::asio::awaitable<Partial> check_host(State& st, std::string domain, int depth);
    boost::asio::awaitable<Partial> evaluate(State& st, const Record& rec,
                                             const std::string& domain, int depth);
    boost::asio::awaitable<int> match(State& st, const Mechanism& m, const std::string& domain,
                                      int depth, Partial& err);
    boost::asio::awaitable<bool> validate_ptr(State& st);
    boost::asio::awaitable<bool> host_has_ip(State& st, const std::string& host, int cidr4,
                                             int cidr6, dns::Status* status);
    boost::asio::awaitable<std::string> explain(State& st, const std::string& spec,
                                                const std::string& domain);

    dns::Lookup& dns_;
    Limits limits_;
};

// Whether a domain can be checked at all (4.3): every label 1-63 octets, at least two labels,
// not an address literal. Otherwise check_host() is "none" without any query.
bool checkable_domain(std::string_view domain);

}  // namespace sluice::trust::spf
