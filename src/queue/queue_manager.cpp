// queue_manager.cpp: the scheduler: attempts, their results, retries (see queue_manager.hpp).
// Operator commands: queue_admin.cpp. DSNs: queue_bounce.cpp.
#include "queue/queue_manager.hpp"

#include <fmt/format.h>
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
#include "queue/dsn.hpp"
#include "queue/queue_util.hpp"

namespace sluice::queue {
namespace {

double random01() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

Options options_from(const config::Config& cfg, delivery::Transport* local,
                     delivery::Transport* remote) {
    Options o;
    // One queue thread per core by default: each takes a batch, routes it, makes its Maildir
    // copies (drain()) and records the results. On the benchmark (one mailbox, 2 cores) 4 threads
    // cost 0.071-0.079 ms of CPU per copy, 2 threads 0.057-0.062, contending less for the
    // mailbox directory and syncing larger batches. At least 2, so one slow copy stalls nothing.
    o.workers = cfg.delivery.workers != 0 ? cfg.delivery.workers
                                          : std::max(2u, std::thread::hardware_concurrency());
    o.retry_initial = cfg.queue.retry_initial;
    o.retry_max = cfg.queue.retry_max;
    o.lifetime = cfg.queue.lifetime;
    o.hostname = cfg.hostname;
    o.nice = cfg.delivery.nice;
    o.batch = cfg.delivery.batch;
    o.delay_warning = cfg.queue.delay_warning;
    o.local = local;
    o.remote = remote;
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
            become_background_thread("sluice-queue", opts_.nice);
            worker();
        });
}

