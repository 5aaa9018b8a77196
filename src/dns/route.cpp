// route.cpp: RFC 5321 5.1 route planning (see route.hpp).
#include "dns/route.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace sluice::dns {

MxPlan plan_mx(std::string_view domain, const MxAnswer& answer,
               const std::vector<std::string>& self_names, std::mt19937_64& rng) {
    MxPlan plan;
    switch (answer.status) {
        case Status::temp_fail:
            plan.error = RouteError{
                451, "4.4.3",
                fmt::format("MX lookup for {} failed: {}", domain,
                            answer.error.empty() ? "temporary DNS failure" : answer.error)};
            return plan;
        case Status::nxdomain:
            plan.error =
                RouteError{550, "5.1.2", fmt::format("Host or domain name not found: {}", domain)};
            return plan;
        case Status::nodata:
            break;
        case Status::ok:
            break;
    }
    std::vector<MxRecord> mx =
        answer.status == Status::ok ? answer.records : std::vector<MxRecord>{};
    if (mx.size() == 1 && mx[0].host.empty()) {
        plan.error = RouteError{556, "5.1.10",
                                fmt::format("Domain {} does not accept mail (null MX)", domain)};
        return plan;
    }
    // A null MX among others is a misconfiguration; the real hosts still count.
    std::erase_if(mx, [](const MxRecord& r) { return r.host.empty(); });
    if (mx.empty()) {
        plan.implicit = true;
        plan.hosts.emplace_back(domain);
        plan.preferences.push_back(0);
        return plan;
    }
    // Shuffle first, then a stable sort: equal preferences keep their random order.
    std::shuffle(mx.begin(), mx.end(), rng);
    std::stable_sort(mx.begin(), mx.end(), [](const MxRecord& a, const MxRecord& b) {
        return a.preference < b.preference;
    });
    // RFC 5321 5.1: if we are one of the MX hosts, only hosts more preferred than us may be used.
    for (std::size_t i = 0; i < mx.size(); ++i) {
        if (std::find(self_names.begin(), self_names.end(), mx[i].host) != self_names.end()) {
            const std::uint16_t ours = mx[i].preference;
            std::erase_if(mx, [&](const MxRecord& r) { return r.preference >= ours; });
            break;
        }
    }
    if (mx.empty()) {
        plan.error =
            RouteError{554, "5.4.6", fmt::format("Mail for {} loops back to myself", domain)};
        return plan;
    }
    for (auto& r : mx) {
        plan.hosts.push_back(r.host);
        plan.preferences.push_back(r.preference);
    }
    return plan;
}

std::vector<std::string> order_addresses(const AddressAnswer& aaaa, const AddressAnswer& a,
                                         const std::vector<std::string>& self) {
    std::vector<std::string> out;
    for (const auto* ans : {&aaaa, &a}) {
        if (ans->status != Status::ok) continue;
        for (const auto& ip : ans->records) {
            if (std::find(self.begin(), self.end(), ip) != self.end()) continue;
            if (std::find(out.begin(), out.end(), ip) == out.end()) out.push_back(ip);
        }
    }
    return out;
}

RouteError address_error(std::string_view host, const AddressAnswer& aaaa, const AddressAnswer& a,
                         bool implicit) {
    const auto gone = [](const AddressAnswer& x) {
        return x.status == Status::nxdomain || x.status == Status::nodata;
    };
    if (implicit && gone(aaaa) && gone(a))
        return RouteError{550, "5.1.2", fmt::format("Host or domain name not found: {}", host)};
    if (gone(aaaa) && gone(a))
        return RouteError{451, "4.4.4", fmt::format("MX host {} has no address", host)};
    const std::string& why = !a.error.empty() ? a.error : aaaa.error;
    return RouteError{451, "4.4.3",
                      fmt::format("Address lookup for {} failed: {}", host,
                                  why.empty() ? "temporary DNS failure" : why)};
}

}  // namespace sluice::dns
