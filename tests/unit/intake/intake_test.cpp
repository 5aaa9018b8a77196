// intake_test.cpp: the one way into the queue (intake/intake.hpp), on a real spool in a
// temporary directory: queue ID and trace header, the policy's headers on top, modifiers that
// edit or refuse, the durable commit (read back from disk), the hand-off to the queue, the
// rate-limit accounting, and a full disk answered with 452 and nothing queued.
#include "intake/intake.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <cerrno>
#include <regex>

#include "../temp_dir.hpp"
#include "common/queue_id.hpp"
#include "intake/received.hpp"
#include "spool/file_ops.hpp"

namespace sluice::intake {
namespace {
namespace asio = boost::asio;

Submission submission() {
    Submission s;
    s.envelope.sender = "a@example.net";
    s.envelope.recipients.push_back({"alice@example.org", "", 0});
    s.envelope.helo = "client.example.net";
    s.envelope.client_ip = "192.0.2.1";
    s.envelope.listener = "mx";
    s.envelope.protocol = "ESMTPS";
    s.content = "Subject: hi\r\n\r\nbody\r\n";
    s.tls = "TLSv1.3 TLS_AES_256_GCM_SHA384";
    s.user = "";
    s.session = 7;
    return s;
}

struct Fixture {
    test::TempDir dir{"sluice-intake"};
    std::shared_ptr<spool::FileOps> fs;
    std::unique_ptr<spool::Spool> spool;
    std::vector<std::shared_ptr<const spool::StoredMessage>> queued;
    policy::MemoryCounterStore counters;
    policy::RateLimiter limiter{
        {policy::Rule{policy::Scope::ip, policy::Metric::messages, 10, std::chrono::hours(1)}},
        counters};
    std::unique_ptr<Intake> intake;

    explicit Fixture(std::shared_ptr<spool::FileOps> ops = nullptr) : fs(std::move(ops)) {
        spool =
            std::make_unique<spool::Spool>(spool::Spool::Options{dir.path() / "spool", 2, fs, 1});
        spool->recover();
        intake = std::make_unique<Intake>(
            Intake::Options{"mx.example.org"}, *spool,
            [this](std::shared_ptr<const spool::StoredMessage> m) { queued.push_back(m); },
            &limiter);
    }

