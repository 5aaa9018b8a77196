// policies_test.cpp: the chain the server builds for a listener (server/policies.hpp): which
// events it raises for which configuration, and the never-an-open-relay default end to end.
#include "server/policies.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace sluice::server {
namespace {
namespace asio = boost::asio;
using policy::Event;

config::Config site(std::string extra = "") {
    return config::load_string(
        "hostname = \"mx.example.org\"\n[[domain]]\nname = \"example.org\"\n"
        "mailboxes = [\"alice\"]\n" +
        extra);
}

// The verification stage's DNS: these tests never reach a lookup (loopback is not judged).
struct NoDns final : dns::Lookup {
    asio::awaitable<dns::MxAnswer> mx(std::string) override { co_return dns::MxAnswer{}; }
    asio::awaitable<dns::AddressAnswer> a(std::string) override { co_return dns::AddressAnswer{}; }
    asio::awaitable<dns::AddressAnswer> aaaa(std::string) override {
        co_return dns::AddressAnswer{};
    }
    asio::awaitable<dns::TextAnswer> txt(std::string) override { co_return dns::TextAnswer{}; }
    asio::awaitable<dns::TextAnswer> ptr(std::string) override { co_return dns::TextAnswer{}; }
};
NoDns dns;

policy::Verdict ask(const policy::Chain& c, Event e, const policy::Facts& f) {
    asio::io_context io;
    auto fut = asio::co_spawn(io, c.run(e, f), asio::use_future);
    io.run();
    return fut.get();
}

TEST(ServerPolicies, AListenerThatDoesNotVerifyChecksConnectRcptAndHeadersOnly) {
    const auto cfg = site("[verify]\nspf = false\ndkim = false\ndmarc = false\n");
    const delivery::LocalRouter router(cfg);
    auto c = build_chain(cfg, cfg.listeners.at(0), router, false, nullptr, dns);
    EXPECT_TRUE(c.wants(Event::connect));
    EXPECT_TRUE(c.wants(Event::rcpt));
    EXPECT_TRUE(c.wants(Event::headers));
    // Nothing asks about HELO, MAIL or the whole message: those events cost no coroutine.
    EXPECT_FALSE(c.wants(Event::helo));
    EXPECT_FALSE(c.wants(Event::mail));
    EXPECT_FALSE(c.wants(Event::message));
}

TEST(ServerPolicies, MxListenersVerifySubmissionListenersDoNot) {
    auto cfg = site();
    const delivery::LocalRouter router(cfg);
    auto mx = build_chain(cfg, cfg.listeners.at(0), router, false, nullptr, dns);
    EXPECT_TRUE(mx.wants(Event::mail));     // SPF
    EXPECT_TRUE(mx.wants(Event::message));  // Authentication-Results
    auto sub = cfg.listeners.at(0);
    sub.role = config::ListenerRole::submission;
    auto s = build_chain(cfg, sub, router, false, nullptr, dns);
    EXPECT_FALSE(s.wants(Event::mail));
    sub.verify = true;
    EXPECT_TRUE(build_chain(cfg, sub, router, false, nullptr, dns).wants(Event::mail));
}

TEST(ServerPolicies, AuthAndLimitsAddTheirStages) {
    // Without verification, which asks about mail and message itself.
    const auto cfg = site(
        "[auth]\ncheck_from_header = true\n[verify]\nspf = false\ndkim = false\ndmarc = false\n");
    const delivery::LocalRouter router(cfg);
    policy::MemoryCounterStore store;
    policy::RateLimiter limiter(
        {policy::Rule{policy::Scope::ip, policy::Metric::messages, 5, std::chrono::hours(1)}},
        store);
    auto c = build_chain(cfg, cfg.listeners.at(0), router, true, &limiter, dns);
    EXPECT_TRUE(c.wants(Event::mail));
    EXPECT_TRUE(c.wants(Event::message));
}

TEST(ServerPolicies, NeverAnOpenRelay) {
    const auto cfg = site("[access]\ntrusted = [\"10.0.0.0/8\"]\n");
    const delivery::LocalRouter router(cfg);
    policy::MemoryCounterStore store;
    policy::RateLimiter limiter(
        {policy::Rule{policy::Scope::ip, policy::Metric::recipients, 100, std::chrono::hours(1)}},
        store);
    auto c = build_chain(cfg, cfg.listeners.at(0), router, true, &limiter, dns);
    Envelope env;
    env.sender = "someone@example.net";
    smtp::Mailbox remote{"bob", "example.net", false, false};
    smtp::Mailbox local{"alice", "example.org", false, false};
    policy::Facts f;
    f.client_ip = "192.0.2.1";
    f.client_addr = IpAddress::parse("192.0.2.1");
    f.envelope = &env;
    f.recipient = &remote;
    policy::Verdict v = ask(c, Event::rcpt, f);
    EXPECT_EQ(v.reply.code, 550);
    EXPECT_EQ(v.reason, "relay_denied");
    f.recipient = &local;
    EXPECT_TRUE(ask(c, Event::rcpt, f).allows());
    // A trusted network relays; so does an authenticated user.
    f.recipient = &remote;
    f.trusted = true;
    EXPECT_TRUE(ask(c, Event::rcpt, f).allows());
    f.trusted = false;
    auth::User u{"alice@example.org", "", {}};
    f.user = &u;
    EXPECT_TRUE(ask(c, Event::rcpt, f).allows());
}

}  // namespace
}  // namespace sluice::server
