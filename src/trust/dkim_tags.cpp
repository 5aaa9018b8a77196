// dkim_tags.cpp: DKIM tag lists, signatures and key records (see dkim_tags.hpp).
#include "trust/dkim_tags.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <climits>

#include "common/ascii.hpp"

namespace sluice::trust::dkim {

namespace {

// A tag list longer than this is hostile, not a signature: the bound keeps the duplicate check
// (one pass over the tags seen so far) cheap whatever the input.
constexpr std::size_t kMaxTags = 64;

constexpr bool is_fws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
constexpr bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

std::string_view trim_fws(std::string_view s) {
    while (!s.empty() && is_fws(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_fws(s.back())) s.remove_suffix(1);
    return s;
}

std::string strip_fws(std::string_view s) {
    std::string r;
    r.reserve(s.size());
    for (char c : s)
        if (!is_fws(c)) r += c;
    return r;
}

// A colon-separated list (h=, q=, and the key record's h=, s=, t=), each element FWS-trimmed.
std::vector<std::string_view> split_colons(std::string_view v) {
    std::vector<std::string_view> out;
    for (std::size_t pos = 0;;) {
        std::size_t colon = v.find(':', pos);
        out.push_back(
            trim_fws(v.substr(pos, colon == std::string_view::npos ? colon : colon - pos)));
        if (colon == std::string_view::npos) return out;
        pos = colon + 1;
    }
}

const Tag* find(const std::vector<Tag>& tags, std::string_view name) {
    for (const Tag& t : tags)
        if (t.name == name) return &t;
    return nullptr;
}

// Dot-separated labels of letters, digits, '-' and '_' (selectors use '_' in the wild), at most
// 63 octets each and 253 in all: RFC 6376 3.5 wants A-labels in d=, so no UTF-8.
bool valid_domain(std::string_view d) {
    if (d.empty() || d.size() > 253) return false;
    std::size_t label = 0;
    for (char c : d) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
        } else if (is_alpha(c) || is_digit(c) || c == '-' || c == '_') {
            if (++label > 63) return false;
        } else {
            return false;
        }
    }
    return label != 0;
}

template <typename T>
std::optional<T> parse_number(std::string_view v, std::size_t max_digits) {
    if (v.empty() || v.size() > max_digits) return std::nullopt;
    T n{};
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size()) return std::nullopt;
    return n;
}

template <typename T>
Parsed<T> fail(std::string why) {
    return Parsed<T>{std::nullopt, std::move(why)};
}

}  // namespace

std::string_view algorithm_name(Algorithm a) {
    switch (a) {
        case Algorithm::rsa_sha1:
            return "rsa-sha1";
        case Algorithm::ed25519_sha256:
            return "ed25519-sha256";
        case Algorithm::rsa_sha256:
            break;
    }
    return "rsa-sha256";
}

Hash algorithm_hash(Algorithm a) {
    return a == Algorithm::rsa_sha1 ? Hash::sha1 : Hash::sha256;
}

KeyType algorithm_key_type(Algorithm a) {
    return a == Algorithm::ed25519_sha256 ? KeyType::ed25519 : KeyType::rsa;
}

std::string_view hash_name(Hash h) {
    return h == Hash::sha1 ? "sha1" : "sha256";
}

Parsed<std::vector<Tag>> parse_tag_list(std::string_view text) {
    std::vector<Tag> tags;
    for (std::size_t pos = 0;;) {
        std::size_t semi = text.find(';', pos);
        std::string_view spec =
            text.substr(pos, semi == std::string_view::npos ? semi : semi - pos);
        if (trim_fws(spec).empty()) {
            // Only after the last ';' may a tag-spec be empty.
            if (semi == std::string_view::npos && !tags.empty()) return {std::move(tags), {}};
            return fail<std::vector<Tag>>("empty tag in tag list");
        }
        std::size_t eq = spec.find('=');
        if (eq == std::string_view::npos) return fail<std::vector<Tag>>("tag without '='");
        Tag t{trim_fws(spec.substr(0, eq)), trim_fws(spec.substr(eq + 1)), spec.substr(eq + 1)};
        if (t.name.empty() || !is_alpha(t.name[0])) return fail<std::vector<Tag>>("bad tag name");
        for (char c : t.name)
            if (!is_alpha(c) && !is_digit(c) && c != '_')
                return fail<std::vector<Tag>>("bad tag name");
        for (unsigned char c : t.value)
            if (!is_fws(static_cast<char>(c)) && (c < 0x21 || c == 0x7f))
                return fail<std::vector<Tag>>("bad character in " + std::string(t.name) + "=");
        if (find(tags, t.name))
            return fail<std::vector<Tag>>("duplicate tag " + std::string(t.name) + "=");
        if (tags.size() == kMaxTags) return fail<std::vector<Tag>>("too many tags");
        tags.push_back(t);
        if (semi == std::string_view::npos) return {std::move(tags), {}};
        pos = semi + 1;
    }
}

