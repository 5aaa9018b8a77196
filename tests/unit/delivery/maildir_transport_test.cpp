// maildir_transport_test.cpp: the Maildir transport's side of the per-recipient contract
// (delivery/transport.hpp): one answer per recipient of the job, by index; aliases expand to
// several mailboxes, each one copy; a recipient the configuration no longer has is permanent; a
// failed batch sync answers 451 and leaves no copy behind; a repeated job finds its copy instead
// of writing a second; a stopped transport drops jobs unanswered.
#include "delivery/maildir_transport.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <future>

#include "../temp_dir.hpp"
#include "config/config.hpp"
#include "delivery/maildir.hpp"

namespace sluice::delivery {
namespace {
namespace fs = std::filesystem;

struct Fixture {
    test::TempDir dir{"sluice-mdt"};
    config::Config cfg;
    std::unique_ptr<LocalRouter> router;
    std::unique_ptr<MaildirTransport> t;
    int fail_next_sync = 0;

    Fixture() {
        cfg = config::load_string(
            "hostname = \"mx.test\"\n[[domain]]\nname = \"example.org\"\n"
            "mailboxes = [\"alice\", \"bob\"]\naliases = { team = [\"alice\", \"bob\"] }\n");
        cfg.delivery.maildir_root = dir.path() / "mail";
        router = std::make_unique<LocalRouter>(cfg);
        auto o = maildir_options(cfg);
        o.threads = 1;
        o.batch_sync = true;
        o.sync_fs = [this](const std::string& path) {
            if (fail_next_sync > 0) {
                --fail_next_sync;
                return EIO;
            }
            return sync_filesystem(path);
        };
        t = std::make_unique<MaildirTransport>(o, *router);
        t->start();
    }

    static std::shared_ptr<const spool::StoredMessage> message(std::vector<std::string> rcpts) {
        auto m = std::make_shared<spool::StoredMessage>();
        m->envelope.queue_id = "1K1BTPKA5J7SN000";
        m->envelope.sender = "a@example.net";
        m->envelope.received_at_us = 1'700'000'000'000'000;
        for (auto& r : rcpts) m->envelope.recipients.push_back({r, "", 0});
        m->message = "Subject: t\r\n\r\nbody\r\n";
        return m;
    }

    Result run(Job job) {
        std::promise<Result> p;
        auto f = p.get_future();
        t->deliver(std::move(job), [&p](Result r) { p.set_value(std::move(r)); });
        return f.get();
    }

    std::size_t count(const std::string& user) {
        std::size_t n = 0;
        for (const char* sub : {"new", "cur", "tmp"}) {
            fs::path p = dir.path() / "mail" / "example.org" / user / sub;
            if (fs::is_directory(p)) n += std::distance(fs::directory_iterator(p), {});
        }
        return n;
    }
};

TEST(MaildirTransport, OneAnswerPerRecipientByIndex) {
    Fixture f;
    auto msg = Fixture::message({"x@example.net", "team@example.org", "alice@example.org"});
    Result r = f.run(Job{msg, "", {1, 2}, false});
    ASSERT_EQ(r.rcpts.size(), 2u);
    EXPECT_EQ(r.rcpts[0].index, 1u);
    EXPECT_EQ(r.rcpts[1].index, 2u);
    for (const auto& rr : r.rcpts) EXPECT_EQ(rr.disposition(), Disposition::delivered);
    EXPECT_EQ(r.copies, 3u);          // team = alice + bob, then alice again (its own copy name)
    EXPECT_EQ(f.count("alice"), 1u);  // the same mailbox for the same message: one copy
    EXPECT_EQ(f.count("bob"), 1u);
}

TEST(MaildirTransport, ARecipientNoLongerConfiguredIsPermanent) {
    Fixture f;
    Result r = f.run(Job{Fixture::message({"gone@example.org"}), "", {0}, false});
    ASSERT_EQ(r.rcpts.size(), 1u);
    EXPECT_EQ(r.rcpts[0].disposition(), Disposition::permanent);
    EXPECT_EQ(r.rcpts[0].reply.enhanced, "5.1.1");
}

TEST(MaildirTransport, AFailedSyncIsTemporaryAndTakesTheCopyBack) {
    Fixture f;
    f.fail_next_sync = 1;
    auto msg = Fixture::message({"bob@example.org"});
    Result r = f.run(Job{msg, "", {0}, false});
    EXPECT_EQ(r.rcpts.at(0).disposition(), Disposition::temporary);
    EXPECT_EQ(r.rcpts.at(0).reply.code, 451);
    EXPECT_EQ(r.copies, 0u);
    EXPECT_EQ(f.count("bob"), 0u);
    // The retry delivers it, once.
    Result again = f.run(Job{msg, "", {0}, true});
    EXPECT_EQ(again.rcpts.at(0).disposition(), Disposition::delivered);
    EXPECT_EQ(f.count("bob"), 1u);
    Result third = f.run(Job{msg, "", {0}, true});
    EXPECT_EQ(third.rcpts.at(0).disposition(), Disposition::delivered);
    EXPECT_EQ(f.count("bob"), 1u);
}

TEST(MaildirTransport, AStoppedTransportDropsJobsUnanswered) {
    Fixture f;
    f.t->stop();
    bool answered = false;
    f.t->deliver(Job{Fixture::message({"bob@example.org"}), "", {0}, false},
                 [&](Result) { answered = true; });
    EXPECT_FALSE(answered);
    EXPECT_EQ(f.t->queued(), 0u);
    EXPECT_EQ(f.count("bob"), 0u);
}

}  // namespace
}  // namespace sluice::delivery
