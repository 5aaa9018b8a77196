// rate_limit_stage.cpp: messages and recipients per period, per IP, user or sender (see
// stages.hpp and rate_limit.hpp).
#include <chrono>

#include "common/log.hpp"
#include "policy/stages.hpp"

namespace sluice::policy {
namespace {

std::int64_t wall_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class RateLimitStage final : public Stage {
  public:
    explicit RateLimitStage(RateLimiter& limiter) : limiter_(limiter) {
        if (limiter.has(Metric::messages)) events_ |= mask(Event::mail);
        if (limiter.has(Metric::recipients)) events_ |= mask(Event::rcpt);
    }

    std::string_view name() const override { return "rate_limit"; }
    EventMask events() const override { return events_; }

    boost::asio::awaitable<Verdict> check(Event e, const Facts& f) override {
        const std::string_view sender = f.envelope ? std::string_view(f.envelope->sender) : "";
        Subjects who{f.client_ip, f.user ? std::string_view(f.user->name) : "", sender};
        const bool rcpt = e == Event::rcpt;
        // At RCPT the recipients already accepted in this transaction count too.
        const std::uint64_t n = rcpt ? f.envelope->recipients.size() + 1 : 1;
        auto rule =
            limiter_.check(rcpt ? Metric::recipients : Metric::messages, who, n, wall_now_ms());
        if (!rule) co_return Verdict::next();
        log::warn("rate_limit", {{"session", f.session},
                                 {"ip", f.client_ip},
                                 {"scope", scope_name(rule->scope)},
                                 {"metric", rcpt ? "recipients" : "messages"},
                                 {"from", sender}});
        co_return Verdict::refuse({450, "4.7.1", RateLimiter::describe(*rule)}, "rate_limit");
    }

  private:
    RateLimiter& limiter_;
    EventMask events_ = 0;
};

}  // namespace

std::unique_ptr<Stage> rate_limit_stage(RateLimiter& limiter) {
    return std::make_unique<RateLimitStage>(limiter);
}

}  // namespace sluice::policy
