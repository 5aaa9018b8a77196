// smtp_client_data.cpp: outgoing commands and DATA transparency (see smtp_client_data.hpp).
#include "delivery/smtp_client_data.hpp"

#include <fmt/format.h>

namespace sluice::delivery {

std::string dot_stuff(std::string_view m) {
    std::string out;
    out.reserve(m.size() + m.size() / 64 + 8);
    bool line_start = true;
    for (std::size_t i = 0; i < m.size(); ++i) {
        const char c = m[i];
        if (line_start && c == '.') out += '.';
        if (c == '\r') {
            out += "\r\n";
            if (i + 1 < m.size() && m[i + 1] == '\n') ++i;
            line_start = true;
        } else if (c == '\n') {
            out += "\r\n";
            line_start = true;
        } else {
            out += c;
            line_start = false;
        }
    }
    if (!line_start) out += "\r\n";
    out += ".\r\n";
    return out;
}

bool needs_8bit(std::string_view m) {
    for (unsigned char c : m)
        if (c >= 0x80 || c == 0) return true;
    return false;
}

bool needs_smtputf8(const Envelope& env) {
    if (env.smtputf8) return true;
    if (needs_8bit(env.sender)) return true;
    for (const auto& r : env.recipients)
        if (needs_8bit(r.address)) return true;
    return false;
}

std::string notify_string(std::uint8_t n) {
    if (n & notify_never) return "NEVER";
    std::string out;
    auto add = [&](std::uint8_t bit, std::string_view word) {
        if (!(n & bit)) return;
        if (!out.empty()) out += ',';
        out += word;
    };
    add(notify_success, "SUCCESS");
    add(notify_failure, "FAILURE");
    add(notify_delay, "DELAY");
    return out;
}

std::string mail_command(const Envelope& env, std::uint64_t size, bool eight_bit,
                         const Extensions& ext) {
    std::string cmd = fmt::format("MAIL FROM:<{}>", env.sender);
    if (!ext.esmtp) return cmd + "\r\n";
    if (ext.has_size) cmd += fmt::format(" SIZE={}", size);
    if (env.body == BodyType::binary_mime && ext.binarymime)
        cmd += " BODY=BINARYMIME";
    else if (eight_bit && ext.eightbitmime)
        cmd += " BODY=8BITMIME";
    if (needs_smtputf8(env) && ext.smtputf8) cmd += " SMTPUTF8";
    if (ext.dsn) {
        if (env.ret == DsnRet::full) cmd += " RET=FULL";
        if (env.ret == DsnRet::hdrs) cmd += " RET=HDRS";
        if (!env.envid.empty()) cmd += " ENVID=" + env.envid;
    }
    return cmd + "\r\n";
}

std::string rcpt_command(const EnvelopeRecipient& r, const Extensions& ext) {
    std::string cmd = fmt::format("RCPT TO:<{}>", r.address);
    if (ext.dsn) {
        if (r.notify) cmd += " NOTIFY=" + notify_string(r.notify);
        if (!r.orcpt.empty()) cmd += " ORCPT=" + r.orcpt;
    }
    return cmd + "\r\n";
}

}  // namespace sluice::delivery
