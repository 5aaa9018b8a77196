// sasl.cpp: base64 and SASL PLAIN decoding (see sasl.hpp).
#include "auth/sasl.hpp"

#include "common/ascii.hpp"

#include <string.h>  // explicit_bzero

#include <array>

namespace sluice::auth {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<signed char, 256> make_table() {
    std::array<signed char, 256> t{};
    for (auto& v : t) v = -1;
    for (int i = 0; i < 64; ++i)
        t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<signed char>(i);
    return t;
}
constexpr auto kTable = make_table();

}  // namespace

std::optional<Mechanism> parse_mechanism(std::string_view name) {
    if (ascii_iequals(name, "PLAIN")) return Mechanism::plain;
    if (ascii_iequals(name, "LOGIN")) return Mechanism::login;
    return std::nullopt;
}

std::optional<std::string> base64_decode(std::string_view in) {
    if (in.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(in.size() / 4 * 3);
    for (std::size_t i = 0; i < in.size(); i += 4) {
        const bool last = i + 4 == in.size();
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; ++k) {
            const char c = in[i + static_cast<std::size_t>(k)];
            if (c == '=') {
                // Padding only at the end of the last quantum, and at most two.
                if (!last || k < 2) return std::nullopt;
                ++pad;
                v[k] = 0;
                continue;
            }
            if (pad > 0) return std::nullopt;  // data after padding
            v[k] = kTable[static_cast<unsigned char>(c)];
            if (v[k] < 0) return std::nullopt;
        }
        const unsigned n = (static_cast<unsigned>(v[0]) << 18) |
                           (static_cast<unsigned>(v[1]) << 12) |
                           (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
        out.push_back(static_cast<char>((n >> 16) & 0xff));
        if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
        if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
        // Canonical encoding: the bits dropped by the padding must be zero.
        if ((pad == 1 && (n & 0xff) != 0) || (pad == 2 && (n & 0xffff) != 0)) return std::nullopt;
    }
    return out;
}

std::string base64_encode(std::string_view in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const unsigned n = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += kAlphabet[(n >> 6) & 63];
        out += kAlphabet[n & 63];
    }
    const std::size_t rest = in.size() - i;
    if (rest > 0) {
        unsigned n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
        if (rest == 2) n |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8;
        out += kAlphabet[(n >> 18) & 63];
        out += kAlphabet[(n >> 12) & 63];
        out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<Credentials> decode_plain(std::string_view m) {
    const auto a = m.find('\0');
    if (a == std::string_view::npos) return std::nullopt;
    const auto b = m.find('\0', a + 1);
    if (b == std::string_view::npos) return std::nullopt;
    Credentials c;
    c.authzid = std::string(m.substr(0, a));
    c.authcid = std::string(m.substr(a + 1, b - a - 1));
    c.password = std::string(m.substr(b + 1));
    if (c.authcid.empty() || c.password.empty() || c.authzid.size() > kMaxField ||
        c.authcid.size() > kMaxField || c.password.size() > kMaxField ||
        c.password.find('\0') != std::string::npos) {
        wipe(c);
        return std::nullopt;
    }
    return c;
}

void wipe(Credentials& c) {
    if (!c.password.empty()) explicit_bzero(c.password.data(), c.password.size());
    c.password.clear();
}

}  // namespace sluice::auth
