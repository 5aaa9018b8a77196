// queue_manager.cpp: delivery scheduling, retries and DSNs (see queue_manager.hpp).
#include "queue/queue_manager.hpp"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <system_error>
#include <thread>

#include "common/log.hpp"
#include "common/queue_id.hpp"
#include "common/sync_dir.hpp"
#include "common/thread_name.hpp"
#include "delivery/maildir.hpp"
#include "queue/dsn.hpp"

namespace sluice::queue {
namespace {

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

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

void split_address(const std::string& addr, std::string& local, std::string& domain) {
    auto at = addr.rfind('@');
    if (at == std::string::npos) {
        local = addr;  // bare "postmaster"
        domain.clear();
    } else {
        local = addr.substr(0, at);
        domain = addr.substr(at + 1);
    }
}

std::int64_t to_us(config::Duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

std::string reply_line(const smtp::Reply& r) {
    return r.enhanced.empty() ? fmt::format("{} {}", r.code, r.text)
                              : fmt::format("{} {} {}", r.code, r.enhanced, r.text);
}

double random01() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

Options options_from(const config::Config& cfg, delivery::RemoteCourier* courier) {
    Options o;
    // One delivery thread per core by default: on the benchmark (one mailbox, 2 cores) 4 threads
    // cost 0.071-0.079 ms of CPU per copy, 2 threads 0.057-0.062, contending less for the
    // mailbox directory and syncing larger batches. At least 2, so one slow copy stalls nothing.
    o.workers = cfg.delivery.workers != 0 ? cfg.delivery.workers
                                          : std::max(2u, std::thread::hardware_concurrency());
    o.retry_initial = cfg.queue.retry_initial;
    o.retry_max = cfg.queue.retry_max;
    o.lifetime = cfg.queue.lifetime;
    o.hostname = cfg.hostname;
    o.crlf_to_lf = cfg.delivery.maildir_line_endings == config::LineEndings::lf;
    // Batching rests on syncfs reporting writeback errors (Linux >= 5.8); before, one fsync each.
    o.maildir_batch_sync =
        cfg.delivery.maildir_sync == config::MaildirSync::batch && syncfs_reports_errors();
    o.maildir_root = cfg.delivery.maildir_root;
    o.batch = cfg.delivery.batch;
    o.nice = cfg.delivery.nice;
    o.delay_warning = cfg.queue.delay_warning;
    o.courier = courier;
    return o;
}

config::Duration retry_delay(const Options& o, int attempt, double r) {
    using namespace std::chrono;
    double base = static_cast<double>(o.retry_initial.count());
    double cap = static_cast<double>(o.retry_max.count());
    double d = base;
    for (int i = 1; i < attempt && d < cap; ++i) d *= 2;
    d = std::min(d, cap);
    d *= 0.8 + 0.4 * r;  // jitter spreads retries of a burst of failures
    return config::Duration(static_cast<config::Duration::rep>(d));
}

QueueManager::QueueManager(Options opts, spool::Spool& spool, const delivery::LocalRouter& router)
    : opts_(std::move(opts)), spool_(spool), router_(router) {}

QueueManager::~QueueManager() {
    stop();
}

void QueueManager::start(std::vector<spool::QueueEntry> recovered) {
    {
        std::lock_guard lock(mu_);
        for (auto& e : recovered) {
            Item it;
            it.id = e.envelope.queue_id;
            it.received_at_us = e.envelope.received_at_us;
            it.status = std::move(e.recipients);
            it.check_existing = true;  // a previous run may have delivered some copies already
            it.held = e.held;
            it.delay_warned = e.delay_warned;  // sent before the restart: not again
            if (it.held) continue;             // stays in the spool until released
            bool pending = std::any_of(it.status.begin(), it.status.end(), [](auto& s) {
                return s.state == spool::RecipientState::pending;
            });
            if (!pending && !it.status.empty()) continue;  // all final: held for the operator
            std::int64_t due = 0;
            for (auto& s : it.status)
                if (s.state == spool::RecipientState::pending)
                    due = std::max(due, s.next_attempt_us);
            waiting_.emplace(due, std::move(it));
            ++stats_.queued;
        }
    }
    unsigned n = std::max(1u, opts_.workers);
    for (unsigned i = 0; i < n; ++i)
        threads_.emplace_back([this] {
            set_thread_name("sluice-deliver");
            // Reception first: under a burst the event loop and the spool get the CPU, and the
            // delivery threads catch up in larger (cheaper) batches when it is free.
            if (opts_.nice > 0 &&
                ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), opts_.nice) != 0) {
                log::warn("delivery_priority", {{"nice", opts_.nice},
                                                {"error", std::generic_category().message(errno)}});
            }
            worker();
        });
}

void QueueManager::enqueue(std::shared_ptr<const spool::StoredMessage> msg) {
    Item it;
    it.id = msg->envelope.queue_id;
    it.received_at_us = msg->envelope.received_at_us;
    {
        std::lock_guard lock(mu_);
        // Keep the body in memory only while the backlog is small; otherwise it is re-read.
        if (memory_in_use_ + msg->message.size() <= opts_.memory_budget) {
            memory_in_use_ += msg->message.size();
            it.msg = std::move(msg);
        }
        ready_.push_back(std::move(it));
        ++stats_.queued;
    }
    cv_.notify_one();
}

std::size_t QueueManager::flush() {
    std::size_t n = 0;
    {
        std::lock_guard lock(mu_);
        n = waiting_.size();
        for (auto& [due, it] : waiting_) ready_.push_back(std::move(it));
        waiting_.clear();
    }
    cv_.notify_all();
    return n;
}

std::optional<QueueManager::Item> QueueManager::take_scheduled(const std::string& id) {
    std::optional<Item> found;
    for (auto it = ready_.begin(); it != ready_.end() && !found; ++it) {
        if (it->id != id) continue;
        found = std::move(*it);
        ready_.erase(it);
        break;
    }
    for (auto it = waiting_.begin(); it != waiting_.end() && !found; ++it) {
        if (it->second.id != id) continue;
        found = std::move(it->second);
        waiting_.erase(it);
        break;
    }
    if (found && found->msg) {
        // A fresh message kept in memory: give the budget back; it is re-read if released.
        memory_in_use_ -= std::min(memory_in_use_, found->msg->message.size());
        found->msg.reset();
    }
    return found;
}

QueueManager::AdminRequest QueueManager::end_attempt(const std::string& id, Item* next,
                                                     std::int64_t due_us) {
    AdminRequest req = AdminRequest::none;
    {
        std::lock_guard lock(mu_);
        in_flight_.erase(id);
        if (remove_requested_.erase(id)) {
            hold_requested_.erase(id);
            req = AdminRequest::remove;
        } else if (hold_requested_.erase(id)) {
            req = AdminRequest::hold;
        }
        if (req != AdminRequest::none) {
            if (next) --stats_.queued;  // it leaves the schedule
        } else if (next) {
            waiting_.emplace(due_us, std::move(*next));
        }
    }
    if (next && req == AdminRequest::none) cv_.notify_one();
    return req;
}

AdminResult QueueManager::flush(const std::string& id) {
    std::lock_guard admin(admin_mu_);
    {
        std::lock_guard lock(mu_);
        if (in_flight_.count(id) ||
            std::any_of(ready_.begin(), ready_.end(), [&](const Item& i) { return i.id == id; }))
            return {true, fmt::format("{} is being delivered now", id)};
        if (auto it = take_scheduled(id)) {
            ready_.push_back(std::move(*it));
            cv_.notify_one();
            log::info("queue_admin", {{"queue_id", id}, {"action", "flush"}});
            return {true, fmt::format("{} scheduled for delivery now", id)};
        }
    }
    auto e = spool_.load_entry(id);
    if (!e) return {false, fmt::format("no message {} in the queue", id)};
    if (e->held) return {false, fmt::format("{} is held; release it instead", id)};
    return {false, fmt::format("{} has no recipient left to deliver", id)};
}

AdminResult QueueManager::hold(const std::string& id) {
    std::lock_guard admin(admin_mu_);
    std::optional<Item> taken;
    bool in_flight = false;
    {
        std::lock_guard lock(mu_);
        taken = take_scheduled(id);
        if (taken) {
            --stats_.queued;
        } else if (in_flight_.count(id)) {
            hold_requested_.insert(id);
            in_flight = true;
        }
    }
    if (!taken && !in_flight) {
        auto e = spool_.load_entry(id);
        if (!e) return {false, fmt::format("no message {} in the queue", id)};
        if (e->held) return {true, fmt::format("{} is already held", id)};
    }
    if (!spool_.set_held(id, true)) {
        std::lock_guard lock(mu_);
        if (taken) {
            ready_.push_back(std::move(*taken));
            ++stats_.queued;
            cv_.notify_one();
        }
        hold_requested_.erase(id);
        return {false, fmt::format("{}: cannot record the hold in the spool", id)};
    }
    log::info("queue_admin", {{"queue_id", id}, {"action", "hold"}});
    return {true, in_flight ? fmt::format("{} held (after the delivery attempt in progress)", id)
                            : fmt::format("{} held", id)};
}

AdminResult QueueManager::release(const std::string& id) {
    std::lock_guard admin(admin_mu_);
    bool scheduled = false;
    {
        std::lock_guard lock(mu_);
        scheduled =
            in_flight_.count(id) ||
            std::any_of(ready_.begin(), ready_.end(), [&](const Item& i) { return i.id == id; }) ||
            std::any_of(waiting_.begin(), waiting_.end(),
                        [&](const auto& w) { return w.second.id == id; });
        if (scheduled && !hold_requested_.erase(id))
            return {false, fmt::format("{} is not held", id)};
    }
    if (scheduled) {
        // Held during an attempt still in progress: it simply goes on being scheduled.
        if (!spool_.set_held(id, false))
            return {false, fmt::format("{}: cannot record the release in the spool", id)};
        return {true, fmt::format("{} released", id)};
    }
    auto e = spool_.load_entry(id);
    if (!e) return {false, fmt::format("no message {} in the queue", id)};
    if (!e->held) return {false, fmt::format("{} is not held", id)};
    const bool pending = e->recipients.empty() ||
                         std::any_of(e->recipients.begin(), e->recipients.end(), [](auto& s) {
                             return s.state == spool::RecipientState::pending;
                         });
    if (!pending)
        return {false,
                fmt::format("{}: every recipient is final, nothing to deliver (delete it)", id)};
    if (!spool_.set_held(id, false))
        return {false, fmt::format("{}: cannot record the release in the spool", id)};
    Item it;
    it.id = id;
    it.received_at_us = e->envelope.received_at_us;
    it.status = std::move(e->recipients);
    it.check_existing = true;  // an earlier attempt may have made some copies
    it.delay_warned = e->delay_warned;
    {
        std::lock_guard lock(mu_);
        ready_.push_back(std::move(it));
        ++stats_.queued;
    }
    cv_.notify_one();
    log::info("queue_admin", {{"queue_id", id}, {"action", "release"}});
    return {true, fmt::format("{} released and scheduled for delivery now", id)};
}

AdminResult QueueManager::remove(const std::string& id) {
    std::lock_guard admin(admin_mu_);
    std::optional<Item> taken;
    {
        std::lock_guard lock(mu_);
        taken = take_scheduled(id);
        if (taken) {
            --stats_.queued;
        } else if (in_flight_.count(id)) {
            // The attempt in progress removes it when it ends (end_attempt / finalize).
            remove_requested_.insert(id);
            log::info("queue_admin", {{"queue_id", id}, {"action", "delete"}, {"in_flight", true}});
            return {true, fmt::format("{} deleted (after the delivery attempt in progress)", id)};
        }
    }
    if (!taken && !spool_.load_entry(id))
        return {false, fmt::format("no message {} in the queue", id)};
    if (!spool_.remove(id)) {
        if (taken) {
            std::lock_guard lock(mu_);
            ready_.push_back(std::move(*taken));
            ++stats_.queued;
            cv_.notify_one();
        }
        return {false, fmt::format("{}: cannot remove it from the spool", id)};
    }
    log::info("queue_admin", {{"queue_id", id}, {"action", "delete"}});
    return {true, fmt::format("{} deleted", id)};
}

void QueueManager::stop() {
    {
        std::lock_guard lock(mu_);
        if (stopping_ && threads_.empty()) return;
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
}

Stats QueueManager::stats() const {
    std::lock_guard lock(mu_);
    return stats_;
}

void QueueManager::worker() {
    std::vector<Item> batch;
    // One syncfs descriptor per file system this thread syncs, kept open so each sync reports every
    // writeback error since it was opened (common/sync_dir.hpp). The Maildir root's is opened
    // before the first copy is written; a mailbox on another file system (a mount below the root)
    // gets its descriptor at its first batch, after those copies are written.
    std::map<std::uint64_t, std::unique_ptr<FileSystemSync>> fs_syncs;
    if (!opts_.maildir_root.empty()) {
        // The root may not exist yet (made at the first delivery): its nearest existing ancestor
        // is on the same file system unless a mount point comes between.
        std::filesystem::path p = opts_.maildir_root;
        struct stat st {};
        while (::stat(p.c_str(), &st) != 0 && p.has_relative_path()) p = p.parent_path();
        auto h = std::make_unique<FileSystemSync>(p.string());
        if (h->open_error() == 0 && ::stat(p.c_str(), &st) == 0)
            fs_syncs.emplace(static_cast<std::uint64_t>(st.st_dev), std::move(h));
    }
    while (true) {
        batch.clear();
        std::shared_ptr<Item> done;
        {
            std::unique_lock lock(mu_);
            while (true) {
                if (stopping_) return;
                if (!completed_.empty()) {
                    done = std::move(completed_.front());
                    completed_.pop_front();
                    break;
                }
                std::int64_t now = now_us();
                while (!waiting_.empty() && waiting_.begin()->first <= now) {
                    ready_.push_back(std::move(waiting_.begin()->second));
                    waiting_.erase(waiting_.begin());
                }
                if (!ready_.empty()) {
                    // Take what is ready, up to the batch size: the copies of all of them are then
                    // made durable with one sync instead of two fsyncs each.
                    const std::size_t n = std::min<std::size_t>(
                        ready_.size(), opts_.maildir_batch_sync ? std::max(1u, opts_.batch) : 1);
                    for (std::size_t i = 0; i < n; ++i) {
                        batch.push_back(std::move(ready_.front()));
                        ready_.pop_front();
                        in_flight_.insert(batch.back().id);
                    }
                    break;
                }
                if (waiting_.empty()) {
                    cv_.wait(lock);
                } else {
                    auto due = std::chrono::system_clock::time_point(
                        std::chrono::microseconds(waiting_.begin()->first));
                    cv_.wait_until(lock, due);
                }
            }
            // More ready work than this thread took: let another thread start on it now.
            if (!ready_.empty()) cv_.notify_one();
        }
        if (done) {
            // The remote parts of an attempt have reported: finish it here, off the event loop.
            auto msg = done->msg;
            done->msg.reset();
            finalize(*done, msg);
            continue;
        }
        std::vector<bool> active(batch.size());
        std::map<std::uint64_t, std::string> to_sync;  // device -> a directory on it
        for (std::size_t i = 0; i < batch.size(); ++i) {
            Item& item = batch[i];
            item.held_bytes = item.msg ? item.msg->message.size() : 0;
            active[i] = begin_attempt(item);
            if (!active[i]) continue;
            for (const auto& c : item.copies) {
                // Sync through the copy's directory: a reader may already have moved the file
                // itself from new/ to cur/.
                if (!c.path.empty()) to_sync.emplace(c.device, c.path.substr(0, c.path.rfind('/')));
            }
        }
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
        for (std::size_t i = 0; i < batch.size(); ++i) {
            if (active[i]) end_local_copies(batch[i], failed);
        }
    }
}

void QueueManager::deliver_local(Item& item, const spool::StoredMessage& msg, std::size_t i) {
    const Envelope& env = msg.envelope;
    auto& st = item.status[i];
    auto& out = item.outcomes[i];
    out.attempted = true;
    std::string local, domain;
    const std::string& rcpt = env.recipients[i].address;
    split_address(rcpt, local, domain);
    auto boxes = router_.expand(local, domain);
    auto started = std::chrono::steady_clock::now();
    if (boxes.empty()) {
        // The configuration changed since RCPT time: this recipient no longer exists.
        out.permanent = true;
        out.reply = {550, "5.1.1", "recipient no longer exists in the configuration"};
        return;
    }
    for (const auto& box : boxes) {
        std::string prepend =
            fmt::format("Return-Path: <{}>\r\nDelivered-To: {}\r\n", env.sender, box);
        delivery::MaildirCopy copy;
        copy.maildir = router_.maildir_for(box);
        copy.unique =
            delivery::maildir_unique_name(env.received_at_us, env.queue_id, mailbox_tag(box));
        copy.hostname = opts_.hostname;
        copy.prepend = prepend;
        copy.message = msg.message;
        // Dovecot expects LF in Maildir; binary bodies are stored untouched.
        copy.crlf_to_lf = opts_.crlf_to_lf && env.body != BodyType::binary_mime;
        copy.check_existing = item.check_existing || st.attempts > 0;
        copy.sync = !opts_.maildir_batch_sync;
        auto res = delivery::deliver_maildir(copy);
        if (!res.ok) {
            out.permanent = res.permanent;
            out.reply = {res.permanent ? 550 : 451, res.permanent ? "5.2.0" : "4.2.0", res.error};
            return;
        }
        LocalCopy made;
        made.rcpt = i;
        made.mailbox = box;
        made.path = std::move(res.path);
        made.device = res.device;
        made.already_present = res.already_present;
        made.ms = static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::steady_clock::now() - started)
                                          .count()) /
                  1000.0;
        item.copies.push_back(std::move(made));
    }
    out.ok = true;
    out.reply = {250, "2.0.0", "delivered to Maildir"};
}

