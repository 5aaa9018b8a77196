// spool_test.cpp: the durable spool: commit and read back, failures injected at every file-system
// call (nothing half-committed may remain, nothing acknowledged may be lost), concurrent commits,
// slot reuse and torn rewrites, recovery (corrupt slots, status folding, torn status records) and
// a throughput check.
#include "spool/spool.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "../temp_dir.hpp"
#include "common/queue_id.hpp"
#include "common/sync_dir.hpp"

namespace sluice::spool {
namespace {

namespace stdfs = std::filesystem;

using TempDir = test::TempDir;

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::shared_ptr<StoredMessage> make_message(std::size_t rcpts = 2, std::size_t body_size = 0) {
    auto m = std::make_shared<StoredMessage>();
    m->envelope.queue_id = new_queue_id(now_us());
    m->envelope.sender = "sender@example.org";
    for (std::size_t i = 0; i < rcpts; ++i) {
        m->envelope.recipients.push_back({"r" + std::to_string(i) + "@example.com", "", 0});
    }
    m->envelope.helo = "client";
    m->envelope.client_ip = "192.0.2.1";
    m->envelope.listener = "mx";
    m->envelope.protocol = "ESMTP";
    m->envelope.received_at_us = now_us();
    m->message = "Subject: " + m->envelope.queue_id + "\r\n\r\nbody\r\n";
    m->message.push_back('\0');
    if (body_size > m->message.size()) m->message.resize(body_size, 'x');
    return m;
}

CommitResult commit_sync(Spool& s, std::shared_ptr<const StoredMessage> m) {
    std::promise<CommitResult> p;
    auto f = p.get_future();
    s.commit(std::move(m), [&p](CommitResult r) { p.set_value(std::move(r)); });
    return f.get();
}

// The messages a fresh reader finds in the spool at `dir` (read-only scan, as the CLI does).
std::set<std::string> committed_ids(const stdfs::path& dir) {
    Spool reader({dir, 1, nullptr});
    std::set<std::string> out;
    for (const auto& e : reader.scan()) out.insert(e.envelope.queue_id);
    return out;
}

std::set<std::string> files_in(const stdfs::path& dir) {
    std::set<std::string> out;
    for (const auto& e : stdfs::directory_iterator(dir)) out.insert(e.path().filename().string());
    return out;
}

// A FileOps that passes calls to the real file system but can fail the Nth call of one kind.
class FaultyFileOps : public FileOps {
  public:
    enum Op {
        op_write,
        op_append,
        op_read,
        op_rename,
        op_remove,
        op_sync_dir,
        op_overwrite,
        op_sync_fs,
        op_sync_file,
        op_write_back,
        op_write_at,  // a streamed body's bytes, or the tail and header of its commit
        op_count
    };

    // The `nth` next call of `op` (1 = the very next) fails with `err`. With `perform`, the call is
    // made first (for writes: half of the data is written, or all of it with sync, to model a
    // failed fsync) and the error is reported afterwards.
    void fail_at(Op op, int nth, int err, bool perform) {
        std::lock_guard lk(mu_);
        fault_ = Fault{op, nth, err, perform};
    }
    int calls(Op op) const {
        std::lock_guard lk(mu_);
        return calls_[op];
    }
    // Every call of `op` fails with `err` (nothing done) until set back to 0.
    void fail_always(Op op, int err) {
        std::lock_guard lk(mu_);
        always_[op] = err;
    }
    // Every rewrite that marks a slot free fails with `err` until set back to 0.
    void fail_free_marks(int err) {
        std::lock_guard lk(mu_);
        free_marks_err_ = err;
    }
    // Whether the spool may make in-place rewrites durable with write_back and one flush: off
    // unless a test asks (the real answer depends on the file system the tests run on), or the
    // real answer (use_real_in_place).
    void set_in_place(bool on) { in_place_ = on ? 1 : 0; }
    void use_real_in_place() { in_place_ = -1; }

    int write_file(const std::string& path, std::string_view data, bool sync) override {
        if (auto f = hit(op_write)) {
            if (f->perform) {
                if (f->err == EIO) {
                    real_.write_file(path, data, sync);  // written and synced, but fsync "failed"
                } else {
                    real_.write_file(path, data.substr(0, data.size() / 2), false);  // disk full
                }
            }
            return f->err;
        }
        return real_.write_file(path, data, sync);
    }
    int overwrite_file(const std::string& path, std::string_view data, bool sync) override {
        {
            std::lock_guard lk(mu_);
            if (free_marks_err_ != 0 && data.substr(0, 4) == "FREE") return free_marks_err_;
        }
        if (auto f = hit(op_overwrite)) {
            if (f->perform) {
                if (f->err == EIO) {
                    real_.overwrite_file(path, data, sync);  // rewritten and synced, "failed"
                } else {
                    real_.overwrite_file(path, data.substr(0, data.size() / 2), false);
                }
            }
            return f->err;
        }
        return real_.overwrite_file(path, data, sync);
    }
    int write_at(const std::string& path, std::uint64_t offset, std::string_view data,
                 bool sync) override {
        if (auto f = hit(op_write_at)) {
            if (f->perform) real_.write_at(path, offset, data.substr(0, data.size() / 2), false);
            return f->err;
        }
        return real_.write_at(path, offset, data, sync);
    }
    int append_file(const std::string& path, std::string_view data, bool sync) override {
        if (auto f = hit(op_append)) return f->err;
        return real_.append_file(path, data, sync);
    }
    int read_file(const std::string& path, std::string& out) override {
        if (auto f = hit(op_read)) return f->err;
        return real_.read_file(path, out);
    }
    int rename_file(const std::string& from, const std::string& to) override {
        if (auto f = hit(op_rename)) {
            if (f->perform) real_.rename_file(from, to);
            return f->err;
        }
        return real_.rename_file(from, to);
    }
    int remove_file(const std::string& path) override {
        if (auto f = hit(op_remove)) return f->err;
        return real_.remove_file(path);
    }
    int sync_dir(const std::string& dir) override {
        if (auto f = hit(op_sync_dir)) {
            if (f->perform) real_.sync_dir(dir);
            return f->err;
        }
        return real_.sync_dir(dir);
    }
    int sync_file(const std::string& path) override {
        if (auto f = hit(op_sync_file)) return f->err;
        return real_.sync_file(path);
    }
    int sync_fs(FileSystemSync& fs) override {
        if (auto f = hit(op_sync_fs)) {
            if (f->perform) real_.sync_fs(fs);
            return f->err;
        }
        return real_.sync_fs(fs);
    }
    int write_back(const std::string& path, bool wait) override {
        if (auto f = hit(op_write_back)) {
            if (f->perform) real_.write_back(path, wait);
            return f->err;
        }
        return real_.write_back(path, wait);
    }
    bool overwrites_in_place(const FileSystemSync& fs) override {
        return in_place_ < 0 ? FileOps::overwrites_in_place(fs) : in_place_ == 1;
    }

  private:
    struct Fault {
        Op op;
        int nth;
        int err;
        bool perform;
    };
    std::optional<Fault> hit(Op op) {
        std::lock_guard lk(mu_);
        ++calls_[op];
        if (always_[op] != 0) return Fault{op, 1, always_[op], false};
        if (fault_ && fault_->op == op && --fault_->nth == 0) {
            Fault f = *fault_;
            fault_.reset();
            return f;
        }
        return std::nullopt;
    }

    PosixFileOps real_;
    mutable std::mutex mu_;
    int calls_[op_count] = {};
    int always_[op_count] = {};
    int free_marks_err_ = 0;
    std::atomic<int> in_place_{0};
    std::optional<Fault> fault_;
};

// ---- basics -------------------------------------------------------------------------------------

TEST(Spool, CreatesLayoutPrivately) {
    TempDir t;
    Spool s({t.path() / "spool", 2, nullptr});
    for (const char* sub : {"slots", "status", "corrupt"}) {
        auto st = stdfs::status(t.path() / "spool" / sub);
        EXPECT_TRUE(stdfs::is_directory(st)) << sub;
        EXPECT_EQ(st.permissions() & stdfs::perms::all, stdfs::perms::owner_all) << sub;
    }
}

TEST(Spool, ConstructorThrowsWhenDirIsAFile) {
    TempDir t;
    std::ofstream(t.path() / "file") << "x";
    EXPECT_THROW(Spool({t.path() / "file", 1, nullptr}), std::system_error);
    EXPECT_THROW(Spool({t.path() / "file" / "sub", 1, nullptr}), std::system_error);
}

TEST(Spool, CommitThenReadBack) {
    TempDir t;
    Spool s({t.path(), 2, nullptr});
    auto m = make_message(3, 5000);
    CommitResult r = commit_sync(s, m);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.err_no, 0);
    const std::string& id = m->envelope.queue_id;

    EXPECT_EQ(files_in(t.path() / "slots"), std::set<std::string>{"s0000000"});
    EXPECT_EQ(committed_ids(t.path()), std::set<std::string>{id});
    auto perms = stdfs::status(t.path() / "slots" / "s0000000").permissions() & stdfs::perms::all;
    EXPECT_EQ(perms, stdfs::perms::owner_read | stdfs::perms::owner_write);

