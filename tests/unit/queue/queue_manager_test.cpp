// queue_manager_test.cpp: per-recipient routing, retries and bounces, with a real spool and the
// real Maildir transport in a temporary directory, and a scripted fake remote transport.
#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "common/queue_id.hpp"
#include "config/config.hpp"
#include "delivery/maildir.hpp"
#include "delivery/maildir_transport.hpp"
#include "delivery/transport.hpp"
#include "queue/queue_manager.hpp"

using namespace sluice;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Answers each job with the next scripted reply (the last one repeats), at once.
class FakeCourier : public delivery::Transport {
  public:
    std::deque<smtp::Reply> replies;
    std::mutex mu;
    std::atomic<int> jobs{0};  // atomic: bumped by queue workers, polled by the test thread (TSan)
    std::vector<std::string> domains;

    std::string_view name() const override { return "fake"; }
    bool remote() const override { return true; }
    void deliver(delivery::Job job, std::function<void(delivery::Result)> done) override {
        smtp::Reply r;
        {
            std::lock_guard lock(mu);
            ++jobs;
            domains.push_back(job.domain);
            r = replies.front();
            if (replies.size() > 1) replies.pop_front();
        }
        delivery::Result res;
        res.mx = "mx." + job.domain;
        for (auto i : job.rcpts) res.rcpts.push_back({i, r, false});
        std::lock_guard lock(mu);
        threads.emplace_back([done, res] { done(res); });
    }
    // Joined before the queue is destroyed: a detached thread could call `done` on a dead queue.
    void join() {
        std::vector<std::thread> ts;
        {
            std::lock_guard lock(mu);
            ts.swap(threads);
        }
        for (auto& t : ts) t.join();
    }
    std::vector<std::thread> threads;
};

