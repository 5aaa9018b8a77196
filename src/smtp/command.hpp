// command.hpp: splitting SMTP command lines into verb, path and ESMTP parameters.
//
// SECURITY: input is an untrusted line (CRLF already removed, length already bounded by the
// caller). STANDARDS: RFC 5321 4.1.1, 4.1.2 (esmtp-param), RFC 1869/5321 parameter syntax.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/address.hpp"

namespace sluice::smtp {

enum class Verb {
    helo,
    ehlo,
    mail,
    rcpt,
    data,
    bdat,
    rset,
    noop,
    quit,
    vrfy,
    expn,
    help,
    starttls,
    auth,
    http,  // GET/POST/HEAD/PUT/CONNECT...: someone speaks HTTP to the SMTP port
    unknown,
};

struct Command {
    Verb verb = Verb::unknown;
    std::string_view verb_text;  // as sent
    std::string_view args;       // after the single space following the verb; may be empty
};

// Verbs are case-insensitive. Only SP separates verb and arguments; trailing spaces are tolerated.
Command parse_command(std::string_view line);

// A non-negative decimal count (SIZE=, BDAT sizes): digits only, at most 19 of them.
std::optional<std::size_t> parse_decimal(std::string_view s);

struct Param {
    std::string keyword;  // upper-cased
    std::optional<std::string> value;
};

enum class ArgError {
    none,
    syntax,   // 501: missing "FROM:"/"TO:", malformed path or parameter
    address,  // 501/553: the path failed (see address_error)
};

struct PathArgs {
    Path path;
    std::vector<Param> params;
};

struct PathArgsResult {
    std::optional<PathArgs> args;
    ArgError error = ArgError::none;
    AddressError address_error = AddressError::none;
};

// "FROM:<a@b> SIZE=10 BODY=8BITMIME" (case-insensitive "FROM:", optional space after the colon, as
// many clients send it). Parameters are "keyword[=value]" separated by spaces; value is printable
// ASCII except '=' and SP (UTF-8 allowed when the caller says so, RFC 6531 3.3).
PathArgsResult parse_mail_args(std::string_view args);
PathArgsResult parse_rcpt_args(std::string_view args);

// RFC 3461 xtext: validates and decodes "+XX" escapes. nullopt when invalid.
std::optional<std::string> decode_xtext(std::string_view s);

}  // namespace sluice::smtp
