// password.hpp: argon2id password hashes (libsodium crypto_pwhash_str), in the PHC string format
// "$argon2id$v=19$m=...,t=...,p=...$salt$hash" that `sluice passwd` prints for the configuration.
//
// SECURITY: verification is deliberately slow (tens of milliseconds, 64 MiB): call it off the
// event loop (server/ runs it on the auth thread pool). Comparison is constant-time (libsodium).
// STANDARDS: RFC 9106 (Argon2).
#pragma once

#include <string>
#include <string_view>

namespace sluice::auth {

// Hashes with libsodium's "interactive" cost (opslimit 2, memlimit 64 MiB). Throws
// std::runtime_error when libsodium cannot allocate the memory.
std::string hash_password(std::string_view password);

// True when `password` matches `hash`. False for a malformed or non-argon2id hash.
bool verify_password(std::string_view hash, std::string_view password);

// A syntactic check ("$argon2id$" prefix, bounded length, printable): used by config validation.
bool looks_like_argon2id(std::string_view hash);

// A valid hash of a random password, for spending the same time on unknown users as on known ones.
const std::string& dummy_hash();

}  // namespace sluice::auth