    auto msg = s.load_message(id);
    ASSERT_TRUE(msg);
    EXPECT_EQ(msg->envelope, m->envelope);
    EXPECT_EQ(msg->message, m->message);

    auto e = s.load_entry(id);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->envelope, m->envelope);
    EXPECT_EQ(e->message_size, m->message.size());
    ASSERT_EQ(e->recipients.size(), 3u);
    for (const auto& rs : e->recipients) EXPECT_EQ(rs.state, RecipientState::pending);
    EXPECT_FALSE(e->held);

    EXPECT_EQ(s.list_ids(), std::vector<std::string>{id});
}

TEST(Spool, InvalidIdsAreRefused) {
    TempDir t;
    Spool s({t.path(), 1, nullptr});
    auto m = make_message();
    m->envelope.queue_id = "../../etc/passwd";
    CommitResult r = commit_sync(s, m);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.err_no, EINVAL);
    r = commit_sync(s, nullptr);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.err_no, EINVAL);
    EXPECT_FALSE(s.load_entry("../queue/x"));
    EXPECT_FALSE(s.load_message(""));
    EXPECT_FALSE(s.record_status("../x", 0, {}, false));
    EXPECT_FALSE(s.set_held("/etc/passwd", true));
    EXPECT_FALSE(s.remove("../tmp"));
    EXPECT_TRUE(s.list_ids().empty());
    EXPECT_TRUE(committed_ids(t.path()).empty());
}

TEST(Spool, RecommittingAnIdNeverReplacesTheCommittedMessage) {
    TempDir t;
    Spool s({t.path(), 2, nullptr});
    auto m = make_message();
    ASSERT_TRUE(commit_sync(s, m).ok);
    auto twin = std::make_shared<StoredMessage>(*m);
    twin->message = "different";
    CommitResult r = commit_sync(s, twin);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.err_no, EEXIST);
    auto back = s.load_message(m->envelope.queue_id);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->message, m->message);

    // Two commits of one ID in flight at once: exactly one wins, and its content is intact.
    auto fresh = make_message();
    std::promise<CommitResult> p1, p2;
    s.commit(fresh, [&](CommitResult x) { p1.set_value(x); });
    s.commit(fresh, [&](CommitResult x) { p2.set_value(x); });
    CommitResult r1 = p1.get_future().get(), r2 = p2.get_future().get();
    EXPECT_NE(r1.ok, r2.ok);
    EXPECT_EQ(s.load_message(fresh->envelope.queue_id)->message, fresh->message);
}

TEST(Spool, StatusAndHeldForUnknownIdFail) {
    TempDir t;
    Spool s({t.path(), 1, nullptr});
    std::string id = new_queue_id(now_us());
    EXPECT_FALSE(s.record_status(id, 0, {}, true));
    EXPECT_FALSE(s.set_held(id, true));
    EXPECT_FALSE(s.load_entry(id));
    EXPECT_FALSE(s.remove(id));
    EXPECT_TRUE(files_in(t.path() / "status").empty());
}

TEST(Spool, RecordStatusFoldsLastRecordPerRecipient) {
    TempDir t;
    Spool s({t.path(), 1, nullptr});
    auto m = make_message(3);
    ASSERT_TRUE(commit_sync(s, m).ok);
    const std::string& id = m->envelope.queue_id;

    RecipientStatus st;
    st.attempts = 1;
    st.next_attempt_us = 1000;
    st.last_error = "451 4.3.0 try later";
    ASSERT_TRUE(s.record_status(id, 0, st, true));
    st.attempts = 2;
    st.next_attempt_us = 2000;
    st.last_error = "multi\r\nline % with spaces\t\x01\xff";
    ASSERT_TRUE(s.record_status(id, 0, st, false));
    RecipientStatus done;
    done.state = RecipientState::delivered;
    done.attempts = 1;
    ASSERT_TRUE(s.record_status(id, 2, done, true));
    RecipientStatus failed;
    failed.state = RecipientState::failed;
    failed.last_error = "550 5.1.1 no such user";
    ASSERT_TRUE(s.record_status(id, 1, failed, false));
    ASSERT_TRUE(s.record_status(id, 99, done, false));  // out of range: recorded, ignored on fold

    auto e = s.load_entry(id);
    ASSERT_TRUE(e);
    ASSERT_EQ(e->recipients.size(), 3u);
    EXPECT_EQ(e->recipients[0].state, RecipientState::pending);
    EXPECT_EQ(e->recipients[0].attempts, 2);
    EXPECT_EQ(e->recipients[0].next_attempt_us, 2000);
    EXPECT_EQ(e->recipients[0].last_error, st.last_error);
    EXPECT_EQ(e->recipients[1].state, RecipientState::failed);
    EXPECT_EQ(e->recipients[1].last_error, failed.last_error);
    EXPECT_EQ(e->recipients[2].state, RecipientState::delivered);
    EXPECT_FALSE(e->held);

    ASSERT_TRUE(s.set_held(id, true));
    EXPECT_TRUE(s.load_entry(id)->held);
    ASSERT_TRUE(s.set_held(id, false));
    EXPECT_FALSE(s.load_entry(id)->held);
    ASSERT_TRUE(s.set_held(id, true));
    EXPECT_TRUE(s.load_entry(id)->held);
    EXPECT_EQ(s.load_entry(id)->recipients[1].state, RecipientState::failed);
}

TEST(Spool, RemoveDeletesQueueAndStatus) {
    TempDir t;
    Spool s({t.path(), 1, nullptr});
    auto a = make_message(), b = make_message();
    ASSERT_TRUE(commit_sync(s, a).ok);
    ASSERT_TRUE(commit_sync(s, b).ok);
    ASSERT_TRUE(s.record_status(a->envelope.queue_id, 0, {}, false));
    EXPECT_TRUE(s.remove(a->envelope.queue_id));
    EXPECT_FALSE(s.load_entry(a->envelope.queue_id));
    EXPECT_EQ(committed_ids(t.path()), std::set<std::string>{b->envelope.queue_id});
    EXPECT_TRUE(files_in(t.path() / "status").empty());
    EXPECT_FALSE(s.remove(a->envelope.queue_id));
    EXPECT_EQ(s.list_ids(), std::vector<std::string>{b->envelope.queue_id});
}

// ---- injected failures --------------------------------------------------------------------------

struct FaultCase {
    const char* name;
    FaultyFileOps::Op op;
    int nth;
    int err;
    bool perform;
};

class SpoolFault : public ::testing::TestWithParam<FaultCase> {};

TEST_P(SpoolFault, FailedCommitLeavesNothingAndKeepsEarlierMessages) {
    const FaultCase& fc = GetParam();
    TempDir t;
    std::vector<std::shared_ptr<StoredMessage>> committed;
    std::string failed_id;
    {
        auto fs = std::make_shared<FaultyFileOps>();
        Spool s({t.path(), 4, fs});
        for (int i = 0; i < 3; ++i) {
            auto m = make_message(1, 1024);
            ASSERT_TRUE(commit_sync(s, m).ok);
            committed.push_back(m);
        }
        if (fc.op == FaultyFileOps::op_overwrite) {
            // Free a slot first, so the failing commit rewrites it rather than creating one.
            auto tmp = make_message(1, 4096);
            ASSERT_TRUE(commit_sync(s, tmp).ok);
            ASSERT_TRUE(s.remove(tmp->envelope.queue_id));
        }
        fs->fail_at(fc.op, fc.nth, fc.err, fc.perform);
        auto bad = make_message(1, 1024);
        failed_id = bad->envelope.queue_id;
        CommitResult r = commit_sync(s, bad);
        EXPECT_FALSE(r.ok);
        EXPECT_EQ(r.err_no, fc.err);
        EXPECT_FALSE(r.error.empty());

        std::set<std::string> want;
        for (const auto& m : committed) want.insert(m->envelope.queue_id);
        EXPECT_EQ(committed_ids(t.path()), want);
        EXPECT_FALSE(s.load_entry(failed_id));

        // The spool keeps working after a failure.
        auto after = make_message(1, 1024);
        ASSERT_TRUE(commit_sync(s, after).ok);
        committed.push_back(after);
    }
    // A fresh process finds exactly the acknowledged messages, intact.
    Spool s2({t.path(), 1, nullptr});
    auto entries = s2.recover();
    ASSERT_EQ(entries.size(), committed.size());
    std::sort(committed.begin(), committed.end(), [](const auto& a, const auto& b) {
        return a->envelope.queue_id < b->envelope.queue_id;
    });
    for (std::size_t i = 0; i < entries.size(); ++i) {
        EXPECT_EQ(entries[i].envelope, committed[i]->envelope);
        auto msg = s2.load_message(entries[i].envelope.queue_id);
        ASSERT_TRUE(msg);
        EXPECT_EQ(msg->message, committed[i]->message);
    }
    EXPECT_TRUE(files_in(t.path() / "corrupt").empty());
}

