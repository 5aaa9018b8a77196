// smtp_courier_test.cpp: the SMTP courier's decisions (delivery/smtp_courier.hpp) with a fake DNS
// (dns::Lookup) and, where a host must answer, a scripted SMTP peer on 127.0.0.1: null MX and
// NXDOMAIN are permanent, a DNS failure temporary, an MX naming ourselves a loop, and a reachable
// host delivers with one result per recipient (a refused RCPT keeps its own reply).
#include "delivery/smtp_courier.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <future>
#include <map>
#include <thread>

namespace sluice::delivery {
namespace {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class FakeLookup final : public dns::Lookup {
  public:
    std::map<std::string, dns::MxAnswer> mx_answers;
    std::map<std::string, dns::AddressAnswer> a_answers;
    int lookups = 0;

    asio::awaitable<dns::MxAnswer> mx(std::string domain) override {
        ++lookups;
        auto it = mx_answers.find(domain);
        co_return it != mx_answers.end() ? it->second
                                         : dns::MxAnswer{dns::Status::nxdomain, {}, "NXDOMAIN"};
    }
    asio::awaitable<dns::AddressAnswer> a(std::string host) override {
        ++lookups;
        auto it = a_answers.find(host);
        co_return it != a_answers.end() ? it->second
                                        : dns::AddressAnswer{dns::Status::nodata, {}, "no A"};
    }
    asio::awaitable<dns::AddressAnswer> aaaa(std::string) override {
        co_return dns::AddressAnswer{dns::Status::nodata, {}, "no AAAA"};
    }
    // Delivery never asks these.
    asio::awaitable<dns::TextAnswer> txt(std::string) override {
        ADD_FAILURE() << "courier looked up TXT";
        co_return dns::TextAnswer{};
    }
    asio::awaitable<dns::TextAnswer> ptr(std::string) override {
        ADD_FAILURE() << "courier looked up PTR";
        co_return dns::TextAnswer{};
    }
};

// A minimal SMTP peer: greets, takes EHLO (no extensions), refuses RCPT to "nobody@...", takes
// the message after DATA. Serves connections until the io_context stops.
class Peer {
  public:
    explicit Peer(asio::io_context& io) : acceptor_(io, tcp::endpoint(tcp::v4(), 0)) {
        asio::co_spawn(io, accept(), asio::detached);
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::atomic<int> messages{0};

  private:
    asio::awaitable<void> accept() {
        while (true) {
            auto [ec, sock] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            asio::co_spawn(acceptor_.get_executor(), serve(std::move(sock)), asio::detached);
        }
    }
    asio::awaitable<void> serve(tcp::socket s) {
        auto say = [&](std::string line) -> asio::awaitable<void> {
            co_await asio::async_write(s, asio::buffer(line), asio::as_tuple(asio::use_awaitable));
        };
        co_await say("220 peer.test ESMTP\r\n");
        asio::streambuf buf;
        bool in_data = false;
        while (true) {
            auto [ec, n] = co_await asio::async_read_until(s, buf, "\r\n",
                                                           asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            std::string line(asio::buffers_begin(buf.data()),
                             asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n));
            buf.consume(n);
            if (in_data) {
                if (line == ".\r\n") {
                    in_data = false;
                    ++messages;
                    co_await say("250 2.0.0 queued\r\n");
                }
                continue;
            }
            if (line.rfind("EHLO", 0) == 0)
                co_await say("250 peer.test\r\n");
            else if (line.rfind("MAIL", 0) == 0)
                co_await say("250 2.1.0 ok\r\n");
            else if (line.rfind("RCPT TO:<nobody@", 0) == 0)
                co_await say("550 5.1.1 no such user\r\n");
            else if (line.rfind("RCPT", 0) == 0)
                co_await say("250 2.1.5 ok\r\n");
            else if (line == "DATA\r\n") {
                in_data = true;
                co_await say("354 go ahead\r\n");
            } else if (line == "QUIT\r\n") {
                co_await say("221 bye\r\n");
                co_return;
            } else
                co_await say("250 ok\r\n");
        }
    }
    tcp::acceptor acceptor_;
};

struct Fixture {
    asio::io_context io;
    FakeLookup dns;
    Peer peer{io};
    std::unique_ptr<SmtpCourier> courier;
    std::thread loop;
    asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};

    Fixture() {
        CourierOptions o;
        o.hostname = "mx.self.test";
        o.self.emplace_back("127.0.0.2", peer.port());  // we listen there (by address)
        o.relay.port = peer.port();
        o.relay.tls = config::TlsPolicy::none;
        o.relay.idle_timeout = std::chrono::milliseconds(50);
        o.relay.connect_timeout = std::chrono::seconds(5);
        o.relay.command_timeout = std::chrono::seconds(5);
        o.relay.data_timeout = std::chrono::seconds(5);
        courier = std::make_unique<SmtpCourier>(io, dns, o);
        loop = std::thread([this] { io.run(); });
    }
    ~Fixture() {
        work.reset();
        asio::post(io, [this] { io.stop(); });
        loop.join();
        courier.reset();
    }

