// group_commit.cpp: the commit workers (see spool.hpp, rules 1-4). A worker that finds one commit
// writes and fdatasyncs its slot; one that finds several (they queued up while the workers were
// syncing) writes them all and makes them durable with one sync: one device flush and one
// wake-up for the lot instead of one each. No commit is reported before its sync returned.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/queue_id.hpp"
#include "common/thread_name.hpp"
#include "spool/crc.hpp"
#include "spool/slot_file.hpp"
#include "spool/spool_impl.hpp"
#include "spool/status_records.hpp"

namespace sluice::spool {

void Spool::Impl::shutdown() {
    {
        std::lock_guard lk(work_mu);
        stopping = true;
    }
    work_cv.notify_all();
    for (auto& t : workers) {
        if (t.joinable()) t.join();
    }
}

void Spool::Impl::finish(Job& job, CommitResult r) {
    if (!job.done) return;
    try {
        job.done(std::move(r));
    } catch (...) {
        // A throwing callback must not take a spool thread (and every later commit) down.
    }
}

void Spool::Impl::worker_loop(FileSystemSync* fs_sync) {
    std::vector<Job> batch;
    while (true) {
        batch.clear();
        {
            std::unique_lock lk(work_mu);
            work_cv.wait(lk, [&] { return stopping || !work.empty(); });
            if (work.empty()) return;  // stopping, and everything queued is done
            // Everything that queued up while the other workers were syncing goes out with
            // one file-system sync (group commit); alone, a commit keeps its fdatasync.
            std::size_t bytes = 0;
            while (!work.empty() && batch.size() < max_batch &&
                   (batch.empty() || bytes + message_bytes(work.front()) <= kMaxBatchBytes)) {
                bytes += message_bytes(work.front());
                batch.push_back(std::move(work.front()));
                work.pop_front();
            }
        }
        if (batch.size() == 1 || !fs_sync) {
            for (Job& job : batch) write_one(job);
        } else {
            write_batch(batch, *fs_sync);
        }
    }
}

std::size_t Spool::Impl::message_bytes(const Job& job) {
    return job.msg ? job.msg->message.size() : 0;
}

Spool::Impl::Taken Spool::Impl::take_slot() {
    std::lock_guard lk(idx_mu);
    if (!free_slots.empty()) {
        const std::uint32_t n = free_slots.back();
        free_slots.pop_back();
        return Taken{n, false, n < synced_bytes.size() ? synced_bytes[n] : 0};
    }
    return Taken{next_slot++, true, 0};
}

void Spool::Impl::note_synced(std::uint32_t n, std::uint64_t bytes) {
    std::lock_guard lk(idx_mu);
    if (n >= synced_bytes.size()) synced_bytes.resize(n + 1, 0);
    synced_bytes[n] = std::max(synced_bytes[n], bytes);
}

void Spool::Impl::forget_synced(std::uint32_t n) {
    std::lock_guard lk(idx_mu);
    if (n < synced_bytes.size()) synced_bytes[n] = 0;
}

void Spool::Impl::release_slot(std::uint32_t n) {
    std::lock_guard lk(idx_mu);
    free_slots.push_back(n);
}

bool Spool::Impl::claim(Job& job) {
    if (!job.msg || !is_valid_queue_id(job.msg->envelope.queue_id)) {
        finish(job, failure(EINVAL, "commit: invalid queue id"));
        return false;
    }
    const std::string& id = job.msg->envelope.queue_id;
    std::lock_guard lk(idx_mu);
    // IDs are unique by construction; a caller bug must still never replace a message.
    if (slot_of.count(id) || !in_flight.insert(id).second) {
        finish(job, failure(EEXIST, "commit: " + id + " is already in the spool"));
        return false;
    }
    return true;
}

std::optional<Spool::Impl::Taken> Spool::Impl::prepare(Job& job, std::string& data) {
    if (!claim(job)) return std::nullopt;
    const std::string& id = job.msg->envelope.queue_id;
    try {
        std::string body = encode(*job.msg);
        data.clear();
        data.reserve(kSlotHeader + body.size());
        data = slot_header("SLQ1", body);
        data += body;
    } catch (const std::bad_alloc&) {
        end_flight(id);
        finish(job, failure(ENOMEM, "commit: encode " + id));
        return std::nullopt;
    }
    const Taken slot = take_slot();
    if (data.size() > slot.in_sync) {
        // A slot file that is created or grows is padded to whole blocks: later messages up to
        // that size rewrite it in place, and it never fits in an inode (ext4 inline data,
        // where a rewrite would be metadata). The bytes after the record are never read.
        data.resize((data.size() + kSlotBlock - 1) / kSlotBlock * kSlotBlock, '\0');
    }
    return slot;
}

void Spool::Impl::abandon(Job& job, std::uint32_t n, bool created, int err, const char* what) {
    const std::string path = slot_prefix + slot_name(n);
    // Rule 4. EEXIST: a file we never wrote; leave it alone.
    if (!(created && err == EEXIST)) {
        const int clean = created ? fs->remove_file(path)
                                  : fs->overwrite_file(path, slot_header("FREE", {}), true);
        if (clean == 0) {
            if (!created) release_slot(n);
        } else {
            // The disk that failed the sync may fail this too. The slot might still read back
            // as the refused message, so it is neither reused nor left: the worker marks it
            // free again before its next commit (a crash before that can only duplicate).
            std::lock_guard lk(idx_mu);
            unclean_slots.push_back(n);
        }
    }
    end_flight(job.msg->envelope.queue_id);
    finish(job, failure(err, std::string("commit: ") + what + " " + path));
}

void Spool::Impl::clean_slots() {
    std::vector<std::uint32_t> todo;
    {
        std::lock_guard lk(idx_mu);
        if (unclean_slots.empty()) return;
        todo.swap(unclean_slots);
    }
    for (std::uint32_t n : todo) {
        if (fs->overwrite_file(slot_prefix + slot_name(n), slot_header("FREE", {}), true) == 0) {
            release_slot(n);
        } else {
            std::lock_guard lk(idx_mu);
            unclean_slots.push_back(n);
        }
    }
}

void Spool::Impl::accept(Job& job, std::uint32_t n) {
    {
        std::lock_guard lk(idx_mu);
        in_flight.erase(job.msg->envelope.queue_id);
        slot_of.emplace(job.msg->envelope.queue_id, n);
    }
    finish(job, CommitResult{true, 0, {}});
}

void Spool::Impl::write_streamed(Job& job) {
    // The body is in its slot already (page cache); the queue file goes after it, then the header
    // that makes the slot a message, then one fdatasync for all of it (rules 1 and 2).
    IncomingBody& b = *job.msg->body;
    const std::uint32_t n = b.slot_;
    const bool created = b.created_;
    b.handed_over_ = true;  // from here the slot is this commit's: accepted or abandoned below
    if (!claim(job)) {
        release_slot(n);  // still FREE on disk
        return;
    }
    if (b.err_ != 0) return abandon(job, n, created, b.err_, "write body");
    std::string tail;
    try {
        tail = encode(*job.msg);
    } catch (const std::bad_alloc&) {
        return abandon(job, n, created, ENOMEM, "encode");
    }
    const std::uint64_t total = b.size_ + tail.size();
    const std::uint32_t crc = crc32_join(b.crc_, crc32_of(tail), tail.size());
    std::uint64_t end = kStreamedHeader + total;
    std::uint64_t in_sync;
    {
        std::lock_guard lk(idx_mu);
        in_sync = n < synced_bytes.size() ? synced_bytes[n] : 0;
    }
    if (end > in_sync) {
        // Grown: whole blocks, as prepare() pads (the bytes after the queue file are never read).
        const std::uint64_t padded = (end + kSlotBlock - 1) / kSlotBlock * kSlotBlock;
        tail.resize(tail.size() + static_cast<std::size_t>(padded - end), '\0');
        end = padded;
    }
    int err = fs->write_at(b.path_, kStreamedHeader + b.size_, tail, false);
    if (err == 0) err = fs->write_at(b.path_, 0, streamed_slot_header(total, b.size_, crc), true);
    if (err == 0 && created) err = fs->sync_dir(slot_dir);
    if (err != 0) return abandon(job, n, created, err);
    note_synced(n, end);
    accept(job, n);
}

void Spool::Impl::write_one(Job& job) {
    clean_slots();
    if (job.msg && job.msg->body) return write_streamed(job);
    std::string data;
    const auto slot = prepare(job, data);
    if (!slot) return;
    const auto [n, created, in_sync] = *slot;
    const std::string path = slot_prefix + slot_name(n);
    int err;
    if (created) {
        // A new slot is a new directory entry: the file and the directory both need a sync
        // (rules 1 and 2).
        err = fs->write_file(path, data, true);
        if (err == 0) err = fs->sync_dir(slot_dir);
    } else {
        err = fs->overwrite_file(path, data, true);
    }
    if (err != 0) return abandon(job, n, created, err);
    note_synced(n, data.size());
    accept(job, n);
}

void Spool::Impl::write_batch(std::vector<Job>& jobs, FileSystemSync& fs_sync) {
    clean_slots();
    std::vector<Written> written;
    written.reserve(jobs.size());
    std::string data;
    bool all_in_place = true;
    for (Job& job : jobs) {
        if (job.msg && job.msg->body) {
            write_streamed(job);  // its own fdatasync; the rest of the batch goes on together
            continue;
        }
        const auto slot = prepare(job, data);
        if (!slot) continue;
        const auto [n, created, in_sync] = *slot;
        const std::string path = slot_prefix + slot_name(n);
        const int err =
            created ? fs->write_file(path, data, false) : fs->overwrite_file(path, data, false);
        if (err != 0) {
            abandon(job, n, created, err);
            continue;
        }
        // Only synced blocks rewritten: no metadata to sync.
        all_in_place = all_in_place && !created && data.size() <= in_sync;
        written.push_back(Written{&job, n, created, data.size()});
    }
    if (written.empty()) return;
    const char* what = "syncfs";
    std::optional<int> err;
    if (all_in_place && fs->overwrites_in_place(fs_sync)) err = sync_in_place(written, what);
    if (!err) {
        // New or growing slot files (or no descriptor at hand): syncfs() writes every data
        // block, new inode and directory block once, then flushes the device cache.
        what = "syncfs";
        err = fs->sync_fs(fs_sync);
        if (*err == 0 && fs_sync.needs_file_flush()) {
            // Not ext4: make sure the device cache is flushed too (FileSystemSync).
            err = fs->sync_file(slot_prefix + slot_name(written.back().slot));
            what = "fdatasync";
        }
    }
    for (const Written& w : written) {
        if (*err != 0) {  // rule 3
            abandon(*w.job, w.slot, w.created, *err, what);
        } else {
            note_synced(w.slot, w.bytes);
            accept(*w.job, w.slot);
        }
    }
}

std::optional<int> Spool::Impl::sync_in_place(const std::vector<Written>& written,
                                              const char*& what) {
    what = "sync_file_range";
    for (bool wait : {false, true}) {
        for (const Written& w : written) {
            const int err = fs->write_back(slot_prefix + slot_name(w.slot), wait);
            if (err == EBADF) return std::nullopt;
            if (err != 0) return err;
        }
    }
    what = "fdatasync";
    return fs->sync_file(slot_prefix + slot_name(written.back().slot));
}

}  // namespace sluice::spool
