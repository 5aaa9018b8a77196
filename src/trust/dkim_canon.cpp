// dkim_canon.cpp: DKIM canonicalization (see dkim_canon.hpp).
#include "trust/dkim_canon.hpp"

#include <algorithm>
#include <stdexcept>

#include "common/ascii.hpp"

namespace sluice::trust::dkim {

namespace {

constexpr bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}

// Held-back line ends go out in slices of this, so a long run costs no allocation.
constexpr std::string_view kCrlfs =
    "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";

}  // namespace

std::vector<HeaderField> split_header_fields(std::string_view section) {
    std::vector<HeaderField> fields;
    std::size_t field_start = 0;
    for (std::size_t pos = 0; pos < section.size();) {
        std::size_t eol = section.find("\r\n", pos);
        std::size_t line_end = eol == std::string_view::npos ? section.size() : eol;
        std::size_t next = eol == std::string_view::npos ? section.size() : eol + 2;
        std::string_view line = section.substr(pos, line_end - pos);
        if (line.empty()) break;  // the empty line that ends the header section
        if (is_wsp(line[0]) && !fields.empty()) {
            fields.back().raw = section.substr(field_start, next - field_start);
        } else {
            std::size_t colon = line.find(':');
            std::string_view name = colon == std::string_view::npos ? "" : line.substr(0, colon);
            while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
            fields.push_back({name, section.substr(pos, next - pos)});
            field_start = pos;
        }
        pos = next;
    }
    return fields;
}

std::string canon_header(std::string_view raw, Canon c) {
    if (c == Canon::simple) return std::string(raw);
    std::size_t colon = raw.find(':');
    std::string_view name = raw.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : raw.substr(colon + 1);
    while (!name.empty() && (is_wsp(name.back()) || name.back() == '\r' || name.back() == '\n'))
        name.remove_suffix(1);
    std::string out = ascii_lower(name);
    out += ':';
    bool space = false, any = false;
    for (std::size_t i = 0; i < value.size(); ++i) {
        char ch = value[i];
        if (ch == '\r' && i + 1 < value.size() && value[i + 1] == '\n') {
            ++i;  // unfold (and drop the field's own line end)
        } else if (is_wsp(ch)) {
            space = true;
        } else {
            if (space && any) out += ' ';
            space = false;
            any = true;
            out += ch;
        }
    }
    out += "\r\n";
    return out;
}

std::vector<const HeaderField*> select_fields(const std::vector<HeaderField>& fields,
                                              const std::vector<std::string>& names) {
    std::vector<const HeaderField*> out;
    std::vector<bool> used(fields.size());
    for (const std::string& name : names) {
        for (std::size_t i = fields.size(); i-- > 0;) {
            if (!used[i] && ascii_iequals(fields[i].name, name)) {
                used[i] = true;
                out.push_back(&fields[i]);
                break;
            }
        }
    }
    return out;
}

std::string signed_header_data(const std::vector<HeaderField>& fields,
                               const std::vector<std::string>& names, Canon c,
                               std::string_view signature_field) {
    std::string data;
    for (const HeaderField* f : select_fields(fields, names)) data += canon_header(f->raw, c);
    if (c == Canon::simple) {
        data += signature_field;
    } else {
        std::string sig = canon_header(signature_field, c);
        sig.resize(sig.size() - 2);  // hashed without the CRLF relaxed adds
        data += sig;
    }
    return data;
}

BodyHasher::BodyHasher(Canon c, Hash h, std::optional<std::uint64_t> limit)
    : canon_(c), limit_(limit), ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), ossl::digest(h), nullptr) != 1)
        throw std::runtime_error("dkim: cannot start a digest: " + ossl::last_error());
}

void BodyHasher::update(std::string_view in) {
    const bool relaxed = canon_ == Canon::relaxed;
    auto special = [&](char ch) { return ch == '\r' || (relaxed && is_wsp(ch)); };
    for (std::size_t i = 0; i < in.size();) {
        char ch = in[i];
        if (cr_) {
            cr_ = false;
            if (ch == '\n') {  // a line end: held back until a later line has content
                ++crlfs_;
                wsp_ = false;  // relaxed: WSP at the end of a line is dropped
                ++i;
                continue;
            }
            content("\r");  // a bare CR is line content
        }
        if (ch == '\r') {
            cr_ = true;
            ++i;
        } else if (relaxed && is_wsp(ch)) {
            wsp_ = true;
            ++i;
        } else {
            std::size_t j = i + 1;
            while (j < in.size() && !special(in[j])) ++j;
            content(in.substr(i, j - i));
            i = j;
        }
    }
}

std::string BodyHasher::finish() {
    if (cr_) {
        cr_ = false;
        content("\r");
    }
    // Trailing empty lines are gone; the last line gets its CRLF back (or one is added). An empty
    // body is CRLF for simple and stays empty for relaxed.
    if (canon_ == Canon::simple || content_) emit("\r\n");
    crlfs_ = 0;
    wsp_ = false;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), md, &n) != 1)
        throw std::runtime_error("dkim: cannot finish a digest: " + ossl::last_error());
    return std::string(reinterpret_cast<const char*>(md), n);
}

void BodyHasher::content(std::string_view bytes) {
    while (crlfs_ > 0) {
        std::uint64_t n = std::min<std::uint64_t>(crlfs_, kCrlfs.size() / 2);
        emit(kCrlfs.substr(0, 2 * n));
        crlfs_ -= n;
    }
    if (wsp_) {
        wsp_ = false;
        emit(" ");
    }
    content_ = true;
    emit(bytes);
}

void BodyHasher::emit(std::string_view bytes) {
    std::uint64_t before = total_;
    total_ += bytes.size();
    if (limit_) {
        if (before >= *limit_) return;
        bytes = bytes.substr(0, std::min<std::uint64_t>(bytes.size(), *limit_ - before));
    }
    EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size());
}

}  // namespace sluice::trust::dkim