struct Fixture : ::testing::Test {
    fs::path dir = fs::temp_directory_path() /
                   ("sluice_qm_test_" + std::to_string(::getpid()) + "_" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    config::Config cfg;
    std::unique_ptr<spool::Spool> spool;
    std::unique_ptr<delivery::LocalRouter> router;
    FakeCourier courier;
    std::unique_ptr<delivery::MaildirTransport> maildir;
    std::unique_ptr<queue::QueueManager> qm;
    std::atomic<int> syncs{0};       // file system syncs the transport asked for
    std::atomic<int> fail_syncs{0};  // how many of the next ones fail with EIO

    void SetUp() override {
        fs::remove_all(dir);
        cfg = config::load_string(
            "hostname = \"mx.test\"\n[[domain]]\nname = \"example.org\"\n"
            "mailboxes = [\"alice\", \"bob\"]\n");
        cfg.delivery.maildir_root = dir / "mail";
        spool = std::make_unique<spool::Spool>(spool::Spool::Options{dir / "spool", 1, nullptr});
        router = std::make_unique<delivery::LocalRouter>(cfg);
        restart(counting_sync());
    }
    void TearDown() override {
        stop();
        fs::remove_all(dir);
    }
    // The transports first (transport.hpp): none answers a queue that is gone.
    void stop() {
        if (maildir) maildir->stop();
        if (qm) qm->stop();
        courier.join();  // no new jobs after stop(); outstanding replies reach a live queue
    }

    std::function<int(const std::string&)> counting_sync() {
        return [this](const std::string& path) {
            ++syncs;
            if (fail_syncs > 0) {
                --fail_syncs;
                return EIO;
            }
            return delivery::sync_filesystem(path);
        };
    }

    // A new Maildir transport and queue (the old ones stopped). `start`: start both now.
    // threads = 0: the Maildir copies are made by the queue's thread (drain()), as in the server.
    void restart(std::function<int(const std::string&)> sync_fs, unsigned threads = 0,
                 unsigned batch = 32, bool start = true,
                 std::optional<queue::Options> opts = std::nullopt) {
        stop();
        qm.reset();
        auto mo = delivery::maildir_options(cfg);
        mo.threads = threads;
        mo.batch = batch;
        mo.batch_sync = true;
        mo.sync_fs = std::move(sync_fs);
        maildir = std::make_unique<delivery::MaildirTransport>(mo, *router);
        auto o = opts ? *opts : queue_options();
        o.local = maildir.get();
        o.remote = &courier;
        qm = std::make_unique<queue::QueueManager>(o, *spool, *router);
        if (start) {
            maildir->start();
            qm->start({});
        }
    }

    queue::Options queue_options() {
        auto o = queue::options_from(cfg, nullptr, &courier);
        o.workers = 1;
        o.retry_initial = 50ms;
        o.retry_max = 100ms;
        return o;
    }

    void submit(std::string sender, std::vector<std::string> rcpts) {
        auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
        auto m = std::make_shared<spool::StoredMessage>();
        m->envelope.queue_id = new_queue_id(now);
        m->envelope.sender = std::move(sender);
        for (auto& r : rcpts) m->envelope.recipients.push_back({r, {}, 0});
        m->envelope.received_at_us = now;
        m->message = "Subject: t\r\n\r\nbody\r\n";
        std::promise<spool::CommitResult> p;
        spool->commit(m, [&p](spool::CommitResult r) { p.set_value(r); });
        ASSERT_TRUE(p.get_future().get().ok);
        qm->enqueue(m);
    }

    std::size_t mails(const std::string& user) {
        fs::path p = dir / "mail" / "example.org" / user / "new";
        if (!fs::is_directory(p)) return 0;
        return static_cast<std::size_t>(std::distance(fs::directory_iterator(p), {}));
    }

    // Remote deliveries keep failing temporarily, and the sender gets a "delayed" DSN at once.
    queue::Options delay_warning_options() {
        auto o = queue_options();
        o.delay_warning = 1ms;
        return o;
    }

    // Submits one message to a remote recipient that answers 451, and waits until the delay
    // warning has reached the sender (bob) and left the spool. Returns the message's queue ID.
    std::string submit_until_delay_warning() {
        courier.replies = {{451, "4.2.2", "mailbox full"}};
        restart(counting_sync(), 0, 32, true, delay_warning_options());
        submit("bob@example.org", {"x@a.test"});
        const std::string id = spool->list_ids().at(0);
        EXPECT_TRUE(eventually([&] { return mails("bob") == 1; }));
        EXPECT_TRUE(eventually([&] { return spool->list_ids().size() == 1; }));  // DSN delivered
        EXPECT_EQ(qm->stats().bounces, 1u);
        return id;
    }

    template <class F>
    bool eventually(F f) {
        for (int i = 0; i < 200; ++i) {
            if (f()) return true;
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }
};

}  // namespace

TEST_F(Fixture, LocalAndRemoteSplitThenDone) {
    courier.replies = {{250, "2.0.0", "ok"}};
    submit("bob@example.org", {"alice@example.org", "x@a.test", "y@b.test", "z@a.test"});
    ASSERT_TRUE(eventually([&] { return spool->list_ids().empty(); }));
    EXPECT_EQ(mails("alice"), 1u);
    EXPECT_EQ(courier.jobs.load(), 2);  // one per domain
    EXPECT_EQ(mails("bob"), 0u);        // no DSN without NOTIFY=SUCCESS
}

TEST_F(Fixture, TemporaryThenSuccess) {
    courier.replies = {{451, "4.3.0", "later"}, {250, "2.0.0", "ok"}};
    submit("bob@example.org", {"x@a.test"});
    ASSERT_TRUE(eventually([&] { return spool->list_ids().empty(); }));
    EXPECT_EQ(courier.jobs.load(), 2);
    EXPECT_EQ(mails("bob"), 0u);
}

TEST_F(Fixture, PermanentFailureBouncesOnce) {
    courier.replies = {{550, "5.1.1", "no such user"}};
    submit("bob@example.org", {"x@a.test", "y@a.test"});
    ASSERT_TRUE(eventually([&] { return mails("bob") == 1; }));
    ASSERT_TRUE(eventually([&] { return spool->list_ids().empty(); }));
    EXPECT_EQ(qm->stats().bounces, 1u);
}

TEST_F(Fixture, NoBounceForNullSender) {
    courier.replies = {{550, "5.1.1", "no such user"}};
    submit("", {"x@a.test"});
    ASSERT_TRUE(eventually([&] { return spool->list_ids().empty(); }));
    EXPECT_EQ(qm->stats().bounces, 0u);
}

// Copies are made durable by one sync per batch; when that sync fails, the copies are taken back
// and the message is retried, so it ends up in the mailbox exactly once.
TEST_F(Fixture, FailedBatchSyncTakesCopiesBackAndRetries) {
    fail_syncs = 1;
    submit("bob@example.org", {"alice@example.org"});
    ASSERT_TRUE(eventually([&] { return spool->list_ids().empty(); }));
    EXPECT_EQ(mails("alice"), 1u);
    EXPECT_GE(syncs.load(), 2);
    EXPECT_EQ(qm->stats().deferred, 1u);
    EXPECT_EQ(qm->stats().delivered_copies, 1u);
    EXPECT_EQ(qm->stats().bounces, 0u);
}

// A Maildir reader (Dovecot) may move a new copy to cur/ before the batch sync runs: the sync must
// not depend on the file still being in new/, or the message is deferred for nothing.
TEST_F(Fixture, BatchSyncSurvivesAReaderMovingTheCopy) {
    restart([this](const std::string& path) {
        ++syncs;
        const fs::path box = dir / "mail" / "example.org" / "alice";
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(box / "new", ec))
            fs::rename(e.path(), box / "cur" / (e.path().filename().string() + ":2,S"), ec);
        return delivery::sync_filesystem(path);
    });
    submit("bob@example.org", {"alice@example.org"});
    ASSERT_TRUE(eventually([&] { return spool->list_ids().empty(); }));
    EXPECT_EQ(qm->stats().deferred, 0u);
    EXPECT_EQ(qm->stats().delivered_copies, 1u);
    const fs::path cur = dir / "mail" / "example.org" / "alice" / "cur";
    EXPECT_EQ(std::distance(fs::directory_iterator(cur), {}), 1);
    EXPECT_EQ(mails("alice"), 0u);
}