void QueueManager::end_local_copies(Item& item, const std::map<std::uint64_t, int>& failed_syncs) {
    const auto& msg = item.attempt_msg;
    for (const auto& c : item.copies) {
        auto& out = item.outcomes[c.rcpt];
        const auto f = c.path.empty() ? failed_syncs.end() : failed_syncs.find(c.device);
        if (f != failed_syncs.end()) {
            // Not durable: take the copy back, so the retry neither trusts nor duplicates it.
            ::unlink(c.path.c_str());
            out.ok = false;
            out.permanent = false;
            out.reply = {451, "4.3.0",
                         "maildir: sync failed: " + std::generic_category().message(f->second)};
            continue;
        }
        log::info("delivery", {{"queue_id", item.id},
                               {"rcpt", msg->envelope.recipients[c.rcpt].address},
                               {"mailbox", c.mailbox},
                               {"result", c.already_present ? "already_delivered" : "delivered"},
                               {"ms", c.ms}});
        std::lock_guard lock(mu_);
        ++stats_.delivered_copies;
    }
    item.copies.clear();
    auto remote = std::move(item.remote);
    auto msg_keep = std::move(item.attempt_msg);
    if (remote.empty()) {
        finalize(item, msg_keep);
        return;
    }
    auto shared = std::make_shared<Item>(std::move(item));
    shared->msg = msg_keep;
    shared->remote_pending = remote.size();
    for (auto& [d, idx] : remote) {
        for (std::size_t i : idx) {
            shared->outcomes[i].attempted = true;
            shared->outcomes[i].remote = true;
        }
        opts_.courier->deliver(
            delivery::RemoteJob{msg_keep, d, idx},
            [this, shared](delivery::RemoteResult r) { remote_done(shared, std::move(r)); });
    }
}