INSTANTIATE_TEST_SUITE_P(
    Faults, SpoolFault,
    ::testing::Values(
        FaultCase{"WriteEnospc", FaultyFileOps::op_write, 1, ENOSPC, true},
        FaultCase{"WriteEnospcNothingWritten", FaultyFileOps::op_write, 1, ENOSPC, false},
        FaultCase{"WriteEdquot", FaultyFileOps::op_write, 1, EDQUOT, true},
        FaultCase{"FsyncEio", FaultyFileOps::op_write, 1, EIO, true},
        FaultCase{"RewriteEnospc", FaultyFileOps::op_overwrite, 1, ENOSPC, true},
        FaultCase{"RewriteEnospcNothingWritten", FaultyFileOps::op_overwrite, 1, ENOSPC, false},
        FaultCase{"RewriteSyncEio", FaultyFileOps::op_overwrite, 1, EIO, true},
        FaultCase{"DirSyncEio", FaultyFileOps::op_sync_dir, 1, EIO, true},
        FaultCase{"DirSyncEnospc", FaultyFileOps::op_sync_dir, 1, ENOSPC, false}),
    [](const auto& info) { return std::string(info.param.name); });

// Faults at a random point of a concurrent stream: whatever was acknowledged is exactly what a
// fresh reader finds, and each callback runs once.
TEST(SpoolFaultConcurrent, AcknowledgedEqualsQueueContents) {
    for (auto op : {FaultyFileOps::op_write, FaultyFileOps::op_sync_dir}) {
        for (int nth : {1, 2, op == FaultyFileOps::op_sync_dir ? 3 : 17}) {
            TempDir t;
            std::mutex mu;
            std::map<std::string, int> calls;
            std::set<std::string> ok_ids;
            int failures = 0;
            {
                auto fs = std::make_shared<FaultyFileOps>();
                fs->fail_at(op, nth, EIO, true);
                Spool s({t.path(), 8, fs});
                for (int i = 0; i < 40; ++i) {
                    auto m = make_message(1, 512);
                    std::string id = m->envelope.queue_id;
                    s.commit(m, [&, id](CommitResult r) {
                        std::lock_guard lk(mu);
                        ++calls[id];
                        if (r.ok) {
                            ok_ids.insert(id);
                        } else {
                            EXPECT_EQ(r.err_no, EIO);
                            ++failures;
                        }
                    });
                }
            }  // the destructor finishes every queued commit
            EXPECT_EQ(calls.size(), 40u);
            for (const auto& [id, n] : calls) EXPECT_EQ(n, 1) << id;
            EXPECT_GE(failures, 1) << "op " << op << " nth " << nth;
            EXPECT_EQ(committed_ids(t.path()), ok_ids) << "op " << op << " nth " << nth;
        }
    }
}

// ---- group commit (batch > 1) -------------------------------------------------------------------

// Holds the only spool worker inside a commit's callback while `n` more commits queue up behind it,
// so the worker then finds them all at once. Returns the queued commits' results.
std::vector<CommitResult> commit_queued_together(Spool& s, std::size_t n,
                                                 std::vector<std::string>* ids = nullptr) {
    std::promise<void> release;
    auto released = release.get_future().share();
    std::promise<void> holding;
    s.commit(make_message(1, 256), [&](CommitResult r) {
        EXPECT_TRUE(r.ok) << r.error;
        holding.set_value();
        released.wait();
    });
    holding.get_future().wait();
    std::vector<std::promise<CommitResult>> results(n);
    std::vector<std::future<CommitResult>> futures;
    for (std::size_t i = 0; i < n; ++i) {
        auto m = make_message(1, 300 + i);
        if (ids) ids->push_back(m->envelope.queue_id);
        futures.push_back(results[i].get_future());
        s.commit(m, [&results, i](CommitResult r) { results[i].set_value(std::move(r)); });
    }
    release.set_value();
    std::vector<CommitResult> out;
    for (auto& f : futures) out.push_back(f.get());
    return out;
}

// Keeps every one of the spool's `workers` threads inside a commit's callback until release(), so
// commits made meanwhile queue up and go out in batches.
class HeldWorkers {
  public:
    HeldWorkers(Spool& s, int workers) : released_(release_.get_future().share()) {
        // One at a time: two commits queued together would go to one worker as one batch.
        for (int i = 0; i < workers; ++i) {
            auto p = std::make_shared<std::promise<void>>();
            auto held = p->get_future();
            auto m = make_message(1, 256);
            ids_.push_back(m->envelope.queue_id);
            s.commit(m, [p, r = released_](CommitResult res) {
                EXPECT_TRUE(res.ok) << res.error;
                p->set_value();
                r.wait();
            });
            held.wait();
        }
    }
    const std::vector<std::string>& ids() const { return ids_; }
    ~HeldWorkers() { release(); }
    void release() {
        if (!done_) release_.set_value();
        done_ = true;
    }

  private:
    std::promise<void> release_;
    std::shared_future<void> released_;
    std::vector<std::string> ids_;  // the messages that hold the workers (committed)
    bool done_ = false;
};

// Commits `threads` x `each` 512-byte messages from that many threads at once; `done(id, result)`
// runs once per commit, on a spool thread (it must lock what it touches).
template <class Done>
void commit_from_threads(Spool& s, int threads, int each, Done done) {
    std::vector<std::thread> ts;
    for (int th = 0; th < threads; ++th) {
        ts.emplace_back([&s, each, done] {
            for (int i = 0; i < each; ++i) {
                auto m = make_message(1, 512);
                const std::string id = m->envelope.queue_id;
                s.commit(m, [done, id](CommitResult r) { done(id, r); });
            }
        });
    }
    for (auto& t : ts) t.join();
}

// Commits and removes `n` messages at once, leaving `n` free slots to rewrite.
void make_free_slots(Spool& s, int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
        auto m = make_message(1, 256);
        ASSERT_TRUE(commit_sync(s, m).ok);
        ids.push_back(m->envelope.queue_id);
    }
    for (const auto& id : ids) ASSERT_TRUE(s.remove(id));
}

TEST(SpoolBatch, CommitsQueuedTogetherShareOneFileSystemSync) {
    if (!syncfs_reports_errors()) GTEST_SKIP() << "kernel < 5.8: the spool does not batch";
    for (bool reuse : {false, true}) {
        TempDir t;
        auto fs = std::make_shared<FaultyFileOps>();
        std::vector<std::string> ids;
        {
            Spool s({t.path(), 1, fs, 64});
            if (reuse) make_free_slots(s, 12);  // slots to rewrite, rather than new slot files
            const int dir_syncs = fs->calls(FaultyFileOps::op_sync_dir);
            const int writes = fs->calls(FaultyFileOps::op_write);
            for (const auto& r : commit_queued_together(s, 10, &ids)) EXPECT_TRUE(r.ok) << r.error;
            EXPECT_EQ(fs->calls(FaultyFileOps::op_sync_fs), 1) << "reuse " << reuse;
            // (11: the commit that held the worker, then the batch)
            EXPECT_EQ(fs->calls(FaultyFileOps::op_write) - writes, reuse ? 0 : 11);
            // New slot files are covered by the file-system sync too: no directory fsync each.
            EXPECT_EQ(fs->calls(FaultyFileOps::op_sync_dir), dir_syncs + (reuse ? 0 : 1));
        }
        Spool s2({t.path(), 1, nullptr});
        std::set<std::string> found;
        for (const auto& e : s2.recover()) found.insert(e.envelope.queue_id);
        for (const auto& id : ids) EXPECT_TRUE(found.count(id)) << id;
        EXPECT_EQ(found.size(), ids.size() + 1);  // and the first one
    }
}

TEST(SpoolBatch, BatchOfOneKeepsPerFileSync) {
    TempDir t;
    auto fs = std::make_shared<FaultyFileOps>();
    Spool s({t.path(), 1, fs, 1});
    for (const auto& r : commit_queued_together(s, 5)) EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(fs->calls(FaultyFileOps::op_sync_fs), 0);
}

// A failed group sync: not one message of the batch is acknowledged, and none of them is found
// afterwards (new slot files removed, rewritten slots marked free again), while earlier
// messages stay.
TEST(SpoolBatch, FailedSyncTakesNoMessageOfTheBatch) {
    if (!syncfs_reports_errors()) GTEST_SKIP() << "kernel < 5.8: the spool does not batch";
    for (bool reuse : {false, true}) {
        for (bool perform : {true, false}) {
            TempDir t;
            auto fs = std::make_shared<FaultyFileOps>();
            std::string kept;
            std::vector<std::string> ids;
            {
                Spool s({t.path(), 1, fs, 64});
                if (reuse) make_free_slots(s, 12);
                auto m = make_message(1, 256);
                kept = m->envelope.queue_id;
                ASSERT_TRUE(commit_sync(s, m).ok);
                fs->fail_at(FaultyFileOps::op_sync_fs, 1, EIO, perform);
                for (const auto& r : commit_queued_together(s, 10, &ids)) {
                    EXPECT_FALSE(r.ok);
                    EXPECT_EQ(r.err_no, EIO);
                }
                for (const auto& id : ids) EXPECT_FALSE(s.load_entry(id)) << id;
                // The spool keeps working.
                EXPECT_TRUE(commit_sync(s, make_message(1, 256)).ok);
            }
            Spool s2({t.path(), 1, nullptr});
            std::set<std::string> found;
            for (const auto& e : s2.recover()) found.insert(e.envelope.queue_id);
            EXPECT_TRUE(found.count(kept));
            for (const auto& id : ids) EXPECT_FALSE(found.count(id)) << id;
            EXPECT_EQ(found.size(), 3u) << "reuse " << reuse << " perform " << perform;
            EXPECT_TRUE(files_in(t.path() / "corrupt").empty());
        }
    }
}

