// maildir_transport.cpp: see maildir_transport.hpp.
#include "delivery/maildir_transport.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <system_error>

#include "common/log.hpp"
#include "common/sync_dir.hpp"
#include "common/thread_name.hpp"
#include "delivery/maildir.hpp"

namespace sluice::delivery {
namespace {

// Stable per-mailbox number for Maildir unique names (FNV-1a), so the name of a (message, mailbox)
// copy is the same on every attempt.
std::uint32_t mailbox_tag(std::string_view s) {
    std::uint32_t h = 2166136261u;
    for (unsigned char c : s) {
        h ^= c;
        h *= 16777619u;
    }
    return h;
}

}  // namespace

MaildirOptions maildir_options(const config::Config& cfg) {
    MaildirOptions o;
    // No threads of its own: the queue's threads (delivery.workers) make the copies in drain().
    o.threads = 0;
    o.hostname = cfg.hostname;
    o.crlf_to_lf = cfg.delivery.maildir_line_endings == config::LineEndings::lf;
    // Batching rests on syncfs reporting writeback errors (Linux >= 5.8); before, one fsync each.
    o.batch_sync =
        cfg.delivery.maildir_sync == config::MaildirSync::batch && syncfs_reports_errors();
    o.batch = cfg.delivery.batch;
    o.maildir_root = cfg.delivery.maildir_root;
    o.nice = cfg.delivery.nice;
    return o;
}

// A copy written in this batch; with batched syncs it is durable only after the batch's sync, and
// it is logged (and counted) only then.
struct MaildirTransport::Copy {
    std::size_t job = 0;   // index in the batch
    std::size_t rcpt = 0;  // index into the job's recipients
    std::string mailbox;
    std::string path;  // empty: already durable (own fsync, or found from an earlier attempt)
    std::uint64_t device = 0;
    bool already_present = false;
    double ms = 0;
};

MaildirTransport::MaildirTransport(MaildirOptions opts, const LocalRouter& router)
    : opts_(std::move(opts)), router_(router) {}

MaildirTransport::~MaildirTransport() {
    stop();
}

void MaildirTransport::deliver(Job job, std::function<void(Result)> done) {
    bool wake;
    {
        std::lock_guard lock(mu_);
        if (stopping_) return;  // dropped: see transport.hpp
        // A thread woken for the first job takes the ones queued meanwhile with it (and wakes
        // another when more than a batch is waiting): one wake-up per batch, not per job.
        wake = queue_.empty();
        queue_.push_back({std::move(job), std::move(done)});
    }
    if (wake) cv_.notify_one();
}

std::size_t MaildirTransport::queued() const {
    std::lock_guard lock(mu_);
    return queue_.size();
}

void MaildirTransport::start() {
    {
        std::lock_guard lock(mu_);
        if (started_ || stopping_) return;
        started_ = true;
    }
    for (unsigned i = 0; i < opts_.threads; ++i)
        threads_.emplace_back([this] {
            become_background_thread("sluice-maildir", opts_.nice);
            worker();
        });
}

void MaildirTransport::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    std::lock_guard lock(mu_);
    queue_.clear();
}

void MaildirTransport::write_copies(const Job& job, Result& res, std::vector<Copy>& copies,
                                    std::vector<bool>& decided) const {
    const spool::StoredMessage& msg = *job.msg;
    const Envelope& env = msg.envelope;
    std::string local, domain;
    for (std::size_t k = 0; k < job.rcpts.size(); ++k) {
        const std::size_t i = job.rcpts[k];
        RcptResult& rr = res.rcpts[k];
        split_address(env.recipients[i].address, local, domain);
        auto boxes = router_.expand(local, domain);
        const auto started = std::chrono::steady_clock::now();
        if (boxes.empty()) {
            // The configuration changed since RCPT time: this recipient no longer exists.
            rr.reply = {550, "5.1.1", "recipient no longer exists in the configuration"};
            decided[k] = true;
            continue;
        }
        for (const auto& box : boxes) {
            const std::string prepend =
                fmt::format("Return-Path: <{}>\r\nDelivered-To: {}\r\n", env.sender, box);
            MaildirCopy copy;
            copy.maildir = router_.maildir_for(box);
            copy.unique = maildir_unique_name(env.received_at_us, env.queue_id, mailbox_tag(box));
            copy.hostname = opts_.hostname;
            copy.prepend = prepend;
            copy.message = msg.message;
            copy.crlf_to_lf = opts_.crlf_to_lf && env.body != BodyType::binary_mime;
            copy.check_existing = job.check_existing;
            copy.sync = !opts_.batch_sync;
            auto r = deliver_maildir(copy);
            if (!r.ok) {
                rr.reply = {r.permanent ? 550 : 451, r.permanent ? "5.2.0" : "4.2.0", r.error};
                decided[k] = true;
                // Copies of this recipient made so far are still synced and logged below; the
                // retry finds them by name.
                break;
            }
            Copy made;
            made.rcpt = k;
            made.mailbox = box;
            made.path = std::move(r.path);
            made.device = r.device;
            made.already_present = r.already_present;
            made.ms = static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(
                                              std::chrono::steady_clock::now() - started)
                                              .count()) /
                      1000.0;
            copies.push_back(std::move(made));
        }
        if (!decided[k]) rr.reply = {250, "2.0.0", "delivered to Maildir"};
    }
}