bool QueueManager::begin_attempt(Item& item) {
    using spool::RecipientState;
    std::shared_ptr<const spool::StoredMessage> msg = std::move(item.msg);
    if (!msg) {
        auto loaded = spool_.load_message(item.id);
        if (!loaded) {
            // Removed by the operator, or damaged (recover() moves damaged files aside).
            log::warn("delivery_skipped", {{"queue_id", item.id}, {"reason", "not in spool"}});
            end_attempt(item.id);
            std::lock_guard lock(mu_);
            --stats_.queued;
            return false;
        }
        msg = std::make_shared<const spool::StoredMessage>(std::move(*loaded));
    }
    const Envelope& env = msg->envelope;
    if (item.status.size() != env.recipients.size()) item.status.assign(env.recipients.size(), {});
    item.outcomes.assign(env.recipients.size(), {});
    item.remote_results.clear();
    item.copies.clear();
    item.remote.clear();

    // Route each pending recipient: local now, remote grouped by domain.
    std::string local, domain;
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
        if (item.status[i].state != RecipientState::pending) continue;
        split_address(env.recipients[i].address, local, domain);
        if (domain.empty() || router_.is_local_domain(domain)) {
            deliver_local(item, *msg, i);
        } else if (!opts_.courier || domain.front() == '[') {
            auto& out = item.outcomes[i];
            out.attempted = true;
            out.permanent = true;
            out.remote = true;
            out.reply = {550, "5.7.1", "relaying is not configured"};
        } else {
            item.remote[domain].push_back(i);
        }
    }
    item.attempt_msg = std::move(msg);
    return true;
}