TEST_F(Fixture, ManyReadyMessagesShareSyncs) {
    // Queue up work first (the queue hands 40 jobs to a transport not yet started), then let one
    // transport thread take it in batches.
    restart(counting_sync(), 1, 16, false);
    for (int i = 0; i < 40; ++i) submit("bob@example.org", {"alice@example.org"});
    qm->start({});
    ASSERT_TRUE(eventually([&] { return maildir->queued() == 40; }));
    maildir->start();
    ASSERT_TRUE(eventually([&] { return spool->list_ids().empty(); }));
    EXPECT_EQ(mails("alice"), 40u);
    EXPECT_LE(syncs.load(), 3);  // 16 + 16 + 8
    EXPECT_EQ(qm->stats().delivered_copies, 40u);
}

// Without a test hook the batch sync goes through the delivery thread's own syncfs descriptors
// (the Maildir root's, opened at start, and one per other file system).
TEST_F(Fixture, RealBatchSyncDelivers) {
    fs::create_directories(dir / "mail");
    restart(nullptr, 2, 8, false);
    for (int i = 0; i < 20; ++i) submit("bob@example.org", {"alice@example.org"});
    maildir->start();
    qm->start({});
    ASSERT_TRUE(eventually([&] { return spool->list_ids().empty(); }));
    EXPECT_EQ(mails("alice"), 20u);
    EXPECT_EQ(qm->stats().delivered_copies, 20u);
    EXPECT_EQ(qm->stats().deferred, 0u);
}

