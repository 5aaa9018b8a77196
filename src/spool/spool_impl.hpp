// spool_impl.hpp: the spool's internals (private to src/spool): the commit workers (group
// commit: group_commit.cpp), the index of slots and messages with recovery and scans
// (spool_index.cpp), and the public Spool methods on top (spool.cpp). Durability rules: spool.hpp.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/sync_dir.hpp"
#include "spool/spool.hpp"

namespace sluice::spool {

inline CommitResult failure(int err, std::string what) {
    CommitResult r;
    r.ok = false;
    r.err_no = err;
    r.error = std::move(what) + ": " + std::generic_category().message(err);
    return r;
}

inline bool path_exists(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

struct Spool::Impl {
    struct Job {
        std::shared_ptr<const StoredMessage> msg;
        std::function<void(CommitResult)> done;
    };

    std::shared_ptr<FileOps> fs;
    std::string slot_prefix, status_prefix, corrupt_prefix;
    std::string slot_dir, status_dir;

    // Commits waiting for a worker.
    std::mutex work_mu;
    std::condition_variable work_cv;
    std::deque<Job> work;
    bool stopping = false;
    std::size_t max_batch = 1;  // commits made durable by one sync
    // Message bytes one batch may carry: a few large messages must not make the small ones queued
    // behind them wait for all of their writes.
    static constexpr std::size_t kMaxBatchBytes = 8 * 1024 * 1024;
    static constexpr std::size_t kSlotBlock = 4096;         // slot files grow in whole blocks
    std::vector<std::unique_ptr<FileSystemSync>> fs_syncs;  // one per worker (batch > 1)
    std::vector<std::thread> workers;

    // The index: which slot holds which message, and which slots are free. idx_mu guards every
    // member from here to `indexed` (and with_status): commit workers, delivery threads and the
    // CLI's scans all reach them. It is never held across file I/O, and never taken before
    // index_once_mu.
    mutable std::mutex idx_mu;
    std::unordered_map<std::string, std::uint32_t> slot_of;
    std::unordered_set<std::string> in_flight;  // commits started, not finished
    std::vector<std::uint32_t> free_slots;
    std::vector<std::uint32_t> unclean_slots;  // a refused commit's cleanup failed: retry first
    // Bytes at the start of each slot file (by number) that this process has synced: their blocks
    // are allocated and on the disk, so a commit that fits in them only rewrites blocks in place
    // (sync_in_place). 0 = not known (a slot from before this start may have a size that a kill
    // left unsynced; its first commit here syncs the size too).
    std::vector<std::uint64_t> synced_bytes;
    std::uint32_t next_slot = 0;
    bool indexed = false;
    // Messages that have (or may have) a status file; removing the others skips an unlink that
    // would only fail with ENOENT (most messages are delivered at the first attempt, no record).
    std::unordered_set<std::string> with_status;
    std::mutex index_once_mu;  // serialises ensure_indexed (taken before idx_mu, never after)
    std::atomic<bool> indexed_once{false};  // `indexed` as seen without a lock, once it is true
    bool inspect_only = false;              // Options::inspect_only: read, never create or repair

    ~Impl() { shutdown(); }

    // Finishes every queued commit, then joins the threads. Idempotent.
    void shutdown();

    static void finish(Job& job, CommitResult r);

    void worker_loop(FileSystemSync* fs_sync);

    static std::size_t message_bytes(const Job& job);

    struct Taken {
        std::uint32_t n;
        bool created;           // a new slot file
        std::uint64_t in_sync;  // synced_bytes of the slot
    };

    // Takes a free slot, or numbers a new one.
    Taken take_slot();

    // The first `bytes` of slot n are synced (a sync that covers the file's size returned).
    void note_synced(std::uint32_t n, std::uint64_t bytes);

    void release_slot(std::uint32_t n);
    // Slot n's file was shortened: nothing of it counts as synced any more.
    void forget_synced(std::uint32_t n);

    // A message written into a slot, waiting for the sync that makes it durable.
    struct Written {
        Job* job;
        std::uint32_t slot;
        bool created;
        std::uint64_t bytes;  // the slot's bytes written, padding included
    };

    // Claims the ID (refused when it is in the spool or being committed); on failure reports.
    bool claim(Job& job);

    // Commits a message whose body streamed into its slot (IncomingBody): queue file after the
    // body, the SLQ2 header, one fdatasync (and the directory's for a new slot file).
    void write_streamed(Job& job);

    // Claims the ID, encodes the message and takes a slot for it; on failure reports and returns
    // nullopt. `data` receives the slot's bytes.
    std::optional<Taken> prepare(Job& job, std::string& data);

    // The bytes of a failed commit may have landed even though its sync failed: make sure the slot
    // can never be read back as a message the client was told we did not take, then report.
    void abandon(Job& job, std::uint32_t n, bool created, int err, const char* what = "write");

    // Retries the FREE mark of slots whose cleanup failed (see abandon); those that succeed become
    // free slots.
    void clean_slots();

    void accept(Job& job, std::uint32_t n);

    // Writes one message into a slot and makes it durable on its own (fdatasync), then reports.
    void write_one(Job& job);

    // Writes several messages into their slots without syncing each, then makes them all durable
    // together; only then is any of them reported. If the sync fails, none of them is taken.
    void write_batch(std::vector<Job>& jobs, FileSystemSync& fs_sync);

    // A batch that only rewrote synced blocks of slot files: their metadata did not change, so
    // writing each slot's pages back (all started, then all waited for) and one fdatasync, whose
    // device cache flush covers every completed write, make the batch durable. Unlike syncfs this
    // writes nothing else of the file system (Maildir copies the delivery threads made) and needs
    // no round trip through the kernel's flusher thread: a shorter wait for the 250. Returns 0 or
    // an errno value; nullopt when a slot's descriptor was not at hand (write_back's EBADF), and
    // the caller syncs the file system instead.
    std::optional<int> sync_in_place(const std::vector<Written>& written, const char*& what);

    void end_flight(const std::string& id);

    std::optional<std::uint32_t> find(const std::string& id) const;

    std::optional<StoredMessage> read_message(const std::string& id) const;

    QueueEntry make_entry(StoredMessage&& m) const;

    bool append_status(const std::string& id, const std::string& record, bool sync);

    // Files in `dir` (names only). An unreadable directory gives an empty list to the server
    // (recovery retries at the next start) and an error to an inspecting CLI.
    std::vector<std::string> list_dir(const std::string& dir) const;

    // A file read for inspection: gone (delivered meanwhile) is fine, unreadable is an error.
    void check_read(int err, const std::string& path) const;

    // Reads every slot. With `repair`, damaged slots are copied to corrupt/ and freed, duplicates
    // freed, and orphan status files deleted; without it nothing on disk changes (CLI use).
    std::vector<QueueEntry> scan(bool repair);

    // The first caller reads the spool; concurrent first callers wait for that scan rather than
    // scanning again while the first one's commits are already writing slots.
    void ensure_indexed();
};

}  // namespace sluice::spool