    Result deliver(const std::string& domain, std::vector<std::string> rcpts) {
        auto m = std::make_shared<spool::StoredMessage>();
        m->envelope.queue_id = "1K1BTPKA5J7SN000";
        m->envelope.sender = "a@example.org";
        for (auto& r : rcpts) m->envelope.recipients.push_back({r, "", 0});
        m->message = "Subject: t\r\n\r\nhi\r\n";
        Job job{m, domain, {}, false};
        for (std::size_t i = 0; i < rcpts.size(); ++i) job.rcpts.push_back(i);
        std::promise<Result> p;
        auto f = p.get_future();
        courier->deliver(std::move(job), [&p](Result r) { p.set_value(std::move(r)); });
        return f.get();
    }
};

TEST(SmtpCourier, NullMxAndNxdomainArePermanentWithoutAConnection) {
    Fixture f;
    f.dns.mx_answers["nomail.test"] = {dns::Status::ok, {{0, ""}}, ""};
    auto r = f.deliver("nomail.test", {"x@nomail.test"});
    ASSERT_EQ(r.rcpts.size(), 1u);
    EXPECT_EQ(r.rcpts[0].disposition(), Disposition::permanent);
    auto gone = f.deliver("gone.test", {"x@gone.test"});
    EXPECT_EQ(gone.rcpts.at(0).disposition(), Disposition::permanent);
    EXPECT_EQ(f.peer.messages.load(), 0);
}

TEST(SmtpCourier, ADnsFailureIsTemporary) {
    Fixture f;
    f.dns.mx_answers["flaky.test"] = {dns::Status::temp_fail, {}, "SERVFAIL"};
    auto r = f.deliver("flaky.test", {"x@flaky.test", "y@flaky.test"});
    ASSERT_EQ(r.rcpts.size(), 2u);
    for (const auto& rr : r.rcpts) EXPECT_EQ(rr.disposition(), Disposition::temporary);
}

TEST(SmtpCourier, AnMxNamingOurselvesIsALoop) {
    Fixture f;
    f.dns.mx_answers["loop.test"] = {dns::Status::ok, {{10, "mx.self.test"}}, ""};
    auto r = f.deliver("loop.test", {"x@loop.test"});
    EXPECT_EQ(r.rcpts.at(0).disposition(), Disposition::permanent);
    EXPECT_EQ(r.rcpts.at(0).reply.enhanced, "5.4.6");
    EXPECT_EQ(f.peer.messages.load(), 0);
}

TEST(SmtpCourier, AnMxWhoseAddressIsOursEndsTheListThere) {
    // RFC 5321 5.1: the most preferred MX points at one of our listening addresses; the backup is
    // another host. Relaying to the backup would loop (it would send it back to us): 554 5.4.6.
    Fixture f;
    f.dns.mx_answers["us.test"] = {dns::Status::ok, {{10, "mx1.us.test"}, {20, "backup.test"}}, ""};
    f.dns.a_answers["mx1.us.test"] = {dns::Status::ok, {"127.0.0.2"}, ""};
    f.dns.a_answers["backup.test"] = {dns::Status::ok, {"127.0.0.1"}, ""};
    auto r = f.deliver("us.test", {"x@us.test"});
    EXPECT_EQ(r.rcpts.at(0).disposition(), Disposition::permanent);
    EXPECT_EQ(r.rcpts.at(0).reply.code, 554);
    EXPECT_EQ(r.rcpts.at(0).reply.enhanced, "5.4.6");
    EXPECT_EQ(f.peer.messages.load(), 0);
    // A more preferred host whose address lookup fails for now: wait for it, no bounce.
    f.dns.mx_answers["wait.test"] = {
        dns::Status::ok, {{5, "flaky.wait.test"}, {10, "mx1.us.test"}}, ""};
    f.dns.a_answers["flaky.wait.test"] = {dns::Status::temp_fail, {}, "SERVFAIL"};
    auto wait = f.deliver("wait.test", {"x@wait.test"});
    EXPECT_EQ(wait.rcpts.at(0).disposition(), Disposition::temporary);
    // A host more preferred than us is still used.
    f.dns.mx_answers["up.test"] = {dns::Status::ok, {{5, "backup.test"}, {10, "mx1.us.test"}}, ""};
    auto up = f.deliver("up.test", {"x@up.test"});
    EXPECT_EQ(up.rcpts.at(0).disposition(), Disposition::delivered);
    EXPECT_EQ(f.peer.messages.load(), 1);
}

TEST(SmtpCourier, AReachableMxDeliversWithAResultPerRecipient) {
    Fixture f;
    f.dns.mx_answers["peer.test"] = {dns::Status::ok, {{10, "mx1.peer.test"}}, ""};
    f.dns.a_answers["mx1.peer.test"] = {dns::Status::ok, {"127.0.0.1"}, ""};
    auto r = f.deliver("peer.test", {"x@peer.test", "nobody@peer.test"});
    ASSERT_EQ(r.rcpts.size(), 2u);
    EXPECT_EQ(r.rcpts[0].index, 0u);
    EXPECT_EQ(r.rcpts[0].disposition(), Disposition::delivered);
    EXPECT_EQ(r.rcpts[1].disposition(), Disposition::permanent);
    EXPECT_EQ(r.rcpts[1].reply.enhanced, "5.1.1");
    EXPECT_EQ(r.mx, "mx1.peer.test");
    EXPECT_EQ(r.ip, "127.0.0.1");
    EXPECT_EQ(f.peer.messages.load(), 1);
}

TEST(SmtpCourier, AnMxWithoutAddressesIsTriedNoFurther) {
    Fixture f;
    f.dns.mx_answers["noaddr.test"] = {dns::Status::ok, {{10, "mx.noaddr.test"}}, ""};
    auto r = f.deliver("noaddr.test", {"x@noaddr.test"});
    EXPECT_NE(r.rcpts.at(0).disposition(), Disposition::delivered);
    EXPECT_EQ(f.peer.messages.load(), 0);
}

}  // namespace
}  // namespace sluice::delivery
