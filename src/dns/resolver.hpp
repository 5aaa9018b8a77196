// resolver.hpp: asynchronous DNS lookups (MX, A, AAAA, TXT, PTR) on the event loop, backed by
// libunbound.
//
// libunbound resolves on its own thread and signals completions through a file descriptor; that
// descriptor is watched by an Asio stream_descriptor, and ub_process() runs when it is readable,
// so a lookup never blocks an event-loop thread. Every libunbound call happens on one strand.
// Each query has a deadline (dns.timeout) after which it is cancelled and reported as temporary.
//
// Forwarders come from the configuration ("127.0.0.1@5353"), else from /etc/resolv.conf. DNSSEC
// validation happens when a trust anchor file is configured; without one answers are taken as
// they come (a validation failure, when validating, is a temporary failure). libunbound keeps its
// own message and RRset caches, which honour each record's TTL: a repeated lookup (the same SPF
// record for every message of a sender) is answered from memory until the record expires.
//
// SECURITY: answers are untrusted network input; they are decoded by dns/rdata (bounds-checked)
// and only ever used as host names to connect to, as records for the SPF/DKIM/DMARC evaluators
// (which parse them as untrusted), and as text in logs and DSNs.
// STANDARDS: RFC 1035; RFC 3596 (AAAA); RFC 5321 5.1 (how the answers are used: dns/route.hpp).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "dns/route.hpp"

namespace sluice::dns {

// Each TXT record's character-strings, concatenated (RFC 7208 3.3, RFC 6376 3.6.2.2).
using TextAnswer = Answer<std::string>;

// What remote delivery and the message-authentication checks ask of DNS. The Resolver below
// answers it on the event loop; unit tests answer it with fakes or zone data.
class Lookup {
  public:
    virtual ~Lookup() = default;
    virtual boost::asio::awaitable<MxAnswer> mx(std::string domain) = 0;
    virtual boost::asio::awaitable<AddressAnswer> a(std::string host) = 0;
    virtual boost::asio::awaitable<AddressAnswer> aaaa(std::string host) = 0;
    virtual boost::asio::awaitable<TextAnswer> txt(std::string name) = 0;
    // PTR names (lower-case, no trailing dot) of a reverse name ("4.3.2.1.in-addr.arpa").
    virtual boost::asio::awaitable<TextAnswer> ptr(std::string name) = 0;
};

class Resolver final : public Lookup {
  public:
    struct Options {
        std::vector<std::string> forwarders;  // "addr" or "addr@port"; empty = resolv.conf
        std::chrono::milliseconds timeout = std::chrono::seconds(10);
        std::filesystem::path trust_anchor_file;  // empty = no DNSSEC validation
    };

    // Throws std::runtime_error when libunbound cannot be set up (bad forwarder, no thread).
    Resolver(boost::asio::io_context& io, Options opts);
    ~Resolver() override;
    Resolver(const Resolver&) = delete;
    Resolver& operator=(const Resolver&) = delete;

    boost::asio::awaitable<MxAnswer> mx(std::string domain) override;
    boost::asio::awaitable<AddressAnswer> a(std::string host) override;
    boost::asio::awaitable<AddressAnswer> aaaa(std::string host) override;
    boost::asio::awaitable<TextAnswer> txt(std::string name) override;
    boost::asio::awaitable<TextAnswer> ptr(std::string name) override;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace sluice::dns
