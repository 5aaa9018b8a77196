// chain_test.cpp: the Policy chain's order and verdicts, and each stage the server builds it from
// (policy/chain.hpp, policy/stages.hpp). Stages are awaited on a real io_context.
#include "policy/chain.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <stdexcept>

#include "config/config.hpp"
#include "delivery/local_router.hpp"
#include "policy/stages.hpp"

namespace sluice::policy {
namespace {
namespace asio = boost::asio;

// Runs one chain event to its verdict.
Verdict run(const Chain& c, Event e, const Facts& f) {
    asio::io_context io;
    auto fut = asio::co_spawn(io, c.run(e, f), asio::use_future);
    io.run();
    return fut.get();
}

Verdict run(Stage& s, Event e, const Facts& f) {
    asio::io_context io;
    auto fut = asio::co_spawn(io, s.check(e, f), asio::use_future);
    io.run();
    return fut.get();
}

// A stage that records that it was asked, and answers with a fixed verdict (after a real timer
// wait when `waits`, as a DNS lookup would).
class Scripted final : public Stage {
  public:
    Scripted(std::string name, EventMask ev, Verdict v, std::vector<std::string>& log,
             bool waits = false, bool throws = false)
        : name_(std::move(name)),
          ev_(ev),
          v_(std::move(v)),
          log_(log),
          waits_(waits),
          throws_(throws) {}
    std::string_view name() const override { return name_; }
    EventMask events() const override { return ev_; }
    asio::awaitable<Verdict> check(Event e, const Facts&) override {
        if (waits_) {
            asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
            co_await t.async_wait(asio::use_awaitable);
        }
        log_.push_back(name_ + ":" + std::string(event_name(e)));
        if (throws_) throw std::runtime_error("backend down");
        co_return v_;
    }

