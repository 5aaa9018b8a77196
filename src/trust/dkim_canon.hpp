// dkim_canon.hpp: DKIM canonicalization. Header fields one at a time (canon_header), the header
// fields a signature covers (select_fields, signed_header_data), and the body as a stream
// (BodyHasher) so a message is hashed while it arrives and never has to be held in memory.
//
// SECURITY: all input is the untrusted message. BodyHasher keeps O(1) state whatever it is fed:
// a count of held-back line ends and a flag for held-back white space, never the bytes, so a body
// of a million empty lines or a megabyte of spaces costs no memory. Header work is linear in the
// header section, which the SMTP layer has already bounded (smtp/header_scan.hpp).
// STANDARDS: RFC 6376 3.4.1-3.4.5 (simple and relaxed canonicalization; per erratum 1384 a
// relaxed empty body stays empty, a simple one is CRLF), 3.7 (what the hashes cover), 5.4.2
// (which instance of a repeated field is signed).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trust/dkim_ossl.hpp"
#include "trust/dkim_tags.hpp"

namespace sluice::trust::dkim {

// One header field: `raw` is "Name: value\r\n" with its continuation lines, `name` the part
// before the colon without trailing white space (empty when the line has no colon).
struct HeaderField {
    std::string_view name;
    std::string_view raw;
};

// The fields of a header section (CRLF lines), in order, up to the empty line or the end.
std::vector<HeaderField> split_header_fields(std::string_view header_section);

// RFC 6376 3.4.1 (simple: unchanged) and 3.4.2 (relaxed: name lower-cased and stripped of white
// space before the colon, value unfolded, WSP runs made one SP, WSP at both ends removed, then
// "name:value\r\n"). `raw_field` is "Name: value\r\n" including folded lines.
std::string canon_header(std::string_view raw_field, Canon c);

// RFC 6376 5.4.2: for each name of h= in order, the last instance of that field (case-insensitive
// name) not yet taken, counting from the bottom; a name with no instance left contributes nothing.
std::vector<const HeaderField*> select_fields(const std::vector<HeaderField>& fields,
                                              const std::vector<std::string>& names);

// RFC 6376 3.7: the data the header signature covers: the selected fields canonicalized, then the
// DKIM-Signature field itself canonicalized without its trailing CRLF. `signature_field` is
// "DKIM-Signature: ...b=..." with the b= value already deleted and no final CRLF.
std::string signed_header_data(const std::vector<HeaderField>& fields,
                               const std::vector<std::string>& names, Canon c,
                               std::string_view signature_field);

// Streaming body canonicalization and hash. update() takes the body (the octets after the empty
// line ending the header section) in any chunking; finish() returns the digest of the canonical
// body, or of its first `limit` octets (l=).
class BodyHasher {
  public:
    BodyHasher(Canon c, Hash h, std::optional<std::uint64_t> limit = std::nullopt);

    void update(std::string_view chunk);
    std::string finish();  // once; the raw digest octets

    // Octets of the canonical body in all (limit or not): after finish(), compared with l=.
    std::uint64_t canonical_length() const { return total_; }

  private:
    void content(std::string_view bytes);  // line content: flushes what was held back first
    void emit(std::string_view bytes);

    Canon canon_;
    std::optional<std::uint64_t> limit_;
    ossl::MdCtx ctx_;
    std::uint64_t total_ = 0;  // canonical octets so far
    std::uint64_t crlfs_ = 0;  // line ends held back: trailing empty lines are dropped
    bool wsp_ = false;         // relaxed: a WSP run held back (dropped at a line end)
    bool cr_ = false;          // the last octet was CR: a CRLF may be split across chunks
    bool content_ = false;     // a non-empty line was seen
};

}  // namespace sluice::trust::dkim