// The disk that failed the group sync fails the cleanup too: the refused messages' slots are not
// reused while they may still read back as those messages, and they are marked free before the
// next commit, so a restart after that does not bring them back.
TEST(SpoolBatch, FailedCleanupIsRetriedBeforeTheNextCommit) {
    if (!syncfs_reports_errors()) GTEST_SKIP() << "kernel < 5.8: the spool does not batch";
    for (bool reuse : {false, true}) {
        TempDir t;
        auto fs = std::make_shared<FaultyFileOps>();
        std::vector<std::string> refused;
        std::set<std::string> kept;
        {
            Spool s({t.path(), 1, fs, 64});
            if (reuse) make_free_slots(s, 12);
            fs->fail_at(FaultyFileOps::op_sync_fs, 1, EIO, true);  // synced, reported failed
            fs->fail_always(FaultyFileOps::op_remove, EIO);
            fs->fail_free_marks(EIO);
            for (const auto& r : commit_queued_together(s, 5, &refused)) EXPECT_FALSE(r.ok);
            // Not reused meanwhile: a rewrite there would lose nothing, but the slot is not free.
            fs->fail_always(FaultyFileOps::op_remove, 0);
            fs->fail_free_marks(0);
            auto m = make_message(1, 256);
            ASSERT_TRUE(commit_sync(s, m).ok);  // the cleanup is retried first
            kept.insert(m->envelope.queue_id);
        }
        std::set<std::string> found = committed_ids(t.path());
        for (const auto& id : refused) EXPECT_FALSE(found.count(id)) << id << " reuse " << reuse;
        EXPECT_TRUE(found.count(*kept.begin()));
        EXPECT_EQ(found.size(), 2u);  // the one that held the worker, and the last
    }
}

// Faults at a random point of a stream of group commits from several threads: what was
// acknowledged is exactly what a fresh reader finds, and each callback runs once.
TEST(SpoolBatch, FaultsUnderConcurrentBatches) {
    if (!syncfs_reports_errors()) GTEST_SKIP() << "kernel < 5.8: the spool does not batch";
    for (auto op :
         {FaultyFileOps::op_sync_fs, FaultyFileOps::op_write, FaultyFileOps::op_overwrite}) {
        TempDir t;
        std::mutex mu;
        std::map<std::string, int> calls;
        std::set<std::string> ok_ids;
        {
            auto fs = std::make_shared<FaultyFileOps>();
            Spool s({t.path(), 2, fs, 8});
            for (int i = 0; i < 10; ++i) {  // messages that stay
                auto m = make_message(1, 256);
                ASSERT_TRUE(commit_sync(s, m).ok);
                ok_ids.insert(m->envelope.queue_id);
            }
            make_free_slots(s, 40);  // rewrites happen too
            HeldWorkers held(s, 2);  // so that the commits below queue up into batches
            ok_ids.insert(held.ids().begin(), held.ids().end());
            fs->fail_at(op, 3, EIO, true);
            commit_from_threads(s, 4, 25, [&](const std::string& id, const CommitResult& r) {
                std::lock_guard lk(mu);
                ++calls[id];
                if (r.ok) ok_ids.insert(id);
            });
            held.release();
        }  // the destructor finishes every queued commit
        EXPECT_EQ(calls.size(), 100u);
        for (const auto& [id, n] : calls) EXPECT_EQ(n, 1) << id;
        EXPECT_LT(ok_ids.size(), 112u) << "the fault never fired, op " << op;
        EXPECT_EQ(committed_ids(t.path()), ok_ids) << "op " << op;
    }
}

// ---- in-place rewrites (batch > 1 on a file system that overwrites in place) --------------------

// Rewrites that fit in blocks this spool already synced are made durable by writing each slot
// back and one fdatasync (its flush covers them all): no syncfs, and a fresh reader finds them.
TEST(SpoolInPlace, RewritesOfSyncedBlocksNeedNoFileSystemSync) {
    if (!syncfs_reports_errors()) GTEST_SKIP() << "kernel < 5.8: the spool does not batch";
    TempDir t;
    auto fs = std::make_shared<FaultyFileOps>();
    fs->set_in_place(true);
    std::vector<std::string> ids;
    {
        Spool s({t.path(), 1, fs, 64});
        make_free_slots(s, 12);
        const int syncs = fs->calls(FaultyFileOps::op_sync_file);
        for (const auto& r : commit_queued_together(s, 10, &ids)) EXPECT_TRUE(r.ok) << r.error;
        EXPECT_EQ(fs->calls(FaultyFileOps::op_sync_fs), 0);
        EXPECT_EQ(fs->calls(FaultyFileOps::op_write_back), 20);  // started, then waited for, each
        EXPECT_EQ(fs->calls(FaultyFileOps::op_sync_file), syncs + 1);  // one flush for the batch
    }
    const auto found = committed_ids(t.path());
    for (const auto& id : ids) EXPECT_TRUE(found.count(id)) << id;
    EXPECT_EQ(found.size(), ids.size() + 1);
}

// What this process has not synced itself is never trusted as allocated: new slot files, slots
// that grow past their synced size, and every slot of a spool opened anew (a kill may have left a
// size unsynced) go through syncfs.
TEST(SpoolInPlace, NewGrowingAndUnknownSlotsSyncTheFileSystem) {
    if (!syncfs_reports_errors()) GTEST_SKIP() << "kernel < 5.8: the spool does not batch";
    TempDir t;
    auto fs = std::make_shared<FaultyFileOps>();
    fs->set_in_place(true);
    {
        Spool s({t.path(), 1, fs, 64});
        for (const auto& r : commit_queued_together(s, 5)) EXPECT_TRUE(r.ok) << r.error;
        EXPECT_EQ(fs->calls(FaultyFileOps::op_sync_fs), 1) << "new slot files";
        make_free_slots(s, 12);  // 256-byte messages: slot files of one block
        std::vector<std::string> ids;
        std::promise<void> release;
        auto released = release.get_future().share();
        std::promise<void> holding;
        s.commit(make_message(1, 256), [&](CommitResult) {
            holding.set_value();
            released.wait();
        });
        holding.get_future().wait();
        std::vector<std::future<CommitResult>> results;
        for (int i = 0; i < 3; ++i) {
            auto p = std::make_shared<std::promise<CommitResult>>();
            results.push_back(p->get_future());
            s.commit(make_message(1, i == 1 ? 6000 : 300),
                     [p](CommitResult r) { p->set_value(r); });
        }
        release.set_value();
        for (auto& f : results) EXPECT_TRUE(f.get().ok);
        EXPECT_EQ(fs->calls(FaultyFileOps::op_sync_fs), 2) << "one slot grew past its block";
        EXPECT_EQ(fs->calls(FaultyFileOps::op_write_back), 0);
    }
    auto fs2 = std::make_shared<FaultyFileOps>();
    fs2->set_in_place(true);
    Spool s2({t.path(), 1, fs2, 64});
    ASSERT_FALSE(s2.recover().empty());
    for (const auto& r : commit_queued_together(s2, 5)) EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(fs2->calls(FaultyFileOps::op_sync_fs), 1) << "sizes from before this start";
    EXPECT_EQ(fs2->calls(FaultyFileOps::op_write_back), 0);
}

// A write-back or flush that fails refuses the whole batch; a batch whose descriptor is not at
// hand (EBADF) falls back to syncfs and is taken.
TEST(SpoolInPlace, FailedWriteBackOrFlushTakesNoMessageOfTheBatch) {
    if (!syncfs_reports_errors()) GTEST_SKIP() << "kernel < 5.8: the spool does not batch";
    struct Case {
        FaultyFileOps::Op op;
        int nth;
        int err;
        bool taken;
    };
    for (const Case c : {Case{FaultyFileOps::op_write_back, 2, EIO, false},
                         Case{FaultyFileOps::op_write_back, 14, EIO, false},
                         Case{FaultyFileOps::op_sync_file, 1, EIO, false},
                         Case{FaultyFileOps::op_write_back, 3, EBADF, true}}) {
        TempDir t;
        auto fs = std::make_shared<FaultyFileOps>();
        fs->set_in_place(true);
        std::vector<std::string> ids;
        {
            Spool s({t.path(), 1, fs, 64});
            make_free_slots(s, 12);
            // (the commit that holds the worker syncs alone, through overwrite_file)
            fs->fail_at(c.op, c.nth, c.err, true);
            for (const auto& r : commit_queued_together(s, 10, &ids)) {
                EXPECT_EQ(r.ok, c.taken) << r.error;
                if (!c.taken) {
                    EXPECT_EQ(r.err_no, EIO);
                }
            }
            EXPECT_EQ(fs->calls(FaultyFileOps::op_sync_fs), c.taken ? 1 : 0);
            EXPECT_TRUE(commit_sync(s, make_message(1, 256)).ok);  // the spool keeps working
        }
        const auto found = committed_ids(t.path());
        for (const auto& id : ids) EXPECT_EQ(found.count(id), c.taken ? 1u : 0u) << id;
        EXPECT_EQ(found.size(), c.taken ? 12u : 2u) << "op " << c.op << " nth " << c.nth;
    }
}

