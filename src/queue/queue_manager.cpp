// queue_manager.cpp: local delivery scheduling (see queue_manager.hpp).
#include "queue/queue_manager.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "common/log.hpp"
#include "delivery/maildir.hpp"

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

double random01() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

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

QueueManager::~QueueManager() { stop(); }

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
            if (it.held) continue;  // stays in the spool until released
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
    for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { worker(); });
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

void QueueManager::flush() {
    {
        std::lock_guard lock(mu_);
        for (auto& [due, it] : waiting_) ready_.push_back(std::move(it));
        waiting_.clear();
    }
    cv_.notify_all();
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

void QueueManager::schedule(Item item, std::int64_t due_us) {
    {
        std::lock_guard lock(mu_);
        waiting_.emplace(due_us, std::move(item));
    }
    cv_.notify_one();
}

void QueueManager::worker() {
    while (true) {
        Item item;
        {
            std::unique_lock lock(mu_);
            while (true) {
                if (stopping_) return;
                std::int64_t now = now_us();
                while (!waiting_.empty() && waiting_.begin()->first <= now) {
                    ready_.push_back(std::move(waiting_.begin()->second));
                    waiting_.erase(waiting_.begin());
                }
                if (!ready_.empty()) {
                    item = std::move(ready_.front());
                    ready_.pop_front();
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
        }
        std::size_t held_bytes = item.msg ? item.msg->message.size() : 0;
        deliver(item);
        if (held_bytes) {
            std::lock_guard lock(mu_);
            memory_in_use_ -= held_bytes;
        }
    }
}

void QueueManager::deliver(Item& item) {
    using spool::RecipientState;
    std::shared_ptr<const spool::StoredMessage> msg = std::move(item.msg);
    if (!msg) {
        auto loaded = spool_.load_message(item.id);
        if (!loaded) {
            // Removed by the operator, or damaged (recover() moves damaged files aside).
            log::warn("delivery_skipped", {{"queue_id", item.id}, {"reason", "not in spool"}});
            std::lock_guard lock(mu_);
            --stats_.queued;
            return;
        }
        msg = std::make_shared<const spool::StoredMessage>(std::move(*loaded));
    }
    const Envelope& env = msg->envelope;
    if (item.status.size() != env.recipients.size()) item.status.assign(env.recipients.size(), {});

    std::string local, domain;
    int deferred = 0, failed = 0;
    std::uint64_t copies = 0;
    std::int64_t now = now_us();
    for (std::size_t i = 0; i < env.recipients.size(); ++i) {
        auto& st = item.status[i];
        if (st.state != RecipientState::pending) continue;
        const std::string& rcpt = env.recipients[i].address;
        split_address(rcpt, local, domain);
        auto boxes = router_.expand(local, domain);
        auto started = std::chrono::steady_clock::now();
        std::string error;
        bool permanent = false;
        if (boxes.empty()) {
            // The configuration changed since RCPT time: this recipient no longer exists.
            error = "5.1.1 recipient no longer exists in the configuration";
            permanent = true;
        }
        for (const auto& box : boxes) {
            std::string prepend = fmt::format("Return-Path: <{}>\r\nDelivered-To: {}\r\n",
                                              env.sender, box);
            delivery::MaildirCopy copy;
            copy.maildir = router_.maildir_for(box);
            copy.unique = delivery::maildir_unique_name(env.received_at_us, env.queue_id,
                                                        mailbox_tag(box));
            copy.hostname = opts_.hostname;
            copy.prepend = prepend;
            copy.message = msg->message;
            // Dovecot expects LF in Maildir; binary bodies are stored untouched.
            copy.crlf_to_lf = opts_.crlf_to_lf && env.body != BodyType::binary_mime;
            copy.check_existing = item.check_existing || st.attempts > 0;
            auto res = delivery::deliver_maildir(copy);
            if (!res.ok) {
                error = res.error;
                permanent = res.permanent;
                break;
            }
            ++copies;
            auto ms = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count() /
                      1000.0;
            log::info("delivery", {{"queue_id", env.queue_id},
                                   {"rcpt", rcpt},
                                   {"mailbox", box},
                                   {"result", res.already_present ? "already_delivered" : "delivered"},
                                   {"ms", ms}});
        }
        ++st.attempts;
        if (error.empty()) {
            st.state = RecipientState::delivered;
            continue;
        }
        st.last_error = error;
        bool expired = now - env.received_at_us >=
                       std::chrono::duration_cast<std::chrono::microseconds>(opts_.lifetime).count();
        if (permanent || expired) {
            st.state = RecipientState::failed;
            ++failed;
            log::error("delivery", {{"queue_id", env.queue_id},
                                    {"rcpt", rcpt},
                                    {"result", "failed"},
                                    {"error", error},
                                    {"attempts", st.attempts}});
        } else {
            ++deferred;
            auto delay = retry_delay(opts_, st.attempts, random01());
            st.next_attempt_us =
                now + std::chrono::duration_cast<std::chrono::microseconds>(delay).count();
            log::warn("delivery", {{"queue_id", env.queue_id},
                                   {"rcpt", rcpt},
                                   {"result", "deferred"},
                                   {"error", error},
                                   {"attempts", st.attempts},
                                   {"retry_in_s", std::chrono::duration_cast<std::chrono::seconds>(
                                                      delay).count()}});
        }
    }

    {
        std::lock_guard lock(mu_);
        stats_.delivered_copies += copies;
        stats_.deferred += deferred ? 1 : 0;
        stats_.failed += failed;
    }

    bool all_delivered = std::all_of(item.status.begin(), item.status.end(), [](auto& s) {
        return s.state == RecipientState::delivered;
    });
    if (all_delivered) {
        // Every copy is durable in its Maildir: the spool entry has done its job.
        spool_.remove(item.id);
        std::lock_guard lock(mu_);
        ++stats_.delivered_messages;
        --stats_.queued;
        return;
    }
    // Persist what changed so a restart resumes the schedule instead of starting over.
    for (std::size_t i = 0; i < item.status.size(); ++i)
        spool_.record_status(item.id, i, item.status[i], false);
    if (deferred) {
        std::int64_t due = INT64_MAX;
        for (auto& s : item.status)
            if (s.state == RecipientState::pending) due = std::min(due, s.next_attempt_us);
        item.check_existing = true;
        schedule(std::move(item), due);
        return;
    }
    // Some recipients failed for good. Bounces (DSN) arrive with the relay; until then the message
    // stays in the spool, held, for the operator to see in `sluice queue list`.
    spool_.set_held(item.id, true);
    log::error("message_held", {{"queue_id", env.queue_id},
                                {"failed_recipients", failed},
                                {"reason", "permanent delivery failure"}});
    std::lock_guard lock(mu_);
    --stats_.queued;
}

}  // namespace sluice::queue
