// smtp_transaction_test.cpp: the SMTP client's transaction without I/O
// (delivery/smtp_transaction.hpp), driven by a scripted peer: what is written, in how many writes,
// and which reply each recipient ends with.
#include "delivery/smtp_transaction.hpp"

#include <gtest/gtest.h>

#include <deque>

namespace sluice::delivery {
namespace {

Envelope envelope(std::vector<std::string> rcpts, BodyType body = BodyType::seven_bit) {
    Envelope e;
    e.sender = "a@example.org";
    e.body = body;
    for (auto& r : rcpts) e.recipients.push_back({r, "", 0});
    return e;
}

Extensions esmtp(bool pipelining = true) {
    Extensions x;
    x.esmtp = true;
    x.pipelining = pipelining;
    x.eightbitmime = true;
    x.chunking = true;
    x.binarymime = true;
    x.has_size = true;  // SIZE without a limit
    return x;
}

// Runs a transaction against scripted replies (in order) and write outcomes.
struct Run {
    std::vector<std::string> writes;
    std::vector<smtp::Reply> results;
    std::size_t reads = 0;
};

Run drive(const Envelope& env, std::string_view msg, const Extensions& ext,
          std::deque<smtp::Reply> replies, std::deque<bool> write_ok = {}) {
    ClientTransaction t(env, msg, ext, "mx.test[192.0.2.7]");
    Run run;
    for (int steps = 0; steps < 100; ++steps) {
        const auto s = t.next();
        if (s.action == ClientTransaction::Action::done) break;
        if (s.action == ClientTransaction::Action::write) {
            run.writes.emplace_back(s.bytes);
            bool ok = true;
            if (!write_ok.empty()) {
                ok = write_ok.front();
                write_ok.pop_front();
            }
            t.written(ok);
        } else {
            ++run.reads;
            smtp::Reply r{421, "4.4.2", "script ran out"};
            if (!replies.empty()) {
                r = replies.front();
                replies.pop_front();
            }
            t.replied(r, r.code != 421);
        }
    }
    EXPECT_TRUE(t.done());
    run.results = t.results();
    return run;
}

const smtp::Reply ok250{250, "2.0.0", "ok"};
const smtp::Reply go354{354, "", "go ahead"};

TEST(ClientTransaction, PipelinedEnvelopeIsOneWriteAndRefusedRcptKeepsItsReply) {
    auto env = envelope({"x@a.test", "y@a.test"});
    auto run =
        drive(env, "Subject: t\r\n\r\nhi\r\n", esmtp(),
              {ok250, {550, "5.1.1", "no such user"}, ok250, go354, {250, "2.0.0", "queued as X"}});
    ASSERT_EQ(run.writes.size(), 2u);
    EXPECT_EQ(run.writes[0],
              "MAIL FROM:<a@example.org> SIZE=18\r\nRCPT TO:<x@a.test>\r\nRCPT TO:<y@a.test>\r\n"
              "DATA\r\n");
    EXPECT_EQ(run.writes[1], "Subject: t\r\n\r\nhi\r\n.\r\n");
    ASSERT_EQ(run.results.size(), 2u);
    EXPECT_EQ(run.results[0].code, 550);
    EXPECT_EQ(run.results[1].text, "queued as X");
}

TEST(ClientTransaction, WithoutPipeliningARefusedMailStopsAndResets) {
    auto env = envelope({"x@a.test"});
    auto run = drive(env, "m\r\n", esmtp(false), {{451, "4.3.0", "later"}, ok250});
    ASSERT_EQ(run.writes.size(), 2u);
    EXPECT_EQ(run.writes[0].rfind("MAIL FROM:", 0), 0u);
    EXPECT_EQ(run.writes[1], "RSET\r\n");
    EXPECT_EQ(run.results.at(0).code, 451);
}

TEST(ClientTransaction, WithoutPipeliningNoDataWithoutARecipient) {
    auto env = envelope({"x@a.test", "y@a.test"});
    auto run = drive(env, "m\r\n", esmtp(false),
                     {ok250, {550, "5.1.1", "no"}, {551, "5.1.1", "no"}, ok250});
    // MAIL, RCPT, RCPT, then RSET: never DATA.
    ASSERT_EQ(run.writes.size(), 4u);
    EXPECT_EQ(run.writes[3], "RSET\r\n");
    EXPECT_EQ(run.results[0].code, 550);
    EXPECT_EQ(run.results[1].code, 551);
}

TEST(ClientTransaction, A354WithNoRecipientGetsAnEmptyMessage) {
    auto env = envelope({"x@a.test"});
    auto run = drive(env, "secret\r\n", esmtp(), {ok250, {550, "5.1.1", "no"}, go354, ok250});
    ASSERT_EQ(run.writes.size(), 2u);
    EXPECT_EQ(run.writes[1], ".\r\n");  // the message itself is never sent
    EXPECT_EQ(run.results[0].code, 550);
}

TEST(ClientTransaction, DataRefusedIsEveryAcceptedRecipientsReply) {
    auto env = envelope({"x@a.test", "y@a.test"});
    auto run = drive(env, "m\r\n", esmtp(),
                     {ok250, ok250, {550, "5.1.1", "no"}, {554, "5.5.1", "no data"}, ok250});
    EXPECT_EQ(run.writes.back(), "RSET\r\n");
    EXPECT_EQ(run.results[0].code, 554);
    EXPECT_EQ(run.results[1].code, 550);
}

// Found by fuzz_smtp_transaction: a peer answering DATA with 250 (not 354) must not make the
// recipients delivered, since the message was never sent.
TEST(ClientTransaction, A250ToDataIsNotADelivery) {
    auto env = envelope({"x@a.test"});
    auto run = drive(env, "m\r\n", esmtp(), {ok250, ok250, ok250, ok250});
    EXPECT_EQ(run.results[0].code, 451);
    for (const auto& w : run.writes) EXPECT_EQ(w.find("m\r\n.\r\n"), std::string::npos);
}

// Also found by it: a 2xx other than 250 to MAIL (221 here) was copied to every recipient as
// their result, making them delivered.
TEST(ClientTransaction, AnUnexpectedReplyToMailIsNotADelivery) {
    auto env = envelope({"x@a.test", "y@a.test"});
    auto run = drive(env, "m\r\n", esmtp(false), {{221, "2.0.0", "bye"}});
    for (const auto& r : run.results) EXPECT_EQ(r.code, 451);
}

TEST(ClientTransaction, BinaryMimeGoesAsOneBdatChunk) {
    auto env = envelope({"x@a.test"}, BodyType::binary_mime);
    const std::string msg("a\0b\r\n", 5);
    auto run = drive(env, msg, esmtp(), {ok250, ok250, ok250});
    ASSERT_EQ(run.writes.size(), 2u);
    EXPECT_EQ(run.writes[0].find("DATA"), std::string::npos);
    EXPECT_EQ(run.writes[1], "BDAT 5 LAST\r\n" + msg);
    EXPECT_EQ(run.results[0].code, 250);
}

TEST(ClientTransaction, APeerWithoutTheExtensionsNeededGetsNothing) {
    auto x = esmtp();
    x.eightbitmime = false;
    auto env = envelope({"x@a.test", "y@a.test"}, BodyType::eight_bit_mime);
    auto run = drive(env, "caf\xc3\xa9\r\n", x, {});
    EXPECT_TRUE(run.writes.empty());
    ASSERT_EQ(run.results.size(), 2u);
    EXPECT_EQ(run.results[0].code, 554);
    EXPECT_NE(run.results[0].text.find("8BITMIME"), std::string::npos);

    auto small = esmtp();
    small.size = 3;
    auto big = drive(envelope({"x@a.test"}), "too big\r\n", small, {});
    EXPECT_TRUE(big.writes.empty());
    EXPECT_EQ(big.results[0].code, 552);
}

TEST(ClientTransaction, ALostConnectionIsTemporaryForEveryone) {
    auto env = envelope({"x@a.test", "y@a.test"});
    auto run = drive(env, "m\r\n", esmtp(), {}, {false});
    ASSERT_EQ(run.writes.size(), 1u);
    for (const auto& r : run.results) EXPECT_EQ(r.code, 421);
    // Lost while the message is written: the accepted recipients are retried, never delivered.
    auto mid =
        drive(env, "m\r\n", esmtp(), {ok250, ok250, {550, "5.1.1", "no"}, go354}, {true, false});
    EXPECT_EQ(mid.results[0].code, 421);
    EXPECT_EQ(mid.results[1].code, 550);
}

}  // namespace
}  // namespace sluice::delivery