// Faults at a random point of a stream of in-place batches from several threads: what was
// acknowledged is exactly what a fresh reader finds.
TEST(SpoolInPlace, FaultsUnderConcurrentBatches) {
    if (!syncfs_reports_errors()) GTEST_SKIP() << "kernel < 5.8: the spool does not batch";
    for (auto op : {FaultyFileOps::op_write_back, FaultyFileOps::op_sync_file}) {
        TempDir t;
        std::mutex mu;
        std::set<std::string> ok_ids;
        auto fs = std::make_shared<FaultyFileOps>();
        fs->set_in_place(true);
        {
            Spool s({t.path(), 2, fs, 8});
            make_free_slots(s, 100);  // every batch rewrites synced slots
            HeldWorkers held(s, 2);   // so that the commits below queue up into batches
            ok_ids.insert(held.ids().begin(), held.ids().end());
            fs->fail_at(op, 3, EIO, true);
            commit_from_threads(s, 4, 25, [&](const std::string& id, const CommitResult& r) {
                std::lock_guard lk(mu);
                if (r.ok) ok_ids.insert(id);
            });
            held.release();
        }  // the destructor finishes every queued commit
        EXPECT_GE(fs->calls(op), 3) << "the fault never fired, op " << op;
        EXPECT_LT(ok_ids.size(), 102u) << "op " << op;
        EXPECT_EQ(committed_ids(t.path()), ok_ids) << "op " << op;
    }
}

// The real decision: on ext4 (this machine's /tmp when it is), an in-place batch skips syncfs.
TEST(SpoolInPlace, RealFileSystemDecision) {
    if (!syncfs_reports_errors()) GTEST_SKIP() << "kernel < 5.8: the spool does not batch";
    TempDir t;
    if (!FileSystemSync(t.path().string()).overwrites_in_place())
        GTEST_SKIP() << "/tmp does not rewrite in place (not ext2/3/4, or data=journal)";
    auto fs = std::make_shared<FaultyFileOps>();
    fs->use_real_in_place();
    std::vector<std::string> ids;
    {
        Spool s({t.path(), 1, fs, 64});
        make_free_slots(s, 12);
        for (const auto& r : commit_queued_together(s, 10, &ids)) EXPECT_TRUE(r.ok) << r.error;
        EXPECT_EQ(fs->calls(FaultyFileOps::op_sync_fs), 0);
        EXPECT_EQ(fs->calls(FaultyFileOps::op_write_back), 20);
    }
    const auto found = committed_ids(t.path());
    for (const auto& id : ids) EXPECT_TRUE(found.count(id)) << id;
}

// ---- the real file layer -----------------------------------------------------------------------

// Where the record in a slot file ends (header: magic, 8-byte little-endian length, CRCs; 20
// bytes).
std::uintmax_t record_end(const stdfs::path& slot) {
    std::ifstream f(slot, std::ios::binary);
    unsigned char h[12] = {};
    f.read(reinterpret_cast<char*>(h), sizeof h);
    std::uintmax_t len = 0;
    for (int i = 11; i >= 4; --i) len = len << 8 | h[i];
    return 20 + len;
}

// write_back goes through the descriptor that wrote the file, or reports EBADF.
TEST(PosixFileOps, WriteBackNeedsTheWritingDescriptor) {
    TempDir t;
    PosixFileOps ops;
    const std::string a = (t.path() / "a").string();
    ASSERT_EQ(ops.write_file(a, std::string(4096, 'a'), true), 0);
    EXPECT_EQ(ops.write_back(a, false), EBADF);  // written by write_file: not cached
    ASSERT_EQ(ops.overwrite_file(a, "rewritten", false), 0);
    EXPECT_EQ(ops.write_back(a, false), 0);
    EXPECT_EQ(ops.write_back(a, true), 0);
    EXPECT_EQ(ops.sync_file(a), 0);
    ASSERT_EQ(ops.remove_file(a), 0);
    EXPECT_EQ(ops.write_back(a, true), EBADF);
}

// Slot files are whole blocks, so later messages up to that size rewrite them in place.
TEST(Spool, SlotFilesAreWholeBlocks) {
    TempDir t;
    Spool s({t.path(), 1, nullptr});
    for (std::size_t size : {100, 5000}) {
        auto m = make_message(1, size);
        ASSERT_TRUE(commit_sync(s, m).ok);
        ASSERT_TRUE(s.load_message(m->envelope.queue_id));
    }
    // A free slot reused for a larger message grows by whole blocks too.
    auto small = make_message(1, 100);
    ASSERT_TRUE(commit_sync(s, small).ok);
    ASSERT_TRUE(s.remove(small->envelope.queue_id));
    auto large = make_message(1, 9000);
    ASSERT_TRUE(commit_sync(s, large).ok);
    ASSERT_EQ(files_in(t.path() / "slots").size(), 3u);  // the free slot was reused
    EXPECT_EQ(s.load_message(large->envelope.queue_id)->message, large->message);
    for (const auto& name : files_in(t.path() / "slots")) {
        const auto bytes = stdfs::file_size(t.path() / "slots" / name);
        EXPECT_EQ(bytes % 4096, 0u) << name << " " << bytes;
        EXPECT_GT(bytes, 0u);
    }
}

std::string read_all(const stdfs::path& p) {
    std::ifstream f(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
}

// overwrite_file keeps descriptors open; a file that is removed or renamed away must not keep
// receiving writes through a stale descriptor.
TEST(PosixFileOps, CachedDescriptorNeverOutlivesTheName) {
    TempDir t;
    PosixFileOps ops;
    const std::string a = (t.path() / "a").string(), b = (t.path() / "b").string();
    ASSERT_EQ(ops.write_file(a, "0123456789", true), 0);
    ASSERT_EQ(ops.overwrite_file(a, "AB", true), 0);
    EXPECT_EQ(read_all(a), "AB23456789");  // rewritten at offset 0, old tail kept
    ASSERT_EQ(ops.overwrite_file(a, "xyz", false), 0);
    EXPECT_EQ(read_all(a), "xyz3456789");

    ASSERT_EQ(ops.remove_file(a), 0);
    ASSERT_EQ(ops.write_file(a, "new file", true), 0);
    ASSERT_EQ(ops.overwrite_file(a, "N", true), 0);
    EXPECT_EQ(read_all(a), "New file");

    ASSERT_EQ(ops.rename_file(a, b), 0);
    EXPECT_EQ(ops.overwrite_file(a, "Z", true), ENOENT);
    ASSERT_EQ(ops.overwrite_file(b, "n", true), 0);
    EXPECT_EQ(read_all(b), "new file");
}

// sync_file (the extra flush a group commit makes off ext4) works through the cached descriptor
// of a slot and by opening a file that is not cached, and reports a missing file.
TEST(PosixFileOps, SyncFileCachedOrNot) {
    TempDir t;
    PosixFileOps ops;
    const std::string cached = (t.path() / "cached").string();
    const std::string plain = (t.path() / "plain").string();
    ASSERT_EQ(ops.write_file(cached, "abc", false), 0);
    ASSERT_EQ(ops.overwrite_file(cached, "x", false), 0);  // now cached
    ASSERT_EQ(ops.write_file(plain, "abc", false), 0);     // never cached
    EXPECT_EQ(ops.sync_file(cached), 0);
    EXPECT_EQ(ops.sync_file(plain), 0);
    EXPECT_EQ(read_all(cached), "xbc");
    ASSERT_EQ(ops.remove_file(cached), 0);
    EXPECT_EQ(ops.sync_file(cached), ENOENT);  // the removal dropped the cached descriptor
}

TEST(PosixFileOps, ManyFilesBeyondTheCacheStillWork) {
    TempDir t;
    PosixFileOps ops;
    const std::size_t n = ops.cache_limit() + 20;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string p = (t.path() / ("f" + std::to_string(i))).string();
        ASSERT_EQ(ops.write_file(p, "....", false), 0);
        ASSERT_EQ(ops.overwrite_file(p, std::to_string(i % 10), false), 0);
    }
    for (std::size_t i = 0; i < n; ++i) {
        EXPECT_EQ(read_all(t.path() / ("f" + std::to_string(i))), std::to_string(i % 10) + "...");
    }
}