// Operator commands (control socket): hold, release, delete, flush.
TEST_F(Fixture, HoldStopsRetriesReleaseDelivers) {
    courier.replies = {{451, "4.3.0", "later"}};
    submit("bob@example.org", {"x@a.test"});
    ASSERT_TRUE(eventually([&] { return courier.jobs >= 1; }));
    const std::string id = spool->list_ids().at(0);
    auto r = qm->hold(id);
    ASSERT_TRUE(r.ok) << r.message;
    ASSERT_TRUE(eventually([&] { return spool->load_entry(id)->held; }));
    std::this_thread::sleep_for(300ms);  // several retry periods: the attempt in flight may end
    const int jobs = courier.jobs;
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(courier.jobs.load(), jobs);  // no more attempts while held
    EXPECT_FALSE(qm->flush(id).ok);        // held: flush refuses, release is the way
    EXPECT_TRUE(qm->hold(id).ok);          // holding again is harmless
    {
        std::lock_guard lock(courier.mu);
        courier.replies = {{250, "2.0.0", "ok"}};
    }
    r = qm->release(id);
    ASSERT_TRUE(r.ok) << r.message;
    ASSERT_TRUE(eventually([&] { return spool->list_ids().empty(); }));
    EXPECT_GT(courier.jobs.load(), jobs);
    EXPECT_FALSE(qm->release(id).ok);  // gone
}

TEST_F(Fixture, DeleteRemovesWithoutDeliveryOrDsn) {
    courier.replies = {{451, "4.3.0", "later"}};
    submit("bob@example.org", {"x@a.test"});
    ASSERT_TRUE(eventually([&] { return courier.jobs >= 1; }));
    const std::string id = spool->list_ids().at(0);
    auto r = qm->remove(id);
    ASSERT_TRUE(r.ok) << r.message;
    ASSERT_TRUE(eventually([&] { return spool->list_ids().empty(); }));
    const int jobs = courier.jobs;
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(courier.jobs.load(), jobs);  // an attempt in flight never reschedules it
    EXPECT_TRUE(spool->list_ids().empty());
    EXPECT_EQ(mails("bob"), 0u);  // no DSN for an operator delete
    EXPECT_EQ(qm->stats().queued, 0u);
}

TEST_F(Fixture, AdminCommandsOnUnknownMessagesFail) {
    const std::string id = new_queue_id(1'700'000'000'000'000);
    EXPECT_FALSE(qm->flush(id).ok);
    EXPECT_FALSE(qm->hold(id).ok);
    EXPECT_FALSE(qm->release(id).ok);
    EXPECT_FALSE(qm->remove(id).ok);
    EXPECT_EQ(qm->flush(), 0u);
}

// The "delay warning sent" mark is kept in the spool: a restart (new Spool, recover(), new
// QueueManager) goes on retrying the message but does not warn the sender a second time.
TEST_F(Fixture, DelayWarningIsNotRepeatedAfterARestart) {
    const std::string id = submit_until_delay_warning();
    EXPECT_TRUE(spool->load_entry(id)->delay_warned);

    stop();
    qm.reset();
    spool = std::make_unique<spool::Spool>(spool::Spool::Options{dir / "spool", 1, nullptr});
    auto recovered = spool->recover();
    ASSERT_EQ(recovered.size(), 1u);
    EXPECT_TRUE(recovered[0].delay_warned);
    restart(counting_sync(), 0, 32, false, delay_warning_options());
    const int jobs = courier.jobs;
    maildir->start();
    qm->start(std::move(recovered));
    ASSERT_TRUE(eventually([&] { return courier.jobs >= jobs + 3; }));  // still retried
    EXPECT_EQ(qm->stats().bounces, 0u);
    EXPECT_EQ(mails("bob"), 1u);
    EXPECT_EQ(spool->list_ids(), std::vector<std::string>{id});
}

// Release rebuilds the message from the spool: it must not forget the warning either.
TEST_F(Fixture, DelayWarningIsNotRepeatedAfterHoldAndRelease) {
    const std::string id = submit_until_delay_warning();
    auto r = qm->hold(id);
    ASSERT_TRUE(r.ok) << r.message;
    // Out of the schedule (an attempt in flight ends first), so release reads it from the spool.
    ASSERT_TRUE(eventually([&] { return qm->stats().queued == 0; }));
    const int jobs = courier.jobs;
    r = qm->release(id);
    ASSERT_TRUE(r.ok) << r.message;
    ASSERT_TRUE(eventually([&] { return courier.jobs >= jobs + 3; }));
    EXPECT_EQ(qm->stats().bounces, 1u);  // the one before the hold
    EXPECT_EQ(mails("bob"), 1u);
}