    Result submit(Submission s) {
        asio::io_context io;
        auto fut = asio::co_spawn(io, intake->submit(std::move(s)), asio::use_future);
        io.run();
        return fut.get();
    }
};

TEST(Intake, AssignsAnIdAddsTheTraceHeaderCommitsAndQueues) {
    Fixture f;
    Result r = f.submit(submission());
    ASSERT_TRUE(r.ok()) << r.reply.text;
    EXPECT_EQ(r.reply.code, 250);
    EXPECT_TRUE(is_valid_queue_id(r.queue_id));
    EXPECT_EQ(r.reply.text, "Ok: queued as " + r.queue_id);
    ASSERT_EQ(f.queued.size(), 1u);
    const auto& m = *f.queued[0];
    EXPECT_EQ(m.envelope.queue_id, r.queue_id);
    EXPECT_GT(m.envelope.received_at_us, 1'700'000'000'000'000);
    EXPECT_EQ(m.message.rfind("Received: from client.example.net ([192.0.2.1])\r\n\tby "
                              "mx.example.org (Sluice) with ESMTPS (TLSv1.3 "
                              "TLS_AES_256_GCM_SHA384) id " +
                                  r.queue_id + "\r\n\tfor <alice@example.org>; ",
                              0),
              0u)
        << m.message;
    EXPECT_NE(m.message.find("\r\nSubject: hi\r\n\r\nbody\r\n"), std::string::npos);
    // Durable: the spool has it, byte for byte.
    auto stored = f.spool->load_message(r.queue_id);
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->message, m.message);
    EXPECT_EQ(stored->envelope, m.envelope);
    // Charged to the client's address: the limit is 10 messages an hour.
    EXPECT_FALSE(
        f.limiter.check(policy::Metric::messages, {"192.0.2.1", "", ""}, 9, 1'900'000'000'000));
}

TEST(Intake, PolicyHeadersGoOnTopAndModifiersRunInOrder) {
    struct Tag final : Modifier {
        std::string h;
        explicit Tag(std::string x) : h(std::move(x)) {}
        std::string_view name() const override { return "tag"; }
        asio::awaitable<std::optional<smtp::Reply>> modify(Draft& d) override {
            EXPECT_FALSE(d.envelope.queue_id.empty());  // the ID exists before any modifier
            d.message.insert(0, h);
            co_return std::nullopt;
        }
    };
    Fixture f;
    f.intake->add_modifier(std::make_unique<Tag>("X-First: 1\r\n"));
    f.intake->add_modifier(std::make_unique<Tag>("X-Second: 2\r\n"));
    Submission s = submission();
    s.headers = {"Authentication-Results: mx.example.org; none\r\n"};
    Result r = f.submit(std::move(s));
    ASSERT_TRUE(r.ok());
    const std::string& m = f.queued.at(0)->message;
    EXPECT_EQ(m.rfind("X-Second: 2\r\nX-First: 1\r\nAuthentication-Results: mx.example.org; "
                      "none\r\nReceived: from ",
                      0),
              0u)
        << m;
    EXPECT_EQ(f.spool->load_message(r.queue_id)->message, m);
}

TEST(Intake, AModifiersRefusalCommitsNothing) {
    struct Refuse final : Modifier {
        std::string_view name() const override { return "signer"; }
        asio::awaitable<std::optional<smtp::Reply>> modify(Draft&) override {
            co_return smtp::Reply{451, "4.7.0", "signing key unavailable"};
        }
    };
    Fixture f;
    f.intake->add_modifier(std::make_unique<Refuse>());
    Result r = f.submit(submission());
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.reply.code, 451);
    EXPECT_EQ(r.reason, "signer");
    EXPECT_TRUE(f.queued.empty());
    EXPECT_TRUE(f.spool->list_ids().empty());
    // Nothing charged either.
    EXPECT_FALSE(
        f.limiter.check(policy::Metric::messages, {"192.0.2.1", "", ""}, 10, 1'900'000'000'000));
}

// A disk that is full: the slot cannot be written.
class FullDisk final : public spool::PosixFileOps {
  public:
    int write_file(const std::string&, std::string_view, bool) override { return ENOSPC; }
    int overwrite_file(const std::string&, std::string_view, bool) override { return ENOSPC; }
    int write_at(const std::string&, std::uint64_t, std::string_view, bool) override {
        return ENOSPC;
    }
};

TEST(Intake, AFullDiskIs452AndNothingIsQueued) {
    Fixture f(std::make_shared<FullDisk>());
    Result r = f.submit(submission());
    EXPECT_EQ(r.reply.code, 452);
    EXPECT_EQ(r.reply.enhanced, "4.3.1");
    EXPECT_EQ(r.reason, "not_stored");
    EXPECT_TRUE(f.queued.empty());
}

TEST(Received, NamesTheClientAndOnlyASingleRecipient) {
    Envelope env = submission().envelope;
    env.queue_id = "ID1";
    env.received_at_us = std::int64_t{1700000000} * 1000000;
    env.client_ip = "2001:db8::1";
    std::string h = received_header(env, "mx.example.org");
    EXPECT_EQ(h,
              "Received: from client.example.net ([IPv6:2001:db8::1])\r\n\tby mx.example.org "
              "(Sluice) with ESMTPS id ID1\r\n\tfor <alice@example.org>; Tue, 14 Nov 2023 "
              "22:13:20 +0000\r\n");
    env.recipients.push_back({"bob@example.org", "", 0});  // a Bcc must not show
    EXPECT_EQ(received_header(env, "mx.example.org").find("for <"), std::string::npos);
    env.helo.clear();
    EXPECT_EQ(received_header(env, "mx.example.org").rfind("Received: from unknown ", 0), 0u);
}

}  // namespace
}  // namespace sluice::intake
