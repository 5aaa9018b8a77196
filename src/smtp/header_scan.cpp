// header_scan.cpp: see header_scan.hpp.
#include "smtp/header_scan.hpp"

#include <algorithm>

namespace sluice::smtp {

bool is_header_line(std::string_view line, bool first) {
    if (line.empty()) return false;
    if (line[0] == ' ' || line[0] == '\t') return !first;
    std::size_t i = 0;
    // field-name = 1*ftext, ftext = %d33-57 / %d59-126 (printable except ':').
    while (i < line.size() && line[i] >= 33 && line[i] <= 126 && line[i] != ':') ++i;
    if (i == 0) return false;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;  // obs-optional
    return i < line.size() && line[i] == ':';
}

void HeaderScan::scan(std::string_view m) {
    while (end_ == npos && !too_big_) {
        const std::size_t lf = m.find('\n', std::max(pos_, searched_));
        if (lf == std::string_view::npos) {
            searched_ = m.size();
            // A line still arriving counts too: one folded header of megabytes is refused early.
            if (m.size() > limit_) too_big_ = true;
            return;
        }
        std::string_view line = m.substr(pos_, lf - pos_);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) {
            fields_end_ = pos_;
            end_ = lf + 1;
            return;
        }
        if (!is_header_line(line, pos_ == 0)) {
            fields_end_ = end_ = pos_;
            return;
        }
        pos_ = lf + 1;
        if (pos_ > limit_) too_big_ = true;
    }
}

std::size_t header_section_end(std::string_view message) {
    HeaderScan s(HeaderScan::npos);
    s.scan(message);
    return s.done() ? s.end() : message.size();
}

}  // namespace sluice::smtp
