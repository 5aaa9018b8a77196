// chain.cpp: see chain.hpp.
#include "policy/chain.hpp"

#include "common/log.hpp"

namespace sluice::policy {

std::string_view event_name(Event e) {
    switch (e) {
        case Event::connect:
            return "connect";
        case Event::helo:
            return "helo";
        case Event::mail:
            return "mail";
        case Event::rcpt:
            return "rcpt";
        case Event::headers:
            return "headers";
        case Event::message:
            return "message";
    }
    return "?";
}

void Chain::add(std::unique_ptr<Stage> s) {
    events_ |= s->events();
    reads_body_ = reads_body_ || s->reads_body();
    stages_.push_back(std::move(s));
}

void Chain::open(Facts& f, std::vector<std::unique_ptr<StageState>>& state) const {
    state.clear();
    state.resize(stages_.size());
    f.state = &state;
    for (std::size_t i = 0; i < stages_.size(); ++i) state[i] = stages_[i]->open(f);
}

void Chain::body(const Facts& f, std::string_view chunk) const {
    for (const auto& s : stages_)
        if (s->reads_body()) s->body(f, chunk);
}

boost::asio::awaitable<Verdict> Chain::run(Event e, const Facts& f) const {
    Verdict out;
    const EventMask m = mask(e);
    for (const auto& s : stages_) {
        if ((s->events() & m) == 0) continue;
        Verdict v;
        try {
            v = co_await s->check(e, f);
        } catch (const std::exception& ex) {
            log::error("policy_error", {{"session", f.session},
                                        {"stage", s->name()},
                                        {"event", event_name(e)},
                                        {"error", ex.what()}});
            co_return Verdict::refuse({451, "4.3.0", "Local error in processing, try again later"},
                                      "policy_error");
        }
        for (auto& h : v.headers) out.headers.push_back(std::move(h));
        if (v.action == Verdict::Action::next) continue;
        v.headers = std::move(out.headers);
        co_return v;
    }
    co_return out;
}

}  // namespace sluice::policy