Parsed<Signature> parse_signature(std::string_view header_value) {
    auto list = parse_tag_list(header_value);
    if (!list) return fail<Signature>(list.error);
    const auto& tags = *list.value;
    for (std::string_view required : {"v", "a", "b", "bh", "d", "h", "s"})
        if (!find(tags, required))
            return fail<Signature>("missing required tag " + std::string(required) + "=");

    Signature sig;
    if (find(tags, "v")->value != "1") return fail<Signature>("unsupported version v=");

    std::string_view a = find(tags, "a")->value;
    if (ascii_iequals(a, "rsa-sha256")) {
        sig.algorithm = Algorithm::rsa_sha256;
    } else if (ascii_iequals(a, "rsa-sha1")) {
        sig.algorithm = Algorithm::rsa_sha1;
    } else if (ascii_iequals(a, "ed25519-sha256")) {
        sig.algorithm = Algorithm::ed25519_sha256;
    } else {
        return fail<Signature>("unknown algorithm a=" + std::string(a));
    }

    const Tag& b = *find(tags, "b");
    auto b_bytes = base64_decode(b.value);
    if (!b_bytes || b_bytes->empty()) return fail<Signature>("b= is not base64");
    sig.b = std::move(*b_bytes);
    sig.b_base64 = strip_fws(b.value);
    sig.b_value_begin = static_cast<std::size_t>(b.raw_value.data() - header_value.data());
    sig.b_value_end = sig.b_value_begin + b.raw_value.size();
    auto bh = base64_decode(find(tags, "bh")->value);
    if (!bh || bh->empty()) return fail<Signature>("bh= is not base64");
    sig.bh = std::move(*bh);

    if (const Tag* c = find(tags, "c")) {
        auto canon = [](std::string_view v) -> std::optional<Canon> {
            if (ascii_iequals(v, "simple")) return Canon::simple;
            if (ascii_iequals(v, "relaxed")) return Canon::relaxed;
            return std::nullopt;
        };
        std::size_t slash = c->value.find('/');
        auto h = canon(c->value.substr(0, slash));
        auto body =
            slash == std::string_view::npos ? Canon::simple : canon(c->value.substr(slash + 1));
        if (!h || !body) return fail<Signature>("unknown canonicalization c=");
        sig.header_canon = *h;
        sig.body_canon = *body;
    }

    sig.domain = find(tags, "d")->value;
    if (!valid_domain(sig.domain)) return fail<Signature>("d= is not a domain name");
    sig.selector = find(tags, "s")->value;
    if (!valid_domain(sig.selector)) return fail<Signature>("s= is not a selector");

    bool from = false;
    for (std::string_view name : split_colons(find(tags, "h")->value)) {
        if (name.empty()) return fail<Signature>("h= has an empty field name");
        for (unsigned char ch : name)
            if (ch < 0x21 || ch > 0x7e) return fail<Signature>("h= has a bad field name");
        if (sig.headers.size() == kMaxSignedFields)
            return fail<Signature>("h= names too many fields");
        from = from || ascii_iequals(name, "from");
        sig.headers.emplace_back(name);
    }
    if (!from) return fail<Signature>("h= does not include From");

    if (const Tag* i = find(tags, "i")) {
        // The local part may be dkim-quoted-printable; it is kept as written, only its domain
        // matters here.
        std::size_t at = i->value.rfind('@');
        if (at == std::string_view::npos) return fail<Signature>("i= has no '@'");
        std::string_view idom = i->value.substr(at + 1);
        bool inside =
            ascii_iequals(idom, sig.domain) ||
            (idom.size() > sig.domain.size() && idom[idom.size() - sig.domain.size() - 1] == '.' &&
             ascii_iequals(idom.substr(idom.size() - sig.domain.size()), sig.domain));
        if (!inside) return fail<Signature>("i= is not in the d= domain");
        sig.identity = i->value;
    } else {
        sig.identity = "@" + sig.domain;
    }

    if (const Tag* l = find(tags, "l")) {
        sig.length = parse_number<std::uint64_t>(l->value, 76);
        if (!sig.length) return fail<Signature>("l= is not a number");
    }
    if (const Tag* q = find(tags, "q")) {
        bool dns_txt = false;
        for (std::string_view m : split_colons(q->value))
            dns_txt = dns_txt || ascii_iequals(m, "dns/txt");
        if (!dns_txt) return fail<Signature>("q= has no dns/txt");
    }
    if (const Tag* t = find(tags, "t")) {
        sig.timestamp = parse_number<std::int64_t>(t->value, 12);
        if (!sig.timestamp) return fail<Signature>("t= is not a number");
    }
    if (const Tag* x = find(tags, "x")) {
        sig.expiration = parse_number<std::int64_t>(x->value, 12);
        if (!sig.expiration) return fail<Signature>("x= is not a number");
        if (sig.timestamp && *sig.expiration <= *sig.timestamp)
            return fail<Signature>("x= is not after t=");
    }
    return {std::move(sig), {}};
}

