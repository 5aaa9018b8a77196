// resolver.hpp: asynchronous DNS lookups (MX, A, AAAA) on the event loop, backed by libunbound.
//
// libunbound resolves on its own thread and signals completions through a file descriptor; that
// descriptor is watched by an Asio stream_descriptor, and ub_process() runs when it is readable,
// so a lookup never blocks an event-loop thread. Every libunbound call happens on one strand.
// Each query has a deadline (dns.timeout) after which it is cancelled and reported as temporary.
//
// Forwarders come from the configuration ("127.0.0.1@5353"), else from /etc/resolv.conf. DNSSEC
// validation happens when a trust anchor file is configured; without one answers are taken as
// they come (a validation failure, when validating, is a temporary failure).
//
// SECURITY: answers are untrusted network input; they are decoded by dns/rdata (bounds-checked)
// and only ever used as host names to connect to and as text in logs and DSNs.
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

// What remote delivery asks of DNS. The Resolver below answers it on the event loop; tests of the
// courier answer it with fakes.
class Lookup {
  public:
    virtual ~Lookup() = default;
    virtual boost::asio::awaitable<MxAnswer> mx(std::string domain) = 0;
    virtual boost::asio::awaitable<AddressAnswer> a(std::string host) = 0;
    virtual boost::asio::awaitable<AddressAnswer> aaaa(std::string host) = 0;
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

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace sluice::dns
