// streamed_body_test.cpp: a message body streamed into its slot while it arrives (IncomingBody):
// committed, it reads back whole (in this process and after a restart); dropped, it leaves nothing;
// a failed write or commit acknowledges nothing; a torn streamed slot never reads as a message.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>

#include "../temp_dir.hpp"
#include "common/queue_id.hpp"
#include "spool/file_ops.hpp"
#include "spool/spool.hpp"

namespace sluice::spool {
namespace {

namespace stdfs = std::filesystem;

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::shared_ptr<StoredMessage> head_only(std::string head) {
    auto m = std::make_shared<StoredMessage>();
    m->envelope.queue_id = new_queue_id(now_us());
    m->envelope.sender = "s@example.org";
    m->envelope.recipients.push_back({"r@example.com", "", 0});
    m->envelope.helo = "client";
    m->envelope.client_ip = "192.0.2.1";
    m->envelope.listener = "mx";
    m->envelope.protocol = "ESMTP";
    m->envelope.received_at_us = now_us();
    m->message = std::move(head);
    return m;
}

CommitResult commit_sync(Spool& s, std::shared_ptr<const StoredMessage> m) {
    std::promise<CommitResult> p;
    auto f = p.get_future();
    s.commit(std::move(m), [&p](CommitResult r) { p.set_value(std::move(r)); });
    return f.get();
}

// A body of `n` bytes that differ from place to place (a shifted or repeated chunk would show).
std::string body_bytes(std::size_t n) {
    std::string b;
    b.reserve(n);
    for (std::size_t i = 0; b.size() < n; ++i) b += "line " + std::to_string(i) + "\r\n";
    b.resize(n);
    return b;
}

std::shared_ptr<StoredMessage> stream(Spool& s, const std::string& head, const std::string& body,
                                      std::size_t chunk) {
    int err = 0;
    auto in = s.begin_body(&err);
    EXPECT_TRUE(in) << err;
    if (!in) return nullptr;
    for (std::size_t i = 0; i < body.size(); i += chunk)
        EXPECT_EQ(in->append(std::string_view(body).substr(i, chunk)), 0);
    auto m = head_only(head);
    m->body = std::move(in);
    return m;
}

class FailingWrites final : public PosixFileOps {
  public:
    int fail_from = 1 << 30;  // write_at calls from this one on fail with ENOSPC
    int calls = 0;
    int write_at(const std::string& p, std::uint64_t off, std::string_view d, bool sync) override {
        if (++calls >= fail_from) return ENOSPC;
        return PosixFileOps::write_at(p, off, d, sync);
    }
};

TEST(StreamedBody, CommitsAndReadsBackWholeNowAndAfterARestart) {
    test::TempDir t;
    const std::string head = "Received: by us\r\nSubject: big\r\n\r\n";
    const std::string body = body_bytes(3 * 1024 * 1024 + 17);
    std::string id;
    {
        Spool s({t.path(), 1, nullptr});
        s.recover();
        auto m = stream(s, head, body, 65536);
        ASSERT_TRUE(m);
        EXPECT_EQ(m->size(), head.size() + body.size());
        id = m->envelope.queue_id;
        ASSERT_TRUE(commit_sync(s, m).ok);
        auto back = s.load_message(id);
        ASSERT_TRUE(back);
        EXPECT_TRUE(back->message == head + body);
        EXPECT_FALSE(back->body);
    }
    Spool s({t.path(), 1, nullptr});
    auto entries = s.recover();
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].envelope.queue_id, id);
    EXPECT_EQ(entries[0].message_size, head.size() + body.size());
    auto back = s.load_message(id);
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->message == head + body);
    // Removed, its slot is reused by a small in-memory commit, whose shorter record hides the
    // streamed bytes left behind.
    ASSERT_TRUE(s.remove(id));
    auto small = head_only("Subject: small\r\n\r\nhi\r\n");
    ASSERT_TRUE(commit_sync(s, small).ok);
    Spool again({t.path(), 1, nullptr});
    auto e2 = again.recover();
    ASSERT_EQ(e2.size(), 1u);
    EXPECT_EQ(again.load_message(small->envelope.queue_id)->message, small->message);
}

