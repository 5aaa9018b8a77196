// spf_zone.hpp: a dns::Lookup answering from zone data held in memory, for the SPF evaluator's
// unit tests and the RFC 7208 test suite (whose zone conventions it follows: see
// rfc7208_suite.py). A name absent from the zone is NXDOMAIN (names under "error." time out);
// a name present without the asked type is NODATA; CNAMEs are followed (a loop is a failure).
#pragma once

#include <boost/asio/awaitable.hpp>

#include <map>
#include <string>
#include <vector>

#include "common/ascii.hpp"
#include "dns/resolver.hpp"

namespace sluice::trust::spf::test {

struct ZoneRecord {
    std::string type;  // "A", "AAAA", "MX", "PTR", "TXT", "CNAME", "TIMEOUT"
    std::string value;
    int preference = 0;  // MX
};

class ZoneLookup final : public dns::Lookup {
  public:
    std::map<std::string, std::vector<ZoneRecord>> zone;  // lower-case names
    std::vector<std::string> queries;                     // "TXT example.com", in order

    boost::asio::awaitable<dns::MxAnswer> mx(std::string name) override {
        auto r = lookup(name, "MX");
        dns::MxAnswer out{r.status, {}, r.error};
        for (const auto* rec : r.found)
            out.records.push_back(
                {static_cast<std::uint16_t>(rec->preference), ascii_lower(strip_dot(rec->value))});
        co_return out;
    }
    boost::asio::awaitable<dns::AddressAnswer> a(std::string name) override {
        co_return values(lookup(name, "A"));
    }
    boost::asio::awaitable<dns::AddressAnswer> aaaa(std::string name) override {
        co_return values(lookup(name, "AAAA"));
    }
    boost::asio::awaitable<dns::TextAnswer> txt(std::string name) override {
        co_return values(lookup(name, "TXT"));
    }
    boost::asio::awaitable<dns::TextAnswer> ptr(std::string name) override {
        auto out = values(lookup(name, "PTR"));
        for (auto& n : out.records) n = ascii_lower(strip_dot(n));
        co_return out;
    }

  private:
    struct Found {
        dns::Status status = dns::Status::ok;
        std::vector<const ZoneRecord*> found;
        std::string error;
    };

    static std::string strip_dot(std::string s) {
        if (!s.empty() && s.back() == '.') s.pop_back();
        return s;
    }

    static dns::Answer<std::string> values(const Found& f) {
        dns::Answer<std::string> out{f.status, {}, f.error};
        for (const auto* r : f.found) out.records.push_back(r->value);
        return out;
    }

    Found lookup(const std::string& asked, const std::string& type, int depth = 0) {
        queries.push_back(type + " " + asked);
        const std::string name = ascii_lower(strip_dot(asked));
        auto it = zone.find(name);
        if (it == zone.end()) {
            if (name.starts_with("error.")) return {dns::Status::temp_fail, {}, "timeout"};
            return {dns::Status::nxdomain, {}, "NXDOMAIN"};
        }
        Found out;
        bool timeout = true;  // a TIMEOUT entry counts only before a record of the asked type
        const ZoneRecord* cname = nullptr;
        for (const auto& r : it->second) {
            if (r.type == "TIMEOUT") {
                if (timeout) return {dns::Status::temp_fail, {}, "timeout"};
                continue;
            }
            if (r.type == "CNAME") cname = &r;
            if (r.type != type) continue;
            timeout = false;
            out.found.push_back(&r);
        }
        if (out.found.empty() && cname) {
            if (depth >= 8) return {dns::Status::temp_fail, {}, "CNAME loop"};
            return lookup(cname->value, type, depth + 1);
        }
        if (out.found.empty()) out.status = dns::Status::nodata;
        return out;
    }
};

}  // namespace sluice::trust::spf::test