std::size_t open_descriptors() {
    return static_cast<std::size_t>(
        std::distance(stdfs::directory_iterator("/proc/self/fd"), stdfs::directory_iterator()));
}

// The cache keeps the most recently rewritten files open (a backlog's slots that stay put must
// not keep the busy ones out), and never more than its limit.
TEST(PosixFileOps, CacheKeepsTheMostRecentlyRewritten) {
    TempDir t;
    PosixFileOps ops;
    const std::size_t limit = ops.cache_limit(), before = open_descriptors();
    auto path = [&](std::size_t i) { return (t.path() / ("f" + std::to_string(i))).string(); };
    for (std::size_t i = 0; i < limit; ++i) {
        ASSERT_EQ(ops.write_file(path(i), "....", false), 0);
        ASSERT_EQ(ops.overwrite_file(path(i), "x", false), 0);
    }
    ASSERT_EQ(ops.overwrite_file(path(0), "y", false), 0);  // f0 becomes the most recent
    for (std::size_t i = limit; i < limit + 10; ++i) {
        ASSERT_EQ(ops.write_file(path(i), "....", false), 0);
        ASSERT_EQ(ops.overwrite_file(path(i), "x", false), 0);
    }
    EXPECT_LE(open_descriptors(), before + limit);
    EXPECT_EQ(ops.write_back(path(0), true), 0);      // kept: used recently
    EXPECT_EQ(ops.write_back(path(1), true), EBADF);  // the least recently used made room
    EXPECT_EQ(ops.write_back(path(10), true), EBADF);
    EXPECT_EQ(ops.write_back(path(11), true), 0);
    EXPECT_EQ(ops.write_back(path(limit + 9), true), 0);
    EXPECT_EQ(read_all(path(0)), "y...");
    EXPECT_EQ(read_all(path(1)), "x...");
}

// ---- concurrency --------------------------------------------------------------------------------

TEST(SpoolConcurrent, TwoHundredCommitsFromSeveralThreads) {
    TempDir t;
    constexpr int kThreads = 8, kPerThread = 25;
    std::mutex mu;
    std::map<std::string, int> calls;
    std::map<std::string, std::shared_ptr<StoredMessage>> sent;
    std::atomic<int> ok{0};
    auto fs = std::make_shared<FaultyFileOps>();
    {
        Spool s({t.path(), 8, fs});
        std::vector<std::thread> threads;
        // All threads make their first commit at once: the first commit of a fresh Spool reads the
        // directory, and concurrent first commits must not each rebuild the slot index.
        std::latch start(kThreads);
        for (int th = 0; th < kThreads; ++th) {
            threads.emplace_back([&, th] {
                start.arrive_and_wait();
                for (int i = 0; i < kPerThread; ++i) {
                    auto m = make_message(1 + (i % 3), 100 + th * 100 + i);
                    {
                        std::lock_guard lk(mu);
                        sent[m->envelope.queue_id] = m;
                    }
                    std::string id = m->envelope.queue_id;
                    s.commit(m, [&, id](CommitResult r) {
                        if (r.ok)
                            ++ok;
                        else
                            ADD_FAILURE() << id << ": " << r.error;
                        std::lock_guard lk(mu);
                        ++calls[id];
                    });
                }
            });
        }
        for (auto& th : threads) th.join();
        // Readers run while commits are in flight.
        for (int i = 0; i < 20; ++i) {
            for (const auto& id : s.list_ids()) EXPECT_TRUE(s.load_entry(id)) << id;
        }
    }
    EXPECT_EQ(ok.load(), kThreads * kPerThread);
    ASSERT_EQ(calls.size(), sent.size());
    for (const auto& [id, n] : calls) EXPECT_EQ(n, 1) << id;
    // Only new slots sync the directory: never more often than there were commits.
    EXPECT_LE(fs->calls(FaultyFileOps::op_sync_dir), kThreads * kPerThread);

    Spool s2({t.path(), 1, nullptr});
    for (const auto& [id, m] : sent) {
        auto d = s2.load_message(id);
        ASSERT_TRUE(d) << id;
        EXPECT_EQ(d->envelope, m->envelope);
        EXPECT_EQ(d->message, m->message);
    }
    EXPECT_EQ(s2.recover().size(), sent.size());
}

// Holds the second new-slot creation until released, so a test can act while a commit is in flight.
class BlockingFileOps : public PosixFileOps {
  public:
    int write_file(const std::string& path, std::string_view data, bool sync) override {
        {
            std::unique_lock lk(mu_);
            if (++writes_ == 2) {
                blocked_ = true;
                cv_.notify_all();
                cv_.wait(lk, [&] { return released_; });
            }
        }
        return PosixFileOps::write_file(path, data, sync);
    }
    void wait_blocked() {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return blocked_; });
    }
    void release() {
        std::lock_guard lk(mu_);
        released_ = true;
        cv_.notify_all();
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    int writes_ = 0;
    bool blocked_ = false, released_ = false;
};

// A read-only scan (as `sluice queue list` does) while a commit is writing a new slot must not
// rebuild the live index: the slot in flight is not on disk yet and would be handed out twice.
TEST(SpoolConcurrent, ScanDuringCommitKeepsTheLiveIndex) {
    TempDir t;
    auto fs = std::make_shared<BlockingFileOps>();
    Spool s({t.path(), 2, fs});
    auto m1 = make_message(), m2 = make_message(), m3 = make_message();
    ASSERT_TRUE(commit_sync(s, m1).ok);
    std::promise<CommitResult> p2;
    auto f2 = p2.get_future();
    s.commit(m2, [&p2](CommitResult r) { p2.set_value(std::move(r)); });
    fs->wait_blocked();
    EXPECT_EQ(s.scan().size(), 1u);
    std::promise<CommitResult> p3;
    auto f3 = p3.get_future();
    s.commit(m3, [&p3](CommitResult r) { p3.set_value(std::move(r)); });
    const CommitResult r3 = f3.get();  // does not wait for m2: the second worker takes it
    fs->release();
    const CommitResult r2 = f2.get();
    EXPECT_TRUE(r2.ok) << r2.error;
    EXPECT_TRUE(r3.ok) << r3.error;
    for (const auto& m : {m1, m2, m3}) {
        auto d = s.load_message(m->envelope.queue_id);
        ASSERT_TRUE(d) << m->envelope.queue_id;
        EXPECT_EQ(d->message, m->message);
    }
    EXPECT_EQ(committed_ids(t.path()).size(), 3u);
}

TEST(SpoolConcurrent, DestructorFinishesQueuedCommits) {
    TempDir t;
    std::atomic<int> done{0}, ok{0};
    {
        Spool s({t.path(), 2, nullptr});
        for (int i = 0; i < 50; ++i) {
            s.commit(make_message(), [&](CommitResult r) {
                ++done;
                if (r.ok) ++ok;
            });
        }
    }
    EXPECT_EQ(done.load(), 50);
    EXPECT_EQ(ok.load(), 50);
    EXPECT_EQ(committed_ids(t.path()).size(), 50u);
}

TEST(SpoolConcurrent, ThrowingCallbackDoesNotStopTheSpool) {
    TempDir t;
    Spool s({t.path(), 1, nullptr});
    s.commit(make_message(), [](CommitResult) { throw std::runtime_error("boom"); });
    EXPECT_TRUE(commit_sync(s, make_message()).ok);
}

// ---- recovery -----------------------------------------------------------------------------------

void append_raw(const stdfs::path& p, const std::string& bytes) {
    std::ofstream f(p, std::ios::binary | std::ios::app);
    f << bytes;
}

