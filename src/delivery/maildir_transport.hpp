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
// Threads: by default none of its own: the queue's threads call drain() after handing out a batch
// and do the copies themselves. With `threads` > 0, that many threads niced by `nice` (reception
// keeps the CPU under a burst). Each thread keeps one syncfs descriptor per file system it syncs,
// so a sync reports every writeback error since that descriptor was opened (common/sync_dir.hpp);
// the Maildir root's is opened before the first copy is written.
//
// SECURITY: mailbox paths come from the router (configuration), never from message content.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/sync_dir.hpp"
#include "config/config.hpp"
#include "delivery/local_router.hpp"
#include "delivery/transport.hpp"

namespace sluice::delivery {

struct MaildirOptions {
    // 0: no threads of its own; the queue's threads do the copies in drain() (the default: one
    // thread takes a batch from scheduling to durable copies, as fast as before the Transports).
    unsigned threads = 0;
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
    // With threads = 0 the caller (a queue thread, after handing out a batch) does the queued jobs
    // here, all their copies made durable together: no hand-off between threads.
    void drain() override;

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
    using SyncMap = std::map<std::uint64_t, std::unique_ptr<FileSystemSync>>;
    SyncMap open_syncs() const;
    // Takes up to a batch of queued jobs; false when there are none (or stopping).
    bool take_batch(std::vector<Pending>& batch, bool wait);
    void process(std::vector<Pending>& batch, SyncMap& fs_syncs);
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
