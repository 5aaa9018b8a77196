// maildir_transport.hpp: local delivery as a Transport (transport.hpp): each local recipient is
// expanded by the LocalRouter into its mailboxes, and one copy is written into each Maildir.
//
// Durability is batched like the spool's group commit: jobs queue up; a transport thread takes up
// to `batch` of them, writes every copy (tmp/ -> rename into new/, no fsync), then makes them all
// durable with one syncfs() per file system, and only then reports them delivered. When a sync
// fails, the copies on that file system are taken back (unlinked) and their recipients answered
// 451, so a retry neither trusts nor duplicates them. Without batching (kernels before 5.8, where
// syncfs does not report write errors, or maildir_sync = "fsync") every copy fsyncs itself.
//
// Copy names are deterministic per (message, mailbox) (maildir.hpp), so a job with
// check_existing finds a copy an interrupted earlier attempt made instead of writing a second.
//
// Threads: `threads` delivery threads, niced by `nice` so reception keeps the CPU under a burst.
// Each keeps one syncfs descriptor per file system it syncs, so a sync reports every writeback
// error since that descriptor was opened (common/sync_dir.hpp); the Maildir root's is opened
// before the first copy is written.
//
// SECURITY: mailbox paths come from the router (configuration), never from message content.
#pragma once

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "delivery/local_router.hpp"
#include "delivery/transport.hpp"

namespace sluice::delivery {

struct MaildirOptions {
    unsigned threads = 2;
    std::string hostname;                // in copy names
    bool crlf_to_lf = true;              // Dovecot expects LF; binary bodies stay untouched
    bool batch_sync = true;              // one syncfs per batch instead of fsyncs per copy
    unsigned batch = 32;                 // jobs a thread takes at once
    std::filesystem::path maildir_root;  // its file system's sync descriptor is opened first
    int nice = 0;                        // CPU priority of the threads (0..19; higher: lower)
    // Makes a file system's pending writes durable (null: syncfs through a descriptor kept per
    // thread and file system); for tests.
    std::function<int(const std::string& path)> sync_fs;
};

// [delivery] and the hostname. Batching only where syncfs reports errors (Linux >= 5.8).
MaildirOptions maildir_options(const config::Config& cfg);

class MaildirTransport final : public Transport {
  public:
    MaildirTransport(MaildirOptions opts, const LocalRouter& router);
    ~MaildirTransport() override;
    MaildirTransport(const MaildirTransport&) = delete;
    MaildirTransport& operator=(const MaildirTransport&) = delete;

    std::string_view name() const override { return "maildir"; }
    bool remote() const override { return false; }
    void deliver(Job job, std::function<void(Result)> done) override;

    // Jobs are taken once started (queued before: kept); stop() finishes the batches in hand,
    // drops the rest unanswered, and joins. Both idempotent.
    void start();
    void stop();
    std::size_t queued() const;  // jobs waiting for a thread (tests)

  private:
    struct Pending {
        Job job;
        std::function<void(Result)> done;
    };
    struct Copy;
    class Syncer;
    void worker();
    // Writes the copies of one job; fills `res` for recipients already decided (failures).
    void write_copies(const Job& job, Result& res, std::vector<Copy>& copies,
                      std::vector<bool>& decided) const;

    MaildirOptions opts_;
    const LocalRouter& router_;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Pending> queue_;
    bool started_ = false;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace sluice::delivery