TEST(SpoolRecover, MovesCorruptFreesAndFoldsStatus) {
    TempDir t;
    auto a = make_message(2), b = make_message(1), c = make_message(1);
    const std::string ida = a->envelope.queue_id, idb = b->envelope.queue_id,
                      idc = c->envelope.queue_id;
    const std::string orphan = new_queue_id(now_us());
    {
        Spool s({t.path(), 2, nullptr});
        ASSERT_TRUE(commit_sync(s, a).ok);
        ASSERT_TRUE(commit_sync(s, b).ok);
        ASSERT_TRUE(commit_sync(s, c).ok);

        RecipientStatus st;
        st.attempts = 1;
        st.last_error = "first";
        ASSERT_TRUE(s.record_status(ida, 0, st, true));
        st.attempts = 2;
        st.last_error = "second";
        ASSERT_TRUE(s.record_status(ida, 0, st, true));
        ASSERT_TRUE(s.set_held(idb, true));
        ASSERT_TRUE(s.record_status(idc, 0, st, true));
    }
    // A crash mid-append: the last status record of A is cut short.
    const stdfs::path status_a = t.path() / "status" / ida;
    {
        RecipientStatus st3;
        st3.state = RecipientState::delivered;
        st3.attempts = 3;
        st3.last_error = "third";
        Spool s({t.path(), 1, nullptr});
        ASSERT_TRUE(s.record_status(ida, 0, st3, false));
    }
    stdfs::resize_file(status_a, stdfs::file_size(status_a) - 5);
    // Damage: C's slot (the third, committed in order) cut short, junk beside the slots, an
    // orphan status file.
    const stdfs::path qc = t.path() / "slots" / "s0000002";
    stdfs::resize_file(qc, record_end(qc) - 1);  // (the slot file is padded to a whole block)
    append_raw(t.path() / "slots" / "not-a-slot", "x");
    append_raw(t.path() / "status" / orphan, "whatever");

    Spool s({t.path(), 1, nullptr});
    auto entries = s.recover();
    ASSERT_EQ(entries.size(), 2u);
    std::vector<std::string> want = {ida, idb};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(entries[0].envelope.queue_id, want[0]);
    EXPECT_EQ(entries[1].envelope.queue_id, want[1]);
    const QueueEntry& ea = entries[0].envelope.queue_id == ida ? entries[0] : entries[1];
    const QueueEntry& eb = entries[0].envelope.queue_id == ida ? entries[1] : entries[0];
    ASSERT_EQ(ea.recipients.size(), 2u);
    // The torn third record is ignored: the second one stands.
    EXPECT_EQ(ea.recipients[0].state, RecipientState::pending);
    EXPECT_EQ(ea.recipients[0].attempts, 2);
    EXPECT_EQ(ea.recipients[0].last_error, "second");
    EXPECT_EQ(ea.recipients[1].attempts, 0);
    EXPECT_EQ(ea.message_size, a->message.size());
    EXPECT_TRUE(eb.held);
    EXPECT_FALSE(ea.held);

    EXPECT_EQ(committed_ids(t.path()), (std::set<std::string>{ida, idb}));
    auto corrupt = files_in(t.path() / "corrupt");
    ASSERT_EQ(corrupt.size(), 1u);  // C's bytes, kept for the operator
    EXPECT_EQ(corrupt.begin()->rfind("s0000002.", 0), 0u);
    EXPECT_EQ(files_in(t.path() / "status"), (std::set<std::string>{ida, idb}));
    // C's slot is free again and is the next one used.
    auto d = make_message(1);
    ASSERT_TRUE(commit_sync(s, d).ok);
    EXPECT_EQ(files_in(t.path() / "slots"),
              (std::set<std::string>{"s0000000", "s0000001", "s0000002", "not-a-slot"}));

    // A record appended after the torn one is read (the torn bytes stay on a line of their own).
    RecipientStatus st4;
    st4.state = RecipientState::failed;
    st4.attempts = 4;
    st4.last_error = "fourth";
    ASSERT_TRUE(s.record_status(ida, 0, st4, true));
    auto e = s.load_entry(ida);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->recipients[0].state, RecipientState::failed);
    EXPECT_EQ(e->recipients[0].last_error, "fourth");

    // Recovery is idempotent (A, B and the D committed above).
    EXPECT_EQ(s.recover().size(), 3u);
    EXPECT_EQ(files_in(t.path() / "corrupt").size(), 1u);
}

TEST(SpoolRecover, GarbageStatusFileIsHarmless) {
    TempDir t;
    auto m = make_message(1);
    Spool s({t.path(), 1, nullptr});
    ASSERT_TRUE(commit_sync(s, m).ok);
    std::string junk =
        "R 0 1 1 0 x 00000000\n\n\0\0\0 R 0 1\nH 1 zzzzzzzz\nR 99999999999999999999 1";
    append_raw(t.path() / "status" / m->envelope.queue_id, junk);
    auto e = s.load_entry(m->envelope.queue_id);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->recipients[0].state, RecipientState::pending);
    EXPECT_FALSE(e->held);
}

// "Delay warning sent" is a status record of its own: synced, CRC'ed, kept across a restart, and
// left alone by the other records.
TEST(SpoolRecover, DelayWarnedRecordRoundTrip) {
    TempDir t;
    auto m = make_message(2);
    const std::string id = m->envelope.queue_id;
    {
        Spool s({t.path(), 1, nullptr});
        ASSERT_TRUE(commit_sync(s, m).ok);
        EXPECT_FALSE(s.load_entry(id)->delay_warned);
        ASSERT_TRUE(s.set_delay_warned(id));
        // The exact bytes: "W 1 " and the CRC-32 of those four bytes (docs/queue-format.md).
        EXPECT_EQ(read_all(t.path() / "status" / id), "\nW 1 b2e0899d\n");
        EXPECT_TRUE(s.load_entry(id)->delay_warned);
        RecipientStatus st;
        st.attempts = 1;
        st.last_error = "451 4.2.2 mailbox full";
        ASSERT_TRUE(s.record_status(id, 0, st, true));
        ASSERT_TRUE(s.set_held(id, true));
        ASSERT_TRUE(s.set_held(id, false));
        EXPECT_FALSE(s.set_delay_warned(new_queue_id(now_us())));  // no such message
        EXPECT_FALSE(s.set_delay_warned("../../etc/passwd"));
    }
    Spool s({t.path(), 1, nullptr});
    auto entries = s.recover();
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_TRUE(entries[0].delay_warned);
    EXPECT_FALSE(entries[0].held);
    EXPECT_EQ(entries[0].recipients[0].attempts, 1);
    EXPECT_EQ(entries[0].recipients[0].last_error, "451 4.2.2 mailbox full");
    EXPECT_TRUE(committed_ids(t.path()).count(id));
    Spool reader({t.path(), 1, nullptr});
    EXPECT_TRUE(reader.scan().at(0).delay_warned);  // the CLI's read-only view too
}

// A crash in the middle of appending the W record leaves it torn: it is ignored (the warning may
// be sent again, never lost), and a W record appended after it is read.
TEST(SpoolRecover, TornDelayWarnedRecordIsIgnored) {
    TempDir t;
    auto m = make_message(1);
    const std::string id = m->envelope.queue_id;
    const stdfs::path status = t.path() / "status" / id;
    RecipientStatus st;
    st.attempts = 1;
    st.next_attempt_us = 1000;
    {
        Spool s({t.path(), 1, nullptr});
        ASSERT_TRUE(commit_sync(s, m).ok);
        ASSERT_TRUE(s.record_status(id, 0, st, true));
        ASSERT_TRUE(s.set_delay_warned(id));
    }
    const auto full = stdfs::file_size(status);
    for (std::uintmax_t cut = 1; cut <= 13; ++cut) {  // every cut inside "\nW 1 b2e0899d\n"
        SCOPED_TRACE(cut);
        TempDir copy;
        stdfs::copy(t.path(), copy.path(), stdfs::copy_options::recursive);
        stdfs::resize_file(copy.path() / "status" / id, full - cut);
        Spool s({copy.path(), 1, nullptr});
        auto entries = s.recover();
        ASSERT_EQ(entries.size(), 1u);
        // Cutting only the final LF leaves a complete record: it still counts.
        EXPECT_EQ(entries[0].delay_warned, cut == 1);
        EXPECT_EQ(entries[0].recipients[0].attempts, 1);
        EXPECT_EQ(entries[0].recipients[0].next_attempt_us, 1000);
        ASSERT_TRUE(s.set_delay_warned(id));
        EXPECT_TRUE(s.load_entry(id)->delay_warned);
    }
    // Damaged rather than cut: a wrong CRC, or a well-formed CRC over anything but "W 1 ".
    for (const char* junk :
         {"\nW 1 b2e0899e\n", "\nW 1 B2E0899D\n", "\nW 0 abfbb8dc\n", "\nW 2 99cdda5e\n",
          "\nW  1 295d2a62\n", "\nW 1 1 ec6148b6\n", "\nW 01 357b8912\n"}) {
        SCOPED_TRACE(junk);
        TempDir other;
        auto n = make_message(1);
        Spool s({other.path(), 1, nullptr});
        ASSERT_TRUE(commit_sync(s, n).ok);
        append_raw(other.path() / "status" / n->envelope.queue_id, junk);
        EXPECT_FALSE(s.load_entry(n->envelope.queue_id)->delay_warned);
    }
}

// A status file written before W records existed (the bytes the earlier format produced) still
// loads, with the flag clear.
TEST(SpoolRecover, StatusFileWithoutDelayWarnedRecordsLoads) {
    TempDir t;
    auto m = make_message(2);
    const std::string id = m->envelope.queue_id;
    {
        Spool s({t.path(), 1, nullptr});
        ASSERT_TRUE(commit_sync(s, m).ok);
    }
    append_raw(t.path() / "status" / id,
               "\nR 0 0 1 1000 451%204.3.0%20later a6b234b4\n\nH 1 ba9ace54\n");
    Spool s({t.path(), 1, nullptr});
    auto entries = s.recover();
    ASSERT_EQ(entries.size(), 1u);
    const QueueEntry& e = entries[0];
    EXPECT_FALSE(e.delay_warned);
    EXPECT_TRUE(e.held);
    ASSERT_EQ(e.recipients.size(), 2u);
    EXPECT_EQ(e.recipients[0].state, RecipientState::pending);
    EXPECT_EQ(e.recipients[0].attempts, 1);
    EXPECT_EQ(e.recipients[0].next_attempt_us, 1000);
    EXPECT_EQ(e.recipients[0].last_error, "451 4.3.0 later");
    EXPECT_EQ(e.recipients[1].attempts, 0);
    // A W appended to such a file works as on a new one.
    ASSERT_TRUE(s.set_delay_warned(id));
    auto again = s.load_entry(id);
    EXPECT_TRUE(again->delay_warned);
    EXPECT_TRUE(again->held);
    EXPECT_EQ(again->recipients[0].attempts, 1);
}

