// intake.cpp: see intake.hpp.
#include "intake/intake.hpp"

#include <fmt/format.h>
#include <boost/asio/use_awaitable.hpp>

#include <cerrno>
#include <chrono>

#include "common/log.hpp"
#include "common/queue_id.hpp"
#include "intake/async_commit.hpp"
#include "intake/received.hpp"

namespace sluice::intake {
namespace asio = boost::asio;

namespace {

std::int64_t wall_now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void log_message(const Submission& s, const Envelope& env, std::size_t size, int code,
                 const std::string* error) {
    if (!error) {
        log::info("message", {{"session", s.session},
                              {"queue_id", env.queue_id},
                              {"from", env.sender},
                              {"rcpts", env.recipients.size()},
                              {"size", size},
                              {"code", code}});
        return;
    }
    log::error("message", {{"session", s.session},
                           {"queue_id", env.queue_id},
                           {"from", env.sender},
                           {"rcpts", env.recipients.size()},
                           {"size", size},
                           {"code", code},
                           {"error", *error}});
}

}  // namespace

Intake::Intake(Options opts, spool::Spool& spool, Enqueue enqueue, policy::RateLimiter* limiter)
    : opts_(std::move(opts)), spool_(spool), enqueue_(std::move(enqueue)), limiter_(limiter) {}

std::string Intake::assemble(const Envelope& env, Submission& s) const {
    std::string trace = received_header(env, opts_.hostname, s.tls);
    std::size_t added = 0;
    for (const auto& h : s.headers) added += h.size();
    if (added == 0) {
        // The common case: one copy of the content, behind the trace header.
        std::string m;
        m.reserve(trace.size() + s.content.size());
        m += trace;
        m += s.content;
        std::string().swap(s.content);  // freed now, not when the commit returns
        return m;
    }
    std::string m;
    m.reserve(added + trace.size() + s.content.size());
    // Newest on top: the policy's headers (Authentication-Results and the like) describe what this
    // hop found, so they sit above its own Received (RFC 8601 5).
    for (const auto& h : s.headers) m += h;
    m += trace;
    m += s.content;
    std::string().swap(s.content);
    return m;
}

asio::awaitable<Result> Intake::submit(Submission s) {
    Envelope env = std::move(s.envelope);
    const std::int64_t now = wall_now_us();
    env.queue_id = new_queue_id(now);
    env.received_at_us = now;
    const std::size_t content_size = s.content.size();
    std::string message = assemble(env, s);
    std::size_t content_start = message.size() - content_size;

    Result res;
    res.queue_id = env.queue_id;
    for (auto& m : modifiers_) {
        Draft d{env, message, s, content_start};
        if (auto refused = co_await m->modify(d)) {
            res.reply = *refused;
            res.reason = m->name();
            log::info("message_refused", {{"session", s.session},
                                          {"queue_id", env.queue_id},
                                          {"modifier", m->name()},
                                          {"code", refused->code}});
            co_return res;
        }
        content_start = d.content_start;
    }

    auto stored = std::make_shared<const spool::StoredMessage>(
        spool::StoredMessage{std::move(env), std::move(message), std::move(s.body)});
    spool::CommitResult r = co_await async_commit(spool_, stored, asio::use_awaitable);
    const Envelope& e = stored->envelope;
    if (!r.ok) {
        res.reason = "not_stored";
        if (r.err_no == ENOSPC || r.err_no == EDQUOT)
            res.reply = {452, "4.3.1", "Insufficient system storage, try again later"};
        else
            res.reply = {451, "4.3.0", "Local error in processing, try again later"};
        log_message(s, e, stored->size(), res.reply.code, &r.error);
        co_return res;
    }
    res.reply = {250, "2.0.0", fmt::format("Ok: queued as {}", e.queue_id)};
    log_message(s, e, stored->size(), res.reply.code, nullptr);
    if (limiter_) {
        policy::Subjects who{e.client_ip, s.user, e.sender};
        const std::int64_t now_ms = wall_now_us() / 1000;
        limiter_->record(policy::Metric::messages, who, 1, now_ms);
        limiter_->record(policy::Metric::recipients, who, e.recipients.size(), now_ms);
    }
    enqueue_(std::move(stored));
    co_return res;
}

}  // namespace sluice::intake
