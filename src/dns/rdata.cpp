// rdata.cpp: DNS record data decoding (see rdata.hpp).
#include "dns/rdata.hpp"

#include <arpa/inet.h>

namespace sluice::dns {

std::optional<std::string> decode_name(std::string_view in, std::size_t* used) {
    std::string out;
    std::size_t i = 0;
    while (true) {
        if (i >= in.size()) return std::nullopt;
        const auto len = static_cast<unsigned char>(in[i]);
        if (len == 0) {
            ++i;
            break;
        }
        if (len > 63) return std::nullopt;  // compression pointer or reserved label type
        if (i + 1 + len > in.size()) return std::nullopt;
        if (!out.empty()) out += '.';
        for (std::size_t k = 0; k < len; ++k) {
            char c = in[i + 1 + k];
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            out += c;
        }
        i += 1 + len;
        if (i > 255) return std::nullopt;
    }
    if (used) *used = i;
    return out;
}

std::optional<MxRecord> decode_mx(std::string_view rdata) {
    if (rdata.size() < 3) return std::nullopt;
    MxRecord mx;
    mx.preference = static_cast<std::uint16_t>((static_cast<unsigned char>(rdata[0]) << 8) |
                                               static_cast<unsigned char>(rdata[1]));
    std::size_t used = 0;
    auto name = decode_name(rdata.substr(2), &used);
    if (!name || used != rdata.size() - 2) return std::nullopt;
    mx.host = std::move(*name);
    return mx;
}

std::optional<std::string> decode_txt(std::string_view rdata) {
    std::string out;
    std::size_t i = 0;
    while (i < rdata.size()) {
        const auto len = static_cast<unsigned char>(rdata[i]);
        if (i + 1 + len > rdata.size()) return std::nullopt;
        out.append(rdata.substr(i + 1, len));
        i += 1 + len;
    }
    return out;
}

std::optional<std::string> decode_address(std::string_view rdata) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (rdata.size() == 4) {
        if (!inet_ntop(AF_INET, rdata.data(), buf, sizeof buf)) return std::nullopt;
    } else if (rdata.size() == 16) {
        if (!inet_ntop(AF_INET6, rdata.data(), buf, sizeof buf)) return std::nullopt;
    } else {
        return std::nullopt;
    }
    return std::string(buf);
}

}  // namespace sluice::dns
