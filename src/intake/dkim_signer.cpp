// dkim_signer.cpp: DKIM signing of our own senders' mail at intake (see intake.hpp).
#include <chrono>
#include <map>

#include "common/ascii.hpp"
#include "common/log.hpp"
#include "intake/intake.hpp"
#include "smtp/header_from.hpp"
#include "smtp/header_scan.hpp"
#include "trust/dkim_canon.hpp"

namespace sluice::intake {
namespace {

namespace dkim = trust::dkim;

class DkimSigner final : public Modifier {
  public:
    explicit DkimSigner(std::vector<dkim::SigningKey> keys) {
        for (auto& k : keys) by_domain_[ascii_lower(k.domain)].push_back(std::move(k));
    }
    std::string_view name() const override { return "dkim_signer"; }
    bool needs_body_hash() const override { return true; }

    boost::asio::awaitable<std::optional<smtp::Reply>> modify(Draft& d) override {
        if (!d.submission.local_sender) co_return std::nullopt;
        const std::string_view message = d.message;
        const std::size_t header_end = smtp::header_section_end(message);
        const std::string_view headers = message.substr(0, header_end);
        const auto from = smtp::from_header_address(headers);
        const auto at = from ? from->rfind('@') : std::string::npos;
        if (at == std::string::npos)
            co_return std::nullopt;  // no single author: nothing to sign for
        const auto* keys = keys_for(ascii_lower(from->substr(at + 1)));
        if (!keys) co_return std::nullopt;

        std::string body_hash;
        if (d.submission.body) {
            body_hash = d.submission.body_hash;  // streamed: hashed while it arrived
        } else {
            dkim::BodyHasher h(dkim::Canon::relaxed, dkim::Hash::sha256);
            h.update(message.substr(header_end));
            body_hash = h.finish();
        }
        if (body_hash.empty()) {
            log::warn("dkim_not_signed", {{"session", d.submission.session},
                                          {"queue_id", d.envelope.queue_id},
                                          {"reason", "no body hash for a streamed body"}});
            co_return std::nullopt;
        }
        dkim::SignOptions opts;
        opts.timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        std::string fields;
        for (const auto& k : *keys) {
            try {
                fields += dkim::sign(k, headers, body_hash, opts);
            } catch (const std::exception& e) {
                // A key that cannot sign is a local fault: the message waits (4xx), unsigned mail
                // would fail DMARC at its destination.
                log::error("dkim_sign_error", {{"session", d.submission.session},
                                               {"queue_id", d.envelope.queue_id},
                                               {"domain", k.domain},
                                               {"selector", k.selector},
                                               {"error", e.what()}});
                co_return smtp::Reply{451, "4.3.0", "Local error in processing, try again later"};
            }
        }
        // On top: the newest trace first, as for every field this hop adds.
        d.message.insert(0, fields);
        d.content_start += fields.size();
        log::info("dkim_signed", {{"session", d.submission.session},
                                  {"queue_id", d.envelope.queue_id},
                                  {"domain", keys->front().domain},
                                  {"signatures", keys->size()}});
        co_return std::nullopt;
    }

  private:
    // The keys of `domain`, else of its closest parent that has any (relaxed DMARC alignment).
    const std::vector<dkim::SigningKey>* keys_for(std::string_view domain) const {
        while (!domain.empty()) {
            if (auto it = by_domain_.find(std::string(domain)); it != by_domain_.end())
                return &it->second;
            const auto dot = domain.find('.');
            if (dot == std::string_view::npos) break;
            domain.remove_prefix(dot + 1);
        }
        return nullptr;
    }

    std::map<std::string, std::vector<dkim::SigningKey>> by_domain_;
};

}  // namespace

std::unique_ptr<Modifier> dkim_signer(std::vector<trust::dkim::SigningKey> keys) {
    return std::make_unique<DkimSigner>(std::move(keys));
}

}  // namespace sluice::intake
