// spool.cpp: the durable message store. Messages live in reusable slot files: a commit rewrites a
// free slot in place and fdatasyncs it, so the common case creates no file, renames nothing and
// needs no directory fsync (on this class of machine, file creation after many deletions is the
// single largest kernel cost per message; see docs/queue-format.md). Status records stay in
// append-only per-message files, created only when a delivery is deferred or fails.
//
// Threads: `sync_threads` workers take commits from a queue. A worker that finds one commit writes
// and fdatasyncs its slot; one that finds several (they queued up while the workers were syncing)
// writes them all and makes them durable with one syncfs(): group commit, one device flush and one
// wake-up for the lot instead of one each.
//
// SECURITY: queue IDs become file names only after is_valid_queue_id(); slot files and status
// records are treated as untrusted when read back and fully self-checked (CRC) before use.
#include "spool/spool.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "common/queue_id.hpp"
#include "common/thread_name.hpp"
#include "spool/crc.hpp"
#include "spool/slot_file.hpp"
#include "spool/spool_impl.hpp"
#include "spool/status_records.hpp"

namespace sluice::spool {
namespace {

namespace stdfs = std::filesystem;

void make_dir(const stdfs::path& p) {
    if (::mkdir(p.c_str(), 0700) == 0) return;
    int err = errno;
    struct stat st {};
    if (err == EEXIST && ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
    if (err == EEXIST) err = ENOTDIR;
    throw std::system_error(err, std::generic_category(), "spool: cannot create " + p.string());
}

}  // namespace

// ---- Spool --------------------------------------------------------------------------------------

Spool::Spool(Options opts) : dir_(std::move(opts.dir)), impl_(std::make_shared<Impl>()) {
    Impl& im = *impl_;
    im.inspect_only = opts.inspect_only;
    if (im.inspect_only) {
        // Never create a spool where an operator pointed by mistake: say there is none.
        for (const stdfs::path& d : {dir_, dir_ / "slots", dir_ / "status"}) {
            if (::access(d.c_str(), R_OK | X_OK) != 0)
                throw std::system_error(errno, std::generic_category(),
                                        "no readable spool at " + d.string());
        }
    } else {
        stdfs::create_directories(dir_);
        for (const char* sub : {"slots", "status", "corrupt"}) make_dir(dir_ / sub);
    }

    im.fs = opts.fs ? std::move(opts.fs) : std::make_shared<PosixFileOps>();
    const std::string base = dir_.string() + "/";
    im.slot_prefix = base + "slots/";
    im.status_prefix = base + "status/";
    im.corrupt_prefix = base + "corrupt/";
    im.slot_dir = base + "slots";
    im.status_dir = base + "status";
    if (im.inspect_only) return;  // no commits: no sync descriptors, no threads

    // Batches rest on syncfs reporting writeback errors; an older kernel gets one fsync each.
    im.max_batch = syncfs_reports_errors() ? std::max(1u, opts.batch) : 1;
    const unsigned n = std::max(1u, opts.sync_threads);
    if (im.max_batch > 1) {
        // Opened before any commit is written, so every later writeback error reaches them.
        for (unsigned i = 0; i < n; ++i) {
            im.fs_syncs.push_back(std::make_unique<FileSystemSync>(im.slot_dir));
            if (const int err = im.fs_syncs.back()->open_error())
                throw std::system_error(err, std::generic_category(),
                                        "spool: cannot open " + im.slot_dir);
        }
    }
    // If a thread cannot be started, ~Impl (run as impl_ unwinds) joins the ones that did.
    im.workers.reserve(n);
    for (unsigned i = 0; i < n; ++i) {
        FileSystemSync* sync = im.fs_syncs.empty() ? nullptr : im.fs_syncs[i].get();
        im.workers.emplace_back([&im, sync] {
            set_thread_name("sluice-spool");
            im.worker_loop(sync);
        });
    }
}

Spool::~Spool() {
    impl_.reset();
}  // ~Impl finishes queued commits and joins

void Spool::commit(std::shared_ptr<const StoredMessage> msg,
                   std::function<void(CommitResult)> done) {
    impl_->ensure_indexed();  // the slot numbers of a spool we have not read yet are unknown
    {
        std::lock_guard lk(impl_->work_mu);
        impl_->work.push_back(Impl::Job{std::move(msg), std::move(done)});
    }
    impl_->work_cv.notify_one();
}

std::uint64_t StoredMessage::size() const {
    return message.size() + (body ? body->size() : 0);
}

std::shared_ptr<IncomingBody> Spool::begin_body(int* err) {
    Impl& im = *impl_;
    im.ensure_indexed();
    const Impl::Taken t = im.take_slot();
    const std::string path = im.slot_prefix + slot_name(t.n);
    if (t.created) {
        // A new slot starts as a free one; the body goes after the header it will get. Not
        // synced: a crash leaves a free slot (or zeros, which read as free too).
        if (const int e = im.fs->write_file(path, slot_header("FREE", {}), false); e != 0) {
            if (e != EEXIST) im.fs->remove_file(path);
            *err = e;
            return nullptr;
        }
        // Rule 2 for whatever message this slot holds later: its directory entry is synced now
        // (the slot may be released unused and reused by a commit that does not sync slots/).
        if (const int e = im.fs->sync_dir(im.slot_dir); e != 0) {
            im.fs->remove_file(path);
            *err = e;
            return nullptr;
        }
    }
    std::shared_ptr<IncomingBody> b(new IncomingBody());
    b->spool_ = impl_;
    b->slot_ = t.n;
    b->created_ = t.created;
    b->path_ = path;
    return b;
}

IncomingBody::~IncomingBody() {
    if (handed_over_) return;
    auto keep = spool_.lock();
    if (!keep) return;
    // Never committed: its header still says FREE, so the slot is simply free again. A large
    // abandoned body is cut off first, so that clients who never finish cannot leave the spool's
    // files (read whole at every start) at their largest.
    if (size_ > kShrinkAbove && ::truncate(path_.c_str(), kShrinkTo) == 0)
        keep->forget_synced(slot_);
    keep->release_slot(slot_);
}

int IncomingBody::append(std::string_view bytes) {
    if (err_ != 0) return err_;
    auto keep = spool_.lock();
    if (!keep) return err_ = ESHUTDOWN;
    err_ = keep->fs->write_at(path_, kStreamedHeader + size_, bytes, false);
    if (err_ != 0) return err_;
    crc_ = crc32_extend(crc_, bytes);
    size_ += bytes.size();
    return 0;
}

std::vector<QueueEntry> Spool::recover() {
    return impl_->scan(true);
}

std::vector<QueueEntry> Spool::scan() {
    return impl_->scan(false);
}

std::optional<QueueEntry> Spool::load_entry(const std::string& id) const {
    const_cast<Impl&>(*impl_).ensure_indexed();
    auto m = impl_->read_message(id);
    if (!m) return std::nullopt;
    return impl_->make_entry(std::move(*m));
}

std::optional<StoredMessage> Spool::load_message(const std::string& id) const {
    const_cast<Impl&>(*impl_).ensure_indexed();
    return impl_->read_message(id);
}

std::vector<std::string> Spool::list_ids() const {
    const_cast<Impl&>(*impl_).ensure_indexed();
    std::vector<std::string> ids;
    {
        std::lock_guard lk(impl_->idx_mu);
        for (const auto& [id, n] : impl_->slot_of) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
}

bool Spool::record_status(const std::string& id, std::size_t rcpt_index, const RecipientStatus& st,
                          bool sync) {
    impl_->ensure_indexed();
    return impl_->append_status(id, status_record(rcpt_index, st), sync);
}

bool Spool::set_held(const std::string& id, bool held) {
    impl_->ensure_indexed();
    return impl_->append_status(id, held_record(held), true);
}

bool Spool::set_delay_warned(const std::string& id) {
    impl_->ensure_indexed();
    return impl_->append_status(id, delay_warned_record(), true);
}

bool Spool::remove(const std::string& id) {
    if (!is_valid_queue_id(id)) return false;
    impl_->ensure_indexed();
    auto n = impl_->find(id);
    if (!n) return false;
    // Rule 7: marked free without a sync: if a crash loses the mark, the message is found again
    // and the delivery layer recognises the copies it already made (docs/queue-format.md).
    const int err = impl_->fs->overwrite_file(impl_->slot_prefix + slot_name(*n),
                                              slot_header("FREE", {}), false);
    if (err != 0) return false;
    bool had_status;
    {
        std::lock_guard lk(impl_->idx_mu);
        had_status = impl_->with_status.erase(id) != 0;
        impl_->slot_of.erase(id);
        impl_->free_slots.push_back(*n);
    }
    if (had_status) impl_->fs->remove_file(impl_->status_prefix + id);
    return true;
}

}  // namespace sluice::spool
