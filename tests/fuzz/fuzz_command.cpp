// fuzz_command.cpp: the command-line parser (parse_command, parse_mail_args, parse_rcpt_args,
// decode_xtext). Input: one command line without CRLF.
// Invariants: views point into the input; parsed paths and parameters respect RFC 5321 limits.
#include <string>
#include <string_view>

#include "fuzz.hpp"
#include "smtp/command.hpp"

namespace {

bool inside(std::string_view part, std::string_view whole) {
    return part.empty() || (part.data() >= whole.data() &&
                            part.data() + part.size() <= whole.data() + whole.size());
}

void check_args(const sluice::smtp::PathArgsResult& r) {
    using sluice::smtp::ArgError;
    if (!r.args) {
        FUZZ_CHECK(r.error != ArgError::none);
        return;
    }
    FUZZ_CHECK(r.error == ArgError::none);
    const auto& m = r.args->path.mailbox;
    if (!r.args->path.null) {
        FUZZ_CHECK(!m.local.empty());
        FUZZ_CHECK(m.local.size() <= 64);
        FUZZ_CHECK(m.domain.size() <= 255);
    }
    for (const auto& p : r.args->params) {
        FUZZ_CHECK(!p.keyword.empty());
        for (char c : p.keyword) FUZZ_CHECK(!(c >= 'a' && c <= 'z'));
        if (p.value)
            for (unsigned char c : *p.value) FUZZ_CHECK(c > 0x20 && c != 0x7f && c != '=');
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view line(reinterpret_cast<const char*>(data), size);
    auto cmd = sluice::smtp::parse_command(line);
    FUZZ_CHECK(inside(cmd.verb_text, line));
    FUZZ_CHECK(inside(cmd.args, line));
    check_args(sluice::smtp::parse_mail_args(cmd.args));
    check_args(sluice::smtp::parse_rcpt_args(cmd.args));
    // The whole line as arguments too, so inputs without a verb still reach the argument parser.
    check_args(sluice::smtp::parse_mail_args(line));
    check_args(sluice::smtp::parse_rcpt_args(line));
    if (auto x = sluice::smtp::decode_xtext(line)) FUZZ_CHECK(x->size() <= line.size());
    return 0;
}