void QueueManager::enqueue(std::shared_ptr<const spool::StoredMessage> msg) {
    Item it;
    it.id = msg->envelope.queue_id;
    it.received_at_us = msg->envelope.received_at_us;
    {
        std::lock_guard lock(mu_);
        // Keep the body in memory only while the backlog is small; otherwise it is re-read. A
        // streamed body was never in memory: always re-read.
        if (!msg->body && memory_in_use_ + msg->message.size() <= opts_.memory_budget) {
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

namespace {
// Set on the queue's own threads: an attempt finished on one of them is finalized by that same
// thread at its next turn, so waking another for it would only cost a context switch.
thread_local bool t_queue_thread = false;
}  // namespace

void QueueManager::worker() {
    t_queue_thread = true;
    std::vector<std::shared_ptr<Item>> done;
    std::vector<Item> next;
    const std::size_t batch = std::max(1u, opts_.batch);
    while (true) {
        done.clear();
        next.clear();
        {
            std::unique_lock lock(mu_);
            while (true) {
                // Whatever is there is taken at once: a burst costs one wake-up per batch, not
                // one per message. Attempts whose transports have all answered are recorded
                // even when stopping; no new attempt starts then.
                while (!completed_.empty()) {
                    done.push_back(std::move(completed_.front()));
                    completed_.pop_front();
                }
                if (stopping_) {
                    if (done.empty()) return;
                    break;
                }
                std::int64_t now = now_us();
                while (!waiting_.empty() && waiting_.begin()->first <= now) {
                    ready_.push_back(std::move(waiting_.begin()->second));
                    waiting_.erase(waiting_.begin());
                }
                while (!ready_.empty() && next.size() < batch) {
                    next.push_back(std::move(ready_.front()));
                    ready_.pop_front();
                    in_flight_.insert(next.back().id);
                }
                if (!done.empty() || !next.empty()) break;
                if (waiting_.empty()) {
                    cv_.wait(lock);
                } else {
                    auto due = std::chrono::system_clock::time_point(
                        std::chrono::microseconds(waiting_.begin()->first));
                    cv_.wait_until(lock, due);
                }
            }
            // More work than this thread took: let another thread start on it now.
            if (!ready_.empty() || !completed_.empty()) cv_.notify_one();
        }
        for (auto& d : done) {
            // Every transport has answered: finish the attempt here, off the event loop.
            auto msg = std::move(d->msg);
            finalize(*d, msg);
        }
        for (auto& n : next) begin_attempt(std::move(n));
        // A transport working on this thread (Maildir by default) does the batch now: its
        // copies become durable with one sync, and their attempts come back to completed_,
        // which this thread takes at the top of the loop.
        if (!next.empty() && opts_.local) opts_.local->drain();
    }
}

void QueueManager::begin_attempt(Item item) {
    using spool::RecipientState;
    item.held_bytes = item.msg ? item.msg->message.size() : 0;
    std::shared_ptr<const spool::StoredMessage> msg = std::move(item.msg);
    if (!msg) {
        auto loaded = spool_.load_message(item.id);
        if (!loaded) {
            // Removed by the operator, or damaged (recover() moves damaged files aside).
            log::warn("delivery_skipped", {{"queue_id", item.id}, {"reason", "not in spool"}});
            end_attempt(item.id);
            std::lock_guard lock(mu_);
            --stats_.queued;
            return;
        }
        msg = std::make_shared<const spool::StoredMessage>(std::move(*loaded));
    }
    const Envelope& env = msg->envelope;
    if (item.status.size() != env.recipients.size()) item.status.assign(env.recipients.size(), {});
    item.outcomes.assign(env.recipients.size(), {});
    item.remote_results.clear();

    // Route each pending recipient: all local ones in one job, remote ones one job per domain.
    delivery::Job local{msg, {}, {}, item.check_existing};
    std::map<std::string, std::vector<std::size_t>> remote;  // domain -> recipient indexes
    std::string local_part, domain;
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
        if (item.status[i].state != RecipientState::pending) continue;
        auto& out = item.outcomes[i];
        out.attempted = true;
        // Until its transport answers (one that never does is a temporary failure).
        out.reply = {451, "4.3.0", "no answer from the transport"};
        split_address(env.recipients[i].address, local_part, domain);
        if ((domain.empty() || router_.is_local_domain(domain)) && !opts_.local) {
            out.reply = {451, "4.3.5", "local delivery is not configured"};  // a setup error
        } else if (domain.empty() || router_.is_local_domain(domain)) {
            local.rcpts.push_back(i);
        } else if (!opts_.remote || domain.front() == '[') {
            out.permanent = true;
            out.remote = true;
            out.reply = {550, "5.7.1", "relaying is not configured"};
        } else {
            out.remote = true;
            remote[domain].push_back(i);
        }
    }
    auto shared = std::make_shared<Item>(std::move(item));
    shared->msg = msg;  // kept for finalize() (and the memory budget) while the jobs run
    // One extra count, dropped below: a transport that answers at once cannot finish the attempt
    // before every job is handed out.
    shared->pending = 1 + (local.rcpts.empty() ? 0 : 1) + remote.size();
    if (!local.rcpts.empty())
        opts_.local->deliver(std::move(local), [this, shared](delivery::Result r) {
            part_done(shared, false, std::move(r));
        });
    for (auto& [d, idx] : remote)
        opts_.remote->deliver(
            delivery::Job{msg, d, std::move(idx), shared->check_existing},
            [this, shared](delivery::Result r) { part_done(shared, true, std::move(r)); });
    part_done(shared, false, {});
}

void QueueManager::part_done(const std::shared_ptr<Item>& item, bool remote, delivery::Result r) {
    std::lock_guard lock(mu_);
    for (const auto& rr : r.rcpts) {
        if (rr.index >= item->outcomes.size()) continue;
        auto& out = item->outcomes[rr.index];
        out.reply = rr.reply;
        out.ok = rr.disposition() == delivery::Disposition::delivered;
        out.permanent = rr.disposition() == delivery::Disposition::permanent;
        out.dsn_passed = rr.dsn_passed;
        out.remote_mta = r.mx;
    }
    stats_.delivered_copies += r.copies;
    if (remote) item->remote_results.push_back(std::move(r));
    if (--item->pending != 0) return;
    const bool wake = completed_.empty();  // else a thread is already on its way to drain it
    completed_.push_back(item);
    // Notified under mu_: `done` may run on any thread, and once stop() has taken mu_ after us,
    // the queue may be destroyed; a notify after unlocking raced with ~condition_variable.
    if (wake && !t_queue_thread) cv_.notify_one();
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
    const std::string id = item.id;
    if (deleted) {
        // The operator deleted the message during this attempt: no status, no DSN, no retry.
        end_attempt(id);
        forget(id);
        log::info("queue_admin", {{"queue_id", id}, {"action", "deleted_after_attempt"}});
        return;
    }

    // Report what the sender asked for (or failures by default) before forgetting the message.
    const bool reported = send_dsn(*msg, item, now);
    const bool all_final = std::none_of(item.status.begin(), item.status.end(),
                                        [](auto& s) { return s.state == RecipientState::pending; });
    const bool all_delivered = std::all_of(item.status.begin(), item.status.end(), [](auto& s) {
        return s.state == RecipientState::delivered;
    });
    // Every recipient is delivered, or failed and reported: the spool entry has done its job.
    if (all_final && reported) {
        end_attempt(id);
        if (all_delivered) {
            std::lock_guard lock(mu_);
            ++stats_.delivered_messages;
        }
        forget(id);
        return;
    }

    // Persist what changed so a restart resumes the schedule instead of starting over. A remote
    // 250 is synced at once: until then a crash would send the message again. A status record
    // that cannot be written is logged and otherwise let go: the message stays queued, and at
    // worst a restart repeats an attempt (Maildir copies are found by name, not made twice).
    for (std::size_t i = 0; i < item.status.size(); ++i) {
        if (!changed[i]) continue;
        const bool sync = !all_final && item.outcomes[i].remote && item.outcomes[i].ok;
        if (!spool_.record_status(id, i, item.status[i], sync))
            log::error("spool_status", {{"queue_id", id},
                                        {"rcpt", env.recipients[i].address},
                                        {"error", "cannot record the delivery status"}});
    }
    if (all_final) {
        // The DSN could not be stored: keep the message (held) rather than lose the report.
        if (end_attempt(id) == AdminRequest::remove) {
            forget(id);
            return;
        }
        if (!spool_.set_held(id, true))
            log::error("spool_status", {{"queue_id", id}, {"error", "cannot record the hold"}});
        log::error("message_held", {{"queue_id", id}, {"reason", "DSN not stored"}});
        std::lock_guard lock(mu_);
        --stats_.queued;
        return;
    }
    std::int64_t due = INT64_MAX;
    for (auto& s : item.status)
        if (s.state == RecipientState::pending) due = std::min(due, s.next_attempt_us);
    item.check_existing = true;
    item.outcomes.clear();
    item.remote_results.clear();
    // (end_attempt already took a deleted message out of the count.)
    if (end_attempt(id, &item, due) == AdminRequest::remove) forget(id, false);
    // AdminRequest::hold: the operator marked it held in the spool; it waits for a release.
}

void QueueManager::forget(const std::string& id, bool count_out) {
    // A failed removal leaves a message whose every recipient is final: recover() skips it at the
    // next start (nothing is delivered twice) and the operator sees it in `sluice queue list`.
    if (!spool_.remove(id))
        log::error("spool_remove",
                   {{"queue_id", id}, {"error", "cannot remove a finished message"}});
    if (!count_out) return;
    std::lock_guard lock(mu_);
    --stats_.queued;
}

}  // namespace sluice::queue