MaildirTransport::SyncMap MaildirTransport::open_syncs() const {
    // One syncfs descriptor per file system a thread syncs (see the header). The root may not
    // exist yet (made at the first delivery): its nearest existing ancestor is on the same file
    // system unless a mount point comes between.
    SyncMap fs_syncs;
    if (!opts_.maildir_root.empty()) {
        std::filesystem::path p = opts_.maildir_root;
        struct stat st {};
        while (::stat(p.c_str(), &st) != 0 && p.has_relative_path()) p = p.parent_path();
        auto h = std::make_unique<FileSystemSync>(p.string());
        if (h->open_error() == 0 && ::stat(p.c_str(), &st) == 0)
            fs_syncs.emplace(static_cast<std::uint64_t>(st.st_dev), std::move(h));
    }
    return fs_syncs;
}

bool MaildirTransport::take_batch(std::vector<Pending>& batch, bool wait) {
    std::unique_lock lock(mu_);
    if (wait) cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_ || queue_.empty()) return false;
    // Take what is queued, up to the batch size: the copies of all of them are then made durable
    // with one sync instead of two fsyncs each.
    const std::size_t n =
        std::min<std::size_t>(queue_.size(), opts_.batch_sync ? std::max(1u, opts_.batch) : 1);
    for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
    }
    if (wait && !queue_.empty()) cv_.notify_one();  // more than we took: wake another thread
    return true;
}

void MaildirTransport::worker() {
    SyncMap fs_syncs = open_syncs();
    std::vector<Pending> batch;
    while (true) {
        batch.clear();
        if (!take_batch(batch, true)) return;
        process(batch, fs_syncs);
    }
}

void MaildirTransport::drain() {
    if (opts_.threads != 0) return;  // its own threads do the work
    // The calling (queue) thread's descriptors, kept for its life like a worker's.
    thread_local SyncMap fs_syncs;
    thread_local bool opened = false;
    if (!opened) {
        fs_syncs = open_syncs();
        opened = true;
    }
    std::vector<Pending> batch;
    while (true) {
        batch.clear();
        if (!take_batch(batch, false)) return;
        process(batch, fs_syncs);
    }
}

void MaildirTransport::process(std::vector<Pending>& batch, SyncMap& fs_syncs) {
    std::vector<Result> results(batch.size());
    std::vector<Copy> copies;
    std::vector<std::vector<bool>> decided(batch.size());
    for (std::size_t j = 0; j < batch.size(); ++j) {
        const Job& job = batch[j].job;
        results[j].rcpts.resize(job.rcpts.size());
        for (std::size_t k = 0; k < job.rcpts.size(); ++k) results[j].rcpts[k].index = job.rcpts[k];
        decided[j].assign(job.rcpts.size(), false);
        const std::size_t before = copies.size();
        write_copies(job, results[j], copies, decided[j]);
        for (std::size_t c = before; c < copies.size(); ++c) copies[c].job = j;
    }
    // Sync through each copy's directory: a reader may already have moved the file itself
    // from new/ to cur/.
    std::map<std::uint64_t, std::string> to_sync;  // device -> a directory on it
    for (const auto& c : copies)
        if (!c.path.empty()) to_sync.emplace(c.device, c.path.substr(0, c.path.rfind('/')));
    std::map<std::uint64_t, int> failed;
    for (const auto& [dev, path] : to_sync) {
        int err;
        if (opts_.sync_fs) {
            err = opts_.sync_fs(path);
        } else {
            auto& h = fs_syncs[dev];
            if (!h) h = std::make_unique<FileSystemSync>(path);
            err = h->sync();
            if (h->open_error() != 0) h.reset();  // try to open it again next time
        }
        if (err != 0) {
            failed.emplace(dev, err);
            log::error("maildir_sync",
                       {{"path", path}, {"error", std::generic_category().message(err)}});
        }
    }
    for (const auto& c : copies) {
        const Job& job = batch[c.job].job;
        RcptResult& rr = results[c.job].rcpts[c.rcpt];
        const auto f = c.path.empty() ? failed.end() : failed.find(c.device);
        if (f != failed.end()) {
            // Not durable: take the copy back, so the retry neither trusts nor duplicates it.
            ::unlink(c.path.c_str());
            rr.reply = {451, "4.3.0",
                        "maildir: sync failed: " + std::generic_category().message(f->second)};
            continue;
        }
        const Envelope& env = job.msg->envelope;
        log::info("delivery", {{"queue_id", env.queue_id},
                               {"rcpt", env.recipients[job.rcpts[c.rcpt]].address},
                               {"mailbox", c.mailbox},
                               {"result", c.already_present ? "already_delivered" : "delivered"},
                               {"ms", c.ms}});
        ++results[c.job].copies;
    }
    // A recipient with several mailboxes is delivered only when all its copies are durable:
    // one failed sync makes it temporary (the durable copies are found again on the retry).
    for (std::size_t j = 0; j < batch.size(); ++j) batch[j].done(std::move(results[j]));
}

}  // namespace sluice::delivery