void QueueManager::remote_done(std::shared_ptr<Item> item, delivery::RemoteResult r) {
    {
        std::lock_guard lock(mu_);
        for (const auto& rr : r.rcpts) {
            if (rr.index >= item->outcomes.size()) continue;
            auto& out = item->outcomes[rr.index];
            out.reply = rr.reply;
            out.ok = rr.reply.code >= 200 && rr.reply.code < 300;
            out.permanent = rr.reply.code >= 500;
            out.dsn_passed = rr.dsn_passed;
            out.remote_mta = r.mx;
        }
        item->remote_results.push_back(std::move(r));
        if (--item->remote_pending != 0) return;
        completed_.push_back(std::move(item));
        // Notified under mu_: `done` may run on any thread, and once stop() has taken mu_ after
        // us, the queue may be destroyed; a notify after unlocking raced with ~condition_variable.
        cv_.notify_one();
    }
}

void QueueManager::finalize(Item& item, const std::shared_ptr<const spool::StoredMessage>& msg) {
    using spool::RecipientState;
    const Envelope& env = msg->envelope;
    const std::int64_t now = now_us();
    const bool expired = now - env.received_at_us >= to_us(opts_.lifetime);
    int deferred = 0, failed = 0;
    std::vector<bool> changed(item.status.size(), false);
    for (std::size_t i = 0; i < item.status.size(); ++i) {
        auto& out = item.outcomes[i];
        if (!out.attempted) continue;
        auto& st = item.status[i];
        changed[i] = true;
        ++st.attempts;
        const std::string& rcpt = env.recipients[i].address;
        if (out.ok) {
            st.state = RecipientState::delivered;
            st.last_error.clear();
            continue;
        }
        st.last_error = reply_line(out.reply);
        if (out.permanent || expired) {
            st.state = RecipientState::failed;
            ++failed;
            if (!out.permanent)
                st.last_error = fmt::format("{} (gave up: queue lifetime exceeded)", st.last_error);
            log::error("delivery", {{"queue_id", env.queue_id},
                                    {"rcpt", rcpt},
                                    {"result", "failed"},
                                    {"error", st.last_error},
                                    {"attempts", st.attempts}});
        } else {
            ++deferred;
            auto delay = retry_delay(opts_, st.attempts, random01());
            st.next_attempt_us = now + to_us(delay);
            if (!out.remote)
                log::warn("delivery",
                          {{"queue_id", env.queue_id},
                           {"rcpt", rcpt},
                           {"result", "deferred"},
                           {"error", st.last_error},
                           {"attempts", st.attempts},
                           {"retry_in_s",
                            std::chrono::duration_cast<std::chrono::seconds>(delay).count()}});
        }
    }
    // One line per recipient of each remote attempt: where it went, what came back for it, and
    // what became of it (one transaction can deliver one recipient and bounce another).
    for (const auto& r : item.remote_results) {
        for (const auto& rr : r.rcpts) {
            const auto& st = item.status[rr.index];
            const std::string_view result = st.state == RecipientState::delivered ? "delivered"
                                            : st.state == RecipientState::failed  ? "failed"
                                                                                  : "deferred";
            const auto level = result == "delivered"  ? log::Level::info
                               : result == "deferred" ? log::Level::warn
                                                      : log::Level::error;
            const std::int64_t next = result == "deferred" ? st.next_attempt_us : 0;
            log::event(
                level, "relay",
                {{"queue_id", env.queue_id},
                 {"rcpt", env.recipients[rr.index].address},
                 {"mx", r.mx},
                 {"ip", r.ip},
                 {"tls", r.tls},
                 {"code", rr.reply.code},
                 {"reply", reply_line(rr.reply)},
                 {"ms", static_cast<long long>(r.duration_ms)},
                 {"result", result},
                 {"next_retry_s", next ? static_cast<long long>((next - now) / 1000000) : 0LL}});
        }
    }

    bool deleted = false;
    {
        std::lock_guard lock(mu_);
        stats_.deferred += deferred ? 1 : 0;
        stats_.failed += failed;
        if (item.held_bytes) {
            memory_in_use_ -= std::min(memory_in_use_, item.held_bytes);
            item.held_bytes = 0;
        }
        deleted = remove_requested_.count(item.id) != 0;
    }
    if (deleted) {
        // The operator deleted the message during this attempt: no status, no DSN, no retry.
        end_attempt(item.id);
        spool_.remove(item.id);
        log::info("queue_admin", {{"queue_id", env.queue_id}, {"action", "deleted_after_attempt"}});
        std::lock_guard lock(mu_);
        --stats_.queued;
        return;
    }

    // Report what the sender asked for (or failures by default) before forgetting the message.
    const bool reported = send_dsn(*msg, item, now);

    bool all_final = std::none_of(item.status.begin(), item.status.end(),
                                  [](auto& s) { return s.state == RecipientState::pending; });
    bool all_delivered = std::all_of(item.status.begin(), item.status.end(),
                                     [](auto& s) { return s.state == RecipientState::delivered; });
    if (all_final && !reported) {
        if (end_attempt(item.id) == AdminRequest::remove) {
            spool_.remove(item.id);
            std::lock_guard lock(mu_);
            --stats_.queued;
            return;
        }
        // The DSN could not be stored: keep the message (held) rather than lose the report.
        for (std::size_t i = 0; i < item.status.size(); ++i)
            if (changed[i]) spool_.record_status(item.id, i, item.status[i], false);
        spool_.set_held(item.id, true);
        log::error("message_held", {{"queue_id", env.queue_id}, {"reason", "DSN not stored"}});
        std::lock_guard lock(mu_);
        --stats_.queued;
        return;
    }
    if (all_final) {
        // Every recipient is delivered, or failed and reported: the spool entry has done its job.
        end_attempt(item.id);
        spool_.remove(item.id);
        std::lock_guard lock(mu_);
        if (all_delivered) ++stats_.delivered_messages;
        --stats_.queued;
        return;
    }
    // Persist what changed so a restart resumes the schedule instead of starting over. A remote
    // 250 is synced at once: until then a crash would send the message again.
    for (std::size_t i = 0; i < item.status.size(); ++i)
        if (changed[i])
            spool_.record_status(item.id, i, item.status[i],
                                 item.outcomes[i].remote && item.outcomes[i].ok);
    std::int64_t due = INT64_MAX;
    for (auto& s : item.status)
        if (s.state == RecipientState::pending) due = std::min(due, s.next_attempt_us);
    item.check_existing = true;
    item.outcomes.clear();
    item.remote_results.clear();
    const std::string id = item.id;
    if (end_attempt(id, &item, due) == AdminRequest::remove) spool_.remove(id);
    // AdminRequest::hold: the operator marked it held in the spool; it waits for a release.
}

