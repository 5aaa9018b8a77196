// sender_stage.cpp: an authenticated user sends as itself (see stages.hpp).
#include <fmt/format.h>

#include "common/log.hpp"
#include "policy/stages.hpp"
#include "smtp/header_from.hpp"

namespace sluice::policy {
namespace {

class SenderStage final : public Stage {
  public:
    explicit SenderStage(bool check_from_header)
        : events_(check_from_header ? mask(Event::mail, Event::message) : mask(Event::mail)) {}

    std::string_view name() const override { return "sender"; }
    EventMask events() const override { return events_; }

    boost::asio::awaitable<Verdict> check(Event e, const Facts& f) override {
        if (!f.user) co_return Verdict::next();
        const auth::User& user = *f.user;
        if (e == Event::mail) {
            const std::string& sender = f.envelope->sender;
            if (auth::owns_sender(user, sender)) co_return Verdict::next();
            log::warn("sender_rejected", {{"session", f.session},
                                          {"ip", f.client_ip},
                                          {"user", user.name},
                                          {"from", sender}});
            co_return Verdict::refuse(
                {553, "5.7.1",
                 fmt::format("<{}>: Sender address rejected: not owned by user {}", sender,
                             user.name)},
                "sender_not_owned");
        }
        const auto from = smtp::from_header_address(f.message);
        if (from && !from->empty() && auth::owns_sender(user, *from)) co_return Verdict::next();
        log::warn("from_rejected", {{"session", f.session},
                                    {"ip", f.client_ip},
                                    {"user", user.name},
                                    {"from", from ? *from : std::string("(none)")}});
        co_return Verdict::refuse(
            {553, "5.7.1",
             from ? fmt::format("From: header address <{}> not owned by user {}", *from, user.name)
                  : std::string("Message refused: exactly one From: address required")},
            "from_not_owned");
    }

  private:
    EventMask events_;
};

}  // namespace

std::unique_ptr<Stage> sender_stage(bool check_from_header) {
    return std::make_unique<SenderStage>(check_from_header);
}

}  // namespace sluice::policy
