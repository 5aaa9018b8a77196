// loop_stage.cpp: mail loop detection by counting Received fields (see stages.hpp).
#include "policy/stages.hpp"
#include "smtp/data_reader.hpp"

namespace sluice::policy {
namespace {

class LoopStage final : public Stage {
  public:
    explicit LoopStage(std::size_t max) : max_(max) {}

    std::string_view name() const override { return "loop"; }
    EventMask events() const override { return mask(Event::headers); }

    boost::asio::awaitable<Verdict> check(Event, const Facts& f) override {
        // RFC 5321 6.3: a message that has passed this many hops is looping; refuse it rather
        // than pass it on again.
        if (smtp::count_received_headers(f.message) <= max_) co_return Verdict::next();
        co_return Verdict::refuse({554, "5.4.6", "Too many Received headers: mail loop detected"},
                                  "mail_loop");
    }

  private:
    std::size_t max_;
};

}  // namespace

std::unique_ptr<Stage> loop_stage(std::size_t max_received) {
    return std::make_unique<LoopStage>(max_received);
}

}  // namespace sluice::policy
