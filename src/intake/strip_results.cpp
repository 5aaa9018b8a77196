// strip_results.cpp: the modifier that removes forged Authentication-Results (see intake.hpp).
#include "common/ascii.hpp"
#include "common/log.hpp"
#include "intake/intake.hpp"
#include "smtp/header_scan.hpp"
#include "trust/auth_results.hpp"

namespace sluice::intake {
namespace {

class StripForgedResults final : public Modifier {
  public:
    explicit StripForgedResults(std::string id) : id_(std::move(id)) {}
    std::string_view name() const override { return "strip_forged_results"; }

    boost::asio::awaitable<std::optional<smtp::Reply>> modify(Draft& d) override {
        const std::string_view content = std::string_view(d.message).substr(d.content_start);
        const std::size_t end = smtp::header_section_end(content);
        if (!has_results_field(content.substr(0, end))) co_return std::nullopt;  // the usual case
        std::size_t removed = 0;
        std::string kept = trust::strip_results(content.substr(0, end), id_, &removed);
        if (removed > 0) {
            d.message.replace(d.content_start, end, kept);
            log::info("forged_results_removed", {{"session", d.submission.session},
                                                 {"queue_id", d.envelope.queue_id},
                                                 {"count", removed}});
        }
        co_return std::nullopt;
    }

  private:
    static bool has_results_field(std::string_view headers) {
        constexpr std::string_view name = "authentication-results";
        for (std::size_t pos = 0; pos < headers.size();) {
            if (ascii_iequals(headers.substr(pos, name.size()), name)) return true;
            const auto nl = headers.find('\n', pos);
            if (nl == std::string_view::npos) break;
            pos = nl + 1;
        }
        return false;
    }

    std::string id_;
};

}  // namespace

std::unique_ptr<Modifier> strip_forged_results(std::string authserv_id) {
    return std::make_unique<StripForgedResults>(std::move(authserv_id));
}

}  // namespace sluice::intake
