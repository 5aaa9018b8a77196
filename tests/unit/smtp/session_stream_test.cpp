// session_stream_test.cpp: the body leaves the session while it arrives (take_body), so memory per
// connection stays bounded; what the driver streamed plus what the commit hands over is the
// message, for DATA and BDAT, however the input is cut. And the header section limit (552).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "smtp/session.hpp"

namespace sluice::smtp {
namespace {

struct Driven {
    std::string replies;
    std::vector<std::string> messages;  // streamed body + pending message, reassembled
    std::vector<std::size_t> header_sizes;
    std::size_t most_buffered = 0;  // largest message_buffered() seen between reads
};

// Feeds `input` in pieces of `chunk`; whenever `threshold` body bytes are buffered, takes them
// (as the server streams them to the spool).
Driven drive(const std::string& input, std::size_t chunk, std::size_t threshold,
             SessionLimits limits = {}) {
    Session s(SessionInfo{"mx.test", "smtp", "192.0.2.1", 4242, false}, limits);
    s.start();
    Driven r;
    std::string streamed;
    std::size_t pos = 0;
    while (true) {
        Event ev = s.next();
        if (ev == Event::need_input) {
            r.most_buffered = std::max(r.most_buffered, s.message_buffered());
            if (s.body_buffered() >= threshold) streamed += s.take_body();
            if (!s.message_open()) streamed.clear();
            r.replies += s.output();
            s.output().clear();
            if (pos >= input.size()) break;
            const std::size_t n = std::min(chunk, input.size() - pos);
            s.feed(std::string_view(input).substr(pos, n));
            pos += n;
        } else if (ev == Event::check_recipient) {
            s.recipient_verdict({250, "2.1.5", "Ok"});
        } else if (ev == Event::commit) {
            PendingMessage& pm = s.pending_message();
            // What was taken goes right after the header section.
            std::string m =
                pm.message.substr(0, pm.header_size) + streamed + pm.message.substr(pm.header_size);
            r.messages.push_back(m);
            r.header_sizes.push_back(pm.header_size);
            streamed.clear();
            s.commit_done({250, "2.0.0", "Ok"});
        } else {
            r.replies += s.output();
            break;
        }
    }
    return r;
}

std::string big_body(std::size_t lines) {
    std::string b;
    for (std::size_t i = 0; i < lines; ++i) b += "body line " + std::to_string(i) + " xxxxxxxx\r\n";
    return b;
}

const std::string kHead = "EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<r@example.org>\r\n";

TEST(SessionStream, DataBodyTakenWhileArrivingReassemblesExactly) {
    const std::string headers = "Subject: s\r\nX-Folded: a\r\n b\r\n\r\n";
    const std::string body = big_body(3000) + ".starts with a dot\r\n";
    const std::string wire =
        kHead + "DATA\r\n" + headers + big_body(3000) + "..starts with a dot\r\n.\r\nQUIT\r\n";
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, wire.size()}) {
        Driven r = drive(wire, chunk, 1024);
        ASSERT_EQ(r.messages.size(), 1u) << chunk << r.replies;
        EXPECT_TRUE(r.messages[0] == headers + body) << chunk;
        EXPECT_EQ(r.header_sizes[0], headers.size());
        // Never much more than the threshold, the header and one read in memory.
        EXPECT_LT(r.most_buffered, headers.size() + 1024 + chunk + 64) << chunk;
    }
}

TEST(SessionStream, BdatBodyTakenWhileArrivingReassemblesExactly) {
    const std::string msg = "Subject: s\r\n\r\n" + big_body(2000);
    const std::string a = msg.substr(0, 30000), b = msg.substr(30000);
    const std::string wire = kHead + "BDAT " + std::to_string(a.size()) + "\r\n" + a + "BDAT " +
                             std::to_string(b.size()) + " LAST\r\n" + b + "QUIT\r\n";
    for (std::size_t chunk : {std::size_t{3}, std::size_t{4096}, wire.size()}) {
        Driven r = drive(wire, chunk, 2048);
        ASSERT_EQ(r.messages.size(), 1u) << chunk << r.replies;
        EXPECT_TRUE(r.messages[0] == msg) << chunk;
        // The chunk's 250 counts every octet, taken ones too.
        EXPECT_NE(r.replies.find("250 2.0.0 30000 octets received"), std::string::npos);
    }
}