bool QueueManager::send_dsn(const spool::StoredMessage& msg, Item& item, std::int64_t now) {
    using spool::RecipientState;
    const Envelope& env = msg.envelope;
    DsnRequest req;
    req.hostname = opts_.hostname;
    req.now_us = now;
    const bool warn_delay = opts_.delay_warning && !item.delay_warned &&
                            now - env.received_at_us >= to_us(*opts_.delay_warning);
    bool delayed_any = false;
    for (std::size_t i = 0; i < item.status.size(); ++i) {
        const auto& out = item.outcomes[i];
        if (!out.attempted) continue;
        const auto& st = item.status[i];
        const auto& r = env.recipients[i];
        const std::uint8_t n = r.notify;
        if (n & notify_never) continue;
        DsnRecipient d{
            r.address,     r.orcpt, DsnAction::failed, out.reply.enhanced, reply_line(out.reply),
            out.remote_mta};
        if (st.state == RecipientState::failed) {
            if (n && !(n & notify_failure)) continue;
            if (d.status.empty() || d.status[0] != '5') d.status = "4.4.7";  // gave up
            if (d.status[0] == '4') d.status[0] = '5';
        } else if (st.state == RecipientState::delivered) {
            // A peer that took NOTIFY reports success itself.
            if (!(n & notify_success) || out.dsn_passed) continue;
            d.action = out.remote ? DsnAction::relayed : DsnAction::delivered;
            d.status = "2.0.0";
        } else {
            if (!warn_delay || (n && !(n & notify_delay)) || out.dsn_passed) continue;
            d.action = DsnAction::delayed;
            if (d.status.empty() || d.status[0] != '4') d.status = "4.0.0";
            delayed_any = true;
        }
        req.recipients.push_back(std::move(d));
    }
    if (delayed_any) req.retry_until_us = env.received_at_us + to_us(opts_.lifetime);
    if (req.recipients.empty()) return true;
    if (env.sender.empty()) {
        // RFC 5321 4.5.5 / RFC 3461: never a DSN about a DSN (or any message from <>).
        if (delayed_any) item.delay_warned = true;  // nothing to warn about at later attempts
        log::warn("dsn_suppressed", {{"queue_id", env.queue_id}, {"reason", "null sender"}});
        return true;
    }
    const std::string id = new_queue_id(now);
    auto dsn = std::make_shared<const spool::StoredMessage>(make_dsn(msg, req, id));
    std::promise<spool::CommitResult> p;
    auto f = p.get_future();
    spool_.commit(dsn, [&p](spool::CommitResult r) { p.set_value(std::move(r)); });
    auto r = f.get();
    if (!r.ok) {
        // A delay warning not stored is tried again at the next attempt.
        log::error("dsn", {{"queue_id", env.queue_id}, {"dsn_id", id}, {"error", r.error}});
        return false;
    }
    if (delayed_any) {
        // Recorded (synced) only once the warning is durable, so a restart neither sends it again
        // nor loses it; a crash between the two writes can at worst send it twice.
        item.delay_warned = true;
        if (!spool_.set_delay_warned(item.id))
            log::warn("dsn_delay_not_recorded",
                      {{"queue_id", env.queue_id},
                       {"dsn_id", id},
                       {"error", "cannot record the delay warning in the spool"}});
    }
    log::info("dsn", {{"queue_id", env.queue_id},
                      {"dsn_id", id},
                      {"to", env.sender},
                      {"recipients", req.recipients.size()}});
    {
        std::lock_guard lock(mu_);
        ++stats_.bounces;
    }
    enqueue(dsn);
    return true;
}

}  // namespace sluice::queue
