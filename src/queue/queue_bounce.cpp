// queue_bounce.cpp: the DSN an attempt calls for (RFC 3464; see queue_manager.hpp and dsn.hpp):
// failures by default, successes and delays when the sender asked with NOTIFY, never about a
// message from <>. The DSN is committed to the spool and queued like any message.
#include <fmt/format.h>

#include <future>

#include "common/log.hpp"
#include "common/queue_id.hpp"
#include "queue/dsn.hpp"
#include "queue/queue_manager.hpp"
#include "queue/queue_util.hpp"

namespace sluice::queue {

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