TEST(StreamedBody, AnAbortedBodyLeavesNothingAndItsSlotIsReused) {
    test::TempDir t;
    Spool s({t.path(), 1, nullptr});
    s.recover();
    {
        int err = 0;
        auto in = s.begin_body(&err);
        ASSERT_TRUE(in);
        ASSERT_EQ(in->append(body_bytes(100000)), 0);
    }  // the client went away
    auto m = stream(s, "Subject: x\r\n\r\n", body_bytes(5000), 1000);
    ASSERT_TRUE(commit_sync(s, m).ok);
    // One slot file: the aborted body's slot was taken again.
    std::size_t slots = 0;
    for (const auto& e : stdfs::directory_iterator(t.path() / "slots")) (void)e, ++slots;
    EXPECT_EQ(slots, 1u);
    Spool reader({t.path(), 1, nullptr});
    auto entries = reader.recover();
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].envelope.queue_id, m->envelope.queue_id);
}

TEST(StreamedBody, AFailedWriteOrCommitAcknowledgesNothing) {
    for (int fail_from : {2, 4, 5}) {  // a body write; the queue file; the header with its sync
        test::TempDir t;
        auto fs = std::make_shared<FailingWrites>();
        Spool s({t.path(), 1, fs});
        s.recover();
        int err = 0;
        auto in = s.begin_body(&err);
        ASSERT_TRUE(in);
        fs->fail_from = fail_from;
        const std::string body = body_bytes(30000);
        int first_error = 0;
        for (std::size_t i = 0; i < body.size(); i += 10000)
            if (int e = in->append(std::string_view(body).substr(i, 10000)); e && !first_error)
                first_error = e;
        EXPECT_EQ(first_error, fail_from <= 3 ? ENOSPC : 0) << fail_from;
        auto m = head_only("Subject: x\r\n\r\n");
        m->body = in;
        in.reset();
        CommitResult r = commit_sync(s, m);
        EXPECT_FALSE(r.ok) << fail_from;
        EXPECT_EQ(r.err_no, ENOSPC) << fail_from;
        fs->fail_from = 1 << 30;
        Spool reader({t.path(), 1, nullptr});
        EXPECT_TRUE(reader.recover().empty()) << fail_from;
    }
}

TEST(StreamedBody, ATornStreamedSlotIsNeverTakenForAMessage) {
    test::TempDir t;
    std::string whole;
    {
        Spool s({t.path(), 1, nullptr});
        s.recover();
        auto m = stream(s, "Subject: x\r\n\r\n", body_bytes(20000), 4096);
        ASSERT_TRUE(commit_sync(s, m).ok);
        std::ifstream f(t.path() / "slots" / "s0000000", std::ios::binary);
        whole.assign(std::istreambuf_iterator<char>(f), {});
    }
    const stdfs::path slot = t.path() / "slots" / "s0000000";
    for (std::size_t cut : {std::size_t{4}, std::size_t{27}, std::size_t{5000}, std::size_t{20030},
                            whole.size() - 4096 - 1}) {
        // The header landed, the rest only up to `cut` (zeros after: never written).
        std::string torn = whole.substr(0, cut);
        torn.resize(whole.size(), '\0');
        if (cut < 28) torn = whole.substr(0, 28) + std::string(whole.size() - 28, '\0');
        {
            std::ofstream f(slot, std::ios::binary | std::ios::trunc);
            f.write(torn.data(), static_cast<std::streamsize>(torn.size()));
        }
        Spool s({t.path(), 1, nullptr});
        EXPECT_TRUE(s.recover().empty()) << "cut " << cut;
    }
    // A flipped byte in the body.
    std::string flipped = whole;
    flipped[100] ^= 1;
    {
        std::ofstream f(slot, std::ios::binary | std::ios::trunc);
        f.write(flipped.data(), static_cast<std::streamsize>(flipped.size()));
    }
    Spool s({t.path(), 1, nullptr});
    EXPECT_TRUE(s.recover().empty());
}

}  // namespace
}  // namespace sluice::spool