TEST(SessionStream, NothingIsTakenFromTheHeaderSectionOrAMessageWithoutBody) {
    std::string headers = "Subject: s\r\n";
    for (int i = 0; i < 200; ++i)
        headers += "X-" + std::to_string(i) + ": " + std::string(20, 'h') + "\r\n";
    Driven r = drive(kHead + "DATA\r\n" + headers + ".\r\nQUIT\r\n", 512, 16);
    ASSERT_EQ(r.messages.size(), 1u) << r.replies;
    EXPECT_EQ(r.messages[0], headers);
    EXPECT_EQ(r.header_sizes[0], headers.size());
}

TEST(SessionStream, AHeaderSectionOverTheLimitIs552AndTheSessionGoesOn) {
    SessionLimits l;
    l.header_size = 4096;
    l.text_line = 100000;
    // One folded header of 20 KB, then a huge block of short fields.
    std::string folded = "Subject: x\r\n";
    for (int i = 0; i < 400; ++i) folded += " fold " + std::string(40, 'f') + "\r\n";
    std::string many;
    for (int i = 0; i < 1000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
    for (const std::string& h : {folded, many}) {
        const std::string data = kHead + "DATA\r\n" + h + "\r\nbody\r\n.\r\n";
        const std::string bdat =
            kHead + "BDAT " + std::to_string(h.size() + 8) + " LAST\r\n" + h + "\r\nbody\r\n";
        for (const std::string& w : {data, bdat}) {
            Driven r = drive(w + "MAIL FROM:<a@b.test>\r\nQUIT\r\n", 1000, 1 << 30, l);
            EXPECT_TRUE(r.messages.empty());
            EXPECT_NE(r.replies.find("552 5.3.4 Message header section exceeds 4096 octets"),
                      std::string::npos)
                << r.replies;
            EXPECT_NE(r.replies.find("250 2.1.0"), std::string::npos);  // the next MAIL
            EXPECT_LT(r.most_buffered, 4096u + 1000u);                  // refused while arriving
        }
    }
    // Just under the limit passes.
    std::string ok = "Subject: x\r\n" + std::string(4000, 'a') + ": v\r\n\r\n";
    l.header_size = ok.size();
    Driven r = drive(kHead + "DATA\r\n" + ok + "b\r\n.\r\nQUIT\r\n", 100, 1 << 30, l);
    ASSERT_EQ(r.messages.size(), 1u) << r.replies;
}

TEST(SessionStream, ABodyWithoutTheEmptyLineStartsAtTheFirstNonHeaderLine) {
    SessionLimits l;
    l.header_size = 64;
    const std::string m = "Subject: s\r\nthis is already body text\r\n" + big_body(50);
    for (std::size_t chunk : {std::size_t{7}, std::size_t{512}}) {
        Driven r = drive(kHead + "DATA\r\n" + m + ".\r\nQUIT\r\n", chunk, 100, l);
        ASSERT_EQ(r.messages.size(), 1u) << r.replies;
        // The boundary is made explicit: an empty line after the header section.
        EXPECT_EQ(r.messages[0], "Subject: s\r\n\r\n" + m.substr(12));
        EXPECT_EQ(r.header_sizes[0], std::string("Subject: s\r\n\r\n").size());
    }
    // A second From: after a line that is not a header is body, for every reader.
    const std::string spoof = "From: me@mine.test\r\ngarbage\r\nFrom: ceo@bank.test\r\n\r\nx\r\n";
    Driven s = drive(kHead + "DATA\r\n" + spoof + ".\r\nQUIT\r\n", 512, 1 << 20);
    ASSERT_EQ(s.messages.size(), 1u);
    EXPECT_EQ(s.messages[0],
              "From: me@mine.test\r\n\r\ngarbage\r\nFrom: ceo@bank.test\r\n\r\nx\r\n");
}

}  // namespace
}  // namespace sluice::smtp