  private:
    std::string name_;
    EventMask ev_;
    Verdict v_;
    std::vector<std::string>& log_;
    bool waits_, throws_;
};

Verdict with_header(std::string h) {
    Verdict v;
    v.headers.push_back(std::move(h));
    return v;
}

TEST(PolicyChain, AsksOnlyStagesRegisteredForTheEventInOrder) {
    std::vector<std::string> log;
    Chain c;
    c.add(std::make_unique<Scripted>("a", mask(Event::mail, Event::rcpt), Verdict::next(), log));
    c.add(std::make_unique<Scripted>("b", mask(Event::rcpt), Verdict::next(), log, true));
    c.add(std::make_unique<Scripted>("c", mask(Event::rcpt), Verdict::next(), log));
    EXPECT_TRUE(c.wants(Event::mail));
    EXPECT_TRUE(c.wants(Event::rcpt));
    EXPECT_FALSE(c.wants(Event::helo));
    EXPECT_FALSE(c.wants(Event::connect));
    Facts f;
    EXPECT_TRUE(run(c, Event::rcpt, f).allows());
    EXPECT_EQ(log, (std::vector<std::string>{"a:rcpt", "b:rcpt", "c:rcpt"}));
    log.clear();
    EXPECT_TRUE(run(c, Event::mail, f).allows());
    EXPECT_EQ(log, (std::vector<std::string>{"a:mail"}));
}

TEST(PolicyChain, FirstDecisiveVerdictStopsTheChain) {
    std::vector<std::string> log;
    Chain c;
    c.add(std::make_unique<Scripted>("a", mask(Event::rcpt), with_header("X-A: 1\r\n"), log));
    c.add(std::make_unique<Scripted>("b", mask(Event::rcpt),
                                     Verdict::refuse({550, "5.7.1", "no"}, "listed"), log, true));
    c.add(std::make_unique<Scripted>("c", mask(Event::rcpt), Verdict::next(), log));
    Facts f;
    Verdict v = run(c, Event::rcpt, f);
    EXPECT_EQ(v.action, Verdict::Action::reply);
    EXPECT_EQ(v.reply.code, 550);
    EXPECT_EQ(v.reason, "listed");
    EXPECT_EQ(log, (std::vector<std::string>{"a:rcpt", "b:rcpt"}));

    // An accept short-cuts the rest too, and keeps the headers gathered so far.
    std::vector<std::string> log2;
    Chain d;
    d.add(std::make_unique<Scripted>("a", mask(Event::message), with_header("X-A: 1\r\n"), log2));
    d.add(std::make_unique<Scripted>("b", mask(Event::message), with_header("X-B: 2\r\n"), log2));
    d.add(std::make_unique<Scripted>("allow", mask(Event::message), Verdict::accept(), log2));
    d.add(std::make_unique<Scripted>("never", mask(Event::message),
                                     Verdict::refuse({554, "5.7.1", "x"}, "x"), log2));
    Verdict w = run(d, Event::message, f);
    EXPECT_EQ(w.action, Verdict::Action::accept);
    EXPECT_EQ(w.headers, (std::vector<std::string>{"X-A: 1\r\n", "X-B: 2\r\n"}));
    EXPECT_EQ(log2.size(), 3u);
}

TEST(PolicyChain, AThrowingStageIsATemporaryFailureNeverAnAcceptance) {
    std::vector<std::string> log;
    Chain c;
    c.add(
        std::make_unique<Scripted>("broken", mask(Event::rcpt), Verdict::next(), log, false, true));
    c.add(std::make_unique<Scripted>("after", mask(Event::rcpt), Verdict::next(), log));
    Facts f;
    Verdict v = run(c, Event::rcpt, f);
    EXPECT_EQ(v.action, Verdict::Action::reply);
    EXPECT_EQ(v.reply.code, 451);
    EXPECT_EQ(v.reason, "policy_error");
    EXPECT_EQ(log, (std::vector<std::string>{"broken:rcpt"}));
}

struct Counter final : StageState {
    int n = 0;
};

class Stateful final : public Stage {
  public:
    std::string_view name() const override { return "stateful"; }
    EventMask events() const override { return mask(Event::rcpt); }
    std::unique_ptr<StageState> open(const Facts&) override { return std::make_unique<Counter>(); }
    asio::awaitable<Verdict> check(Event, const Facts& f) override {
        auto& c = static_cast<Counter&>(*(*f.state)[index]);
        if (++c.n > 2) co_return Verdict::refuse({452, "4.5.3", "enough"}, "too_many");
        co_return Verdict::next();
    }
    std::size_t index = 0;
};

TEST(PolicyChain, PerSessionStateIsTheSessionsOwn) {
    Chain c;
    auto s = std::make_unique<Stateful>();
    c.add(std::move(s));
    Facts one, two;
    std::vector<std::unique_ptr<StageState>> st1, st2;
    c.open(one, st1);
    c.open(two, st2);
    EXPECT_TRUE(run(c, Event::rcpt, one).allows());
    EXPECT_TRUE(run(c, Event::rcpt, one).allows());
    EXPECT_FALSE(run(c, Event::rcpt, one).allows());
    EXPECT_TRUE(run(c, Event::rcpt, two).allows());
}

// --- the server's stages -------------------------------------------------------------------

config::Config site(std::string extra = "") {
    return config::load_string(
        "hostname = \"mx.example.org\"\n"
        "[delivery]\n"
        "maildir_root = \"/srv/mail\"\n"
        "[[domain]]\n"
        "name = \"example.org\"\n"
        "mailboxes = [\"alice\"]\n" +
        extra);
}

smtp::Mailbox mailbox(std::string local, std::string domain, bool literal = false) {
    smtp::Mailbox m;
    m.local = std::move(local);
    m.domain = std::move(domain);
    m.domain_is_literal = literal;
    return m;
}

TEST(RecipientStage, LocalUsersUnknownUsersAndRelay) {
    const auto cfg = site();
    const delivery::LocalRouter router(cfg);
    auto stage = recipient_stage(router);
    Facts f;
    auto ask = [&](smtp::Mailbox m) {
        f.recipient = &m;
        return run(*stage, Event::rcpt, f);
    };
    EXPECT_TRUE(ask(mailbox("alice", "example.org")).allows());
    Verdict unknown = ask(mailbox("nobody", "example.org"));
    EXPECT_EQ(unknown.reply.code, 550);
    EXPECT_EQ(unknown.reply.enhanced, "5.1.1");
    EXPECT_EQ(unknown.reason, "unknown_user");
    Verdict relay = ask(mailbox("bob", "example.net"));
    EXPECT_EQ(relay.reply.code, 550);
    EXPECT_EQ(relay.reply.enhanced, "5.7.1");
    EXPECT_EQ(relay.reason, "relay_denied");

    f.trusted = true;  // a trusted network may relay, but never to an address literal
    EXPECT_TRUE(ask(mailbox("bob", "example.net")).allows());
    EXPECT_EQ(ask(mailbox("bob", "[192.0.2.1]", true)).reason, "relay_denied");
    f.trusted = false;
    auth::User alice{"alice@example.org", "", {}};
    f.user = &alice;  // so may an authenticated user
    EXPECT_TRUE(ask(mailbox("bob", "example.net")).allows());
    EXPECT_EQ(ask(mailbox("postmaster", "")).action, Verdict::Action::reply);
}

TEST(AccessStage, DenyAllowAndDrop) {
    const auto cfg = site("[access]\ndeny = [\"192.0.2.0/24\"]\n");
    auto stage = access_stage(cfg, cfg.listeners.at(0));
    Facts f;
    f.client_addr = IpAddress::parse("198.51.100.7");
    EXPECT_TRUE(run(*stage, Event::connect, f).allows());
    f.client_addr = IpAddress::parse("192.0.2.9");
    Verdict v = run(*stage, Event::connect, f);
    EXPECT_EQ(v.action, Verdict::Action::reply);
    EXPECT_EQ(v.reply.code, 554);
    EXPECT_EQ(v.reply.text, "mx.example.org Access denied");
    EXPECT_EQ(v.reason, "access_denied");

    const auto dropping = site("[access]\ndeny = [\"192.0.2.0/24\"]\ndeny_action = \"drop\"\n");
    auto drop = access_stage(dropping, dropping.listeners.at(0));
    Verdict d = run(*drop, Event::connect, f);
    EXPECT_EQ(d.action, Verdict::Action::disconnect);
    EXPECT_EQ(d.reply.code, 0);

    const auto only = site("[access]\nallow = [\"10.0.0.0/8\"]\n");
    auto allow = access_stage(only, only.listeners.at(0));
    EXPECT_FALSE(run(*allow, Event::connect, f).allows());
    f.client_addr = IpAddress::parse("10.1.2.3");
    EXPECT_TRUE(run(*allow, Event::connect, f).allows());
}

TEST(SenderStage, AuthenticatedUsersSendAsThemselves) {
    auto stage = sender_stage(true);
    EXPECT_EQ(stage->events(), mask(Event::mail, Event::message));
    EXPECT_EQ(sender_stage(false)->events(), mask(Event::mail));
    Envelope env;
    env.sender = "mallory@example.org";
    Facts f;
    f.envelope = &env;
    EXPECT_TRUE(run(*stage, Event::mail, f).allows());  // not authenticated: not judged here
    auth::User alice{"alice@example.org", "", {"@alias.example"}};
    f.user = &alice;
    Verdict v = run(*stage, Event::mail, f);
    EXPECT_EQ(v.reply.code, 553);
    EXPECT_EQ(v.reason, "sender_not_owned");
    env.sender = "anyone@alias.example";
    EXPECT_TRUE(run(*stage, Event::mail, f).allows());

    f.message = "From: Alice <alice@example.org>\r\nSubject: x\r\n\r\nbody\r\n";
    EXPECT_TRUE(run(*stage, Event::message, f).allows());
    f.message = "From: boss@example.org\r\n\r\nbody\r\n";
    Verdict w = run(*stage, Event::message, f);
    EXPECT_EQ(w.reply.code, 553);
    EXPECT_EQ(w.reason, "from_not_owned");
    f.message = "Subject: no from\r\n\r\nbody\r\n";
    EXPECT_EQ(run(*stage, Event::message, f).reason, "from_not_owned");
}

TEST(LoopStage, TooManyReceivedFieldsIsAMailLoop) {
    auto stage = loop_stage(2);
    Facts f;
    f.message = "Received: a\r\nReceived: b\r\n";
    EXPECT_TRUE(run(*stage, Event::headers, f).allows());
    f.message = "Received: a\r\nReceived: b\r\nReceived: c\r\n";
    Verdict v = run(*stage, Event::headers, f);
    EXPECT_EQ(v.reply.code, 554);
    EXPECT_EQ(v.reply.enhanced, "5.4.6");
    EXPECT_EQ(v.reason, "mail_loop");
}

TEST(RateLimitStage, RegistersForTheMetricsConfiguredAndRefusesOverTheLimit) {
    MemoryCounterStore store;
    RateLimiter limiter({Rule{Scope::ip, Metric::recipients, 3, std::chrono::hours(1)}}, store);
    auto stage = rate_limit_stage(limiter);
    EXPECT_EQ(stage->events(), mask(Event::rcpt));
    Envelope env;
    env.recipients.resize(2);
    Facts f;
    f.client_ip = "192.0.2.1";
    f.envelope = &env;
    EXPECT_TRUE(run(*stage, Event::rcpt, f).allows());  // the third recipient
    env.recipients.resize(3);
    Verdict v = run(*stage, Event::rcpt, f);  // a fourth would pass the limit
    EXPECT_EQ(v.reply.code, 450);
    EXPECT_EQ(v.reason, "rate_limit");
}

}  // namespace
}  // namespace sluice::policy
