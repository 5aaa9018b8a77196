// format.hpp: the queue file format, encoded and decoded without I/O (unit-tested and fuzzed).
//
// A queue file is a magic line, then typed, length-prefixed records, then an END record carrying a
// CRC-32 of everything before it. A file cut short anywhere, or with any byte flipped, fails
// decode(), so a half-written file is never taken for a message. docs/queue-format.md has the exact
// grammar.
//
// SECURITY: decode() reads files that only we write, but treats them as untrusted: every length is
// bounds-checked and unknown record types of a newer version are rejected, not guessed at.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/envelope.hpp"

namespace sluice::spool {

class IncomingBody;  // spool.hpp

struct StoredMessage {
    Envelope envelope;
    std::string message;  // the full message as it will be delivered (Received header first)
    // Only on the way in, for a message too large to hold in memory: its body, already written
    // into a spool slot as it arrived; `message` is then only the part before it. Read back, a
    // message is always whole in `message`.
    std::shared_ptr<IncomingBody> body{};

    std::uint64_t size() const;  // message plus streamed body
};

// Encodes the envelope and `message` (never the streamed body: the slot carries that).
std::string encode(const StoredMessage& m);

// nullopt on any damage; *error (if given) says what.
std::optional<StoredMessage> decode(std::string_view file, std::string* error = nullptr);

}  // namespace sluice::spool