Parsed<KeyRecord> parse_key_record(std::string_view txt) {
    auto list = parse_tag_list(txt);
    if (!list) return fail<KeyRecord>(list.error);
    const auto& tags = *list.value;
    KeyRecord key;
    if (const Tag* v = find(tags, "v")) {
        if (v != &tags.front()) return fail<KeyRecord>("v= is not the first tag");
        if (v->value != "DKIM1") return fail<KeyRecord>("unsupported version v=");
    }
    if (const Tag* h = find(tags, "h"))
        for (std::string_view name : split_colons(h->value))
            key.hashes.push_back(ascii_lower(name));
    if (const Tag* k = find(tags, "k")) {
        if (ascii_iequals(k->value, "ed25519")) {
            key.type = KeyType::ed25519;
        } else if (!ascii_iequals(k->value, "rsa")) {
            return fail<KeyRecord>("unknown key type k=" + std::string(k->value));
        }
    }
    const Tag* p = find(tags, "p");
    if (!p) return fail<KeyRecord>("missing p=");
    auto bytes = base64_decode(p->value);
    if (!bytes) return fail<KeyRecord>("p= is not base64");
    key.public_key = std::move(*bytes);
    key.revoked = key.public_key.empty();
    if (const Tag* s = find(tags, "s")) {
        key.services.clear();
        for (std::string_view service : split_colons(s->value))
            key.services.push_back(ascii_lower(service));
    }
    if (const Tag* t = find(tags, "t")) {
        for (std::string_view flag : split_colons(t->value)) {
            key.testing = key.testing || flag == "y";
            key.strict = key.strict || flag == "s";
        }
    }
    return {std::move(key), {}};
}

std::optional<std::string> base64_decode(std::string_view text) {
    std::string in = strip_fws(text);
    if (in.empty()) return std::string();
    if (in.size() % 4 != 0 || in.size() > INT_MAX / 2) return std::nullopt;
    std::size_t pad = 0;
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '=') {
            ++pad;
        } else if (pad != 0 || !(is_alpha(c) || is_digit(c) || c == '+' || c == '/')) {
            return std::nullopt;  // a character after padding, or outside the alphabet
        }
    }
    if (pad > 2) return std::nullopt;
    std::string out(in.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    if (n < 0 || static_cast<std::size_t>(n) != out.size()) return std::nullopt;
    // EVP_DecodeBlock decodes the padding as zero octets; they are not part of the data.
    out.resize(out.size() - pad);
    return out;
}

std::string base64_encode(std::string_view bytes) {
    std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

}  // namespace sluice::trust::dkim
