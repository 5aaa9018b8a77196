// sasl.hpp: the SASL mechanisms SMTP AUTH offers (PLAIN and LOGIN), as pure decoding functions:
// base64 in, credentials out. No I/O and no password checks happen here; smtp::Session drives the
// exchange and the server verifies the credentials against a UserStore.
//
// SECURITY: every input is an untrusted client line. Base64 is decoded strictly (no whitespace, no
// missing padding, no bits after the padding); NUL is only accepted as the PLAIN separator; sizes
// are capped by the caller's line limit and again here (kMaxField).
// STANDARDS: RFC 4648 (base64), RFC 4616 (PLAIN), RFC 4954 (AUTH: "*" cancels, "=" empty
// initial response), draft-murchison-sasl-login (LOGIN).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sluice::auth {

// Longest identity or password accepted, in bytes.
inline constexpr std::size_t kMaxField = 1024;

enum class Mechanism { plain, login };

// Case-insensitive "PLAIN"/"LOGIN"; nullopt for anything else.
std::optional<Mechanism> parse_mechanism(std::string_view name);

// Strict RFC 4648 base64 (with padding). nullopt when invalid.
std::optional<std::string> base64_decode(std::string_view in);
std::string base64_encode(std::string_view in);

struct Credentials {
    std::string authzid;  // empty: the same as authcid
    std::string authcid;  // the login name
    std::string password;
};

// RFC 4616: "[authzid] NUL authcid NUL passwd", already base64-decoded. nullopt when malformed
// (missing separators, empty authcid or password, a field too long).
std::optional<Credentials> decode_plain(std::string_view message);

// Overwrites the password so it does not linger in freed memory.
void wipe(Credentials& c);

}  // namespace sluice::auth