TEST(SpoolRecover, DuplicateSlotIsFreedNotDeliveredTwice) {
    TempDir t;
    auto m = make_message(1);
    Spool s({t.path(), 1, nullptr});
    ASSERT_TRUE(commit_sync(s, m).ok);
    stdfs::copy_file(t.path() / "slots" / "s0000000", t.path() / "slots" / "s0000005");
    auto entries = s.recover();
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_TRUE(files_in(t.path() / "corrupt").empty());
    EXPECT_EQ(committed_ids(t.path()), std::set<std::string>{m->envelope.queue_id});
}

TEST(SpoolSlots, RemovedSlotIsReusedAndOldTailIgnored) {
    TempDir t;
    Spool s({t.path(), 1, nullptr});
    auto big = make_message(1, 20000), small = make_message(1, 10);
    ASSERT_TRUE(commit_sync(s, big).ok);
    ASSERT_TRUE(s.remove(big->envelope.queue_id));
    ASSERT_TRUE(commit_sync(s, small).ok);
    EXPECT_EQ(files_in(t.path() / "slots"), std::set<std::string>{"s0000000"});
    EXPECT_GT(stdfs::file_size(t.path() / "slots" / "s0000000"), 20000u);  // the old tail stays
    auto back = s.load_message(small->envelope.queue_id);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->message, small->message);
    EXPECT_EQ(committed_ids(t.path()), std::set<std::string>{small->envelope.queue_id});
}

// A crash in the middle of rewriting a slot: whichever part landed, the slot never reads as a
// message (neither the new one, never acknowledged, nor the old one, already delivered).
TEST(SpoolSlots, TornRewriteIsNeverTakenForAMessage) {
    TempDir t;
    auto old_m = make_message(1, 8000), new_m = make_message(1, 8000);
    std::string new_slot;
    {
        // Capture the exact bytes a commit of new_m writes, from a throwaway spool.
        TempDir t2;
        Spool s2({t2.path(), 1, nullptr});
        ASSERT_TRUE(commit_sync(s2, new_m).ok);
        std::ifstream f(t2.path() / "slots" / "s0000000", std::ios::binary);
        new_slot.assign(std::istreambuf_iterator<char>(f), {});
    }
    for (std::size_t cut : {std::size_t{20}, std::size_t{4096}, new_slot.size() / 2}) {
        {
            Spool s({t.path(), 1, nullptr});
            s.recover();
            ASSERT_TRUE(commit_sync(s, old_m).ok);
            ASSERT_TRUE(s.remove(old_m->envelope.queue_id));  // delivered: the slot is free
        }
        const stdfs::path slot = t.path() / "slots" / "s0000000";
        {
            // The new header and a prefix of the new body landed, the rest is old bytes.
            std::fstream f(slot, std::ios::in | std::ios::out | std::ios::binary);
            f.write(new_slot.data(), static_cast<std::streamsize>(cut));
        }
        Spool s({t.path(), 1, nullptr});
        EXPECT_TRUE(s.recover().empty()) << "cut " << cut;
        stdfs::remove_all(t.path());
        stdfs::create_directories(t.path());
    }
    // The reverse: the FREE mark was lost in a crash, so the old header is still there, and the
    // new body partly overwrote the old one before the next crash.
    {
        Spool s({t.path(), 1, nullptr});
        ASSERT_TRUE(commit_sync(s, old_m).ok);
    }
    {
        std::fstream f(t.path() / "slots" / "s0000000",
                       std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(20);
        f.write(new_slot.data() + 20, static_cast<std::streamsize>(new_slot.size() - 21));
    }
    Spool s({t.path(), 1, nullptr});
    EXPECT_TRUE(s.recover().empty());
    EXPECT_EQ(files_in(t.path() / "corrupt").size(), 1u);
}

// ---- throughput (run with --gtest_also_run_disabled_tests) --------------------------------------

struct BenchPoint {
    double per_second;
    double cpu_us_per_commit;  // whole process (committer threads included), user + system
};

double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
    return secs(ru.ru_utime) + secs(ru.ru_stime);
}

BenchPoint measure_commits(const stdfs::path& dir, int committers, unsigned sync_threads,
                           std::chrono::milliseconds duration) {
    Spool s({dir, sync_threads, nullptr});
    std::atomic<bool> stop{false};
    std::atomic<long> total{0};
    std::vector<std::thread> threads;
    const double cpu0 = cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < committers; ++i) {
        threads.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
                auto m = make_message(1, 1024);
                if (commit_sync(s, m).ok) ++total;
            }
        });
    }
    std::this_thread::sleep_for(duration);
    stop = true;
    for (auto& th : threads) th.join();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double n = static_cast<double>(std::max(1L, total.load()));
    return {n / secs, (cpu_seconds() - cpu0) * 1e6 / n};
}

// Baseline for the same run: each committer does the whole protocol itself (write tmp, fsync,
// rename, fsync queue/), with no shared directory fsync and no worker pool.
BenchPoint measure_naive(const stdfs::path& dir, int committers,
                         std::chrono::milliseconds duration) {
    stdfs::create_directories(dir / "tmp");
    stdfs::create_directories(dir / "queue");
    PosixFileOps ops;
    std::atomic<bool> stop{false};
    std::atomic<long> total{0};
    std::vector<std::thread> threads;
    const double cpu0 = cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < committers; ++i) {
        threads.emplace_back([&] {
            while (!stop.load(std::memory_order_relaxed)) {
                auto m = make_message(1, 1024);
                const std::string& id = m->envelope.queue_id;
                const std::string tmp = (dir / "tmp" / id).string();
                if (ops.write_file(tmp, encode(*m), true) == 0 &&
                    ops.rename_file(tmp, (dir / "queue" / id).string()) == 0 &&
                    ops.sync_dir((dir / "queue").string()) == 0) {
                    ++total;
                }
            }
        });
    }
    std::this_thread::sleep_for(duration);
    stop = true;
    for (auto& th : threads) th.join();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double n = static_cast<double>(std::max(1L, total.load()));
    return {n / secs, (cpu_seconds() - cpu0) * 1e6 / n};
}

// Prints commits/s and CPU per commit. This machine is shared and its disk is virtual, so single
// runs drift a lot: the configurations are interleaved over several rounds and the median is shown.
TEST(SpoolBench, DISABLED_CommitsPerSecond) {
    const char* env_ms = std::getenv("SLUICE_BENCH_MS");
    const char* env_rounds = std::getenv("SLUICE_BENCH_ROUNDS");
    const std::chrono::milliseconds duration(env_ms ? std::atoi(env_ms) : 2000);
    const int rounds = env_rounds ? std::max(1, std::atoi(env_rounds)) : 3;
    struct Config {
        int committers;
        unsigned sync_threads;  // 0 = naive
    };
    const std::vector<Config> configs = {{1, 8},  {1, 0},  {8, 8},   {8, 0},  {50, 8},
                                         {50, 0}, {50, 4}, {50, 16}, {50, 32}};
    std::vector<std::vector<BenchPoint>> results(configs.size());
    // Directories are removed only at the end: mass unlinks (with discard) between points would
    // slow the next point down.
    std::vector<std::unique_ptr<TempDir>> dirs;
    for (int round = 0; round < rounds; ++round) {
        for (std::size_t i = 0; i < configs.size(); ++i) {
            const TempDir& t = *dirs.emplace_back(std::make_unique<TempDir>());
            const Config& c = configs[i];
            results[i].push_back(
                c.sync_threads == 0
                    ? measure_naive(t.path(), c.committers, duration)
                    : measure_commits(t.path(), c.committers, c.sync_threads, duration));
        }
    }
    std::printf("1 KiB messages, 1 recipient, spool under /tmp; median of %d x %lld ms\n", rounds,
                static_cast<long long>(duration.count()));
    std::printf("%-11s %-13s %-10s %-14s %s\n", "committers", "sync_threads", "commits/s",
                "CPU us/commit", "(all rounds, commits/s)");
    for (std::size_t i = 0; i < configs.size(); ++i) {
        auto points = results[i];
        std::sort(points.begin(), points.end(), [](const BenchPoint& a, const BenchPoint& b) {
            return a.per_second < b.per_second;
        });
        const BenchPoint& med = points[points.size() / 2];
        std::string all;
        for (const BenchPoint& p : results[i])
            all += std::to_string(std::lround(p.per_second)) + " ";
        const std::string threads =
            configs[i].sync_threads ? std::to_string(configs[i].sync_threads) : "naive";
        std::printf("%-11d %-13s %-10.0f %-14.0f %s\n", configs[i].committers, threads.c_str(),
                    med.per_second, med.cpu_us_per_commit, all.c_str());
    }
}

}  // namespace
}  // namespace sluice::spool
