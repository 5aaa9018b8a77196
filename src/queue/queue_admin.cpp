// queue_admin.cpp: the operator's commands on queued messages (flush, hold, release, delete; see
// queue_manager.hpp). They serialise on admin_mu_ and coordinate with attempts in flight through
// in_flight_ and the hold/remove requests that end_attempt() honours.
#include <fmt/format.h>

#include <algorithm>

#include "common/log.hpp"
#include "queue/queue_manager.hpp"

namespace sluice::queue {

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

}  // namespace sluice::queue
