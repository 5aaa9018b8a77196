// smtp_courier.hpp: remote delivery over SMTP on the event loop: choosing where a domain's mail
// goes (a configured route, the smarthost, or its MX hosts in RFC 5321 5.1 order), trying each
// host's addresses until one takes the session, running the transaction, and keeping the
// connection open for the next message to the same destination.
//
// Limits: relay.concurrency transactions at once in total, relay.concurrency_per_destination per
// destination (a domain's MX set, or a route's host). An idle connection waits relay.idle_timeout
// for another message, and is closed after relay.messages_per_connection transactions.
//
// SECURITY: destinations come from DNS (untrusted) or the configuration; a destination that is
// this server (our hostname among the MX hosts, or our own listening address) is a mail loop and
// is refused (5.4.6) rather than delivered to ourselves.
// STANDARDS: RFC 5321 5.1 (routing), 4.5.3.2 (timeouts); RFC 7505 (null MX).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "delivery/async_limiter.hpp"
#include "delivery/smtp_client.hpp"
#include "delivery/transport.hpp"
#include "dns/resolver.hpp"

namespace sluice::delivery {

struct CourierOptions {
    config::Relay relay;
    std::string hostname;                                     // EHLO name; also "us" among MX hosts
    std::vector<std::pair<std::string, std::uint16_t>> self;  // our listening addresses
};

// From the configuration: [relay], hostname, listeners; [dns].
CourierOptions courier_options(const config::Config& cfg);
dns::Resolver::Options resolver_options(const config::Config& cfg);

class SmtpCourier : public Transport {
  public:
    SmtpCourier(boost::asio::io_context& io, dns::Lookup& resolver, CourierOptions opts);
    ~SmtpCourier() override;

    std::string_view name() const override { return "smtp"; }
    bool remote() const override { return true; }
    void deliver(Job job, std::function<void(Result)> done) override;

  private:
    struct Destination {
        std::string key;                        // limiter and pool key
        std::optional<config::RelayHost> host;  // fixed host (route/smarthost); else MX of domain
    };
    struct Idle {
        std::shared_ptr<SmtpConnection> conn;
        std::shared_ptr<boost::asio::steady_timer> timer;
    };

    Destination destination(const std::string& domain) const;
    boost::asio::awaitable<Result> run(Job job);
    boost::asio::awaitable<std::shared_ptr<SmtpConnection>> connect(const Destination& d,
                                                                    const std::string& domain,
                                                                    smtp::Reply& error);
    bool is_self(const std::string& ip, std::uint16_t port) const;
    std::shared_ptr<AsyncLimiter> limiter_for(const std::string& key);
    std::shared_ptr<SmtpConnection> take_idle(const std::string& key);
    void put_idle(const std::string& key, std::shared_ptr<SmtpConnection> conn);
    bool remove_idle(const std::string& key, const SmtpConnection* conn);

    boost::asio::io_context& io_;
    dns::Lookup& resolver_;
    CourierOptions opts_;
    boost::asio::ssl::context tls_plain_;   // no certificate verification
    boost::asio::ssl::context tls_verify_;  // system CAs, host name checked
    std::shared_ptr<AsyncLimiter> global_;
    std::mutex mu_;
    std::map<std::string, std::shared_ptr<AsyncLimiter>> limiters_;
    std::map<std::string, std::vector<Idle>> idle_;
    std::mt19937_64 rng_;
};

}  // namespace sluice::delivery
