// nearest.cpp: edit distance and the nearest candidate (see nearest.hpp).
#include "common/nearest.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>

namespace sluice {
namespace {

char fold(char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // One row of the dynamic-programming table: names are short, O(|a|*|b|) is nothing.
    std::vector<std::size_t> row(b.size() + 1);
    std::iota(row.begin(), row.end(), std::size_t{0});
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const std::size_t cost = fold(a[i - 1]) == fold(b[j - 1]) ? 0 : 1;
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::optional<std::string> nearest(std::string_view word,
                                   const std::vector<std::string>& candidates) {
    std::optional<std::string> best;
    std::size_t best_distance = 0;
    for (const auto& c : candidates) {
        const std::size_t longer = std::max(word.size(), c.size());
        const std::size_t limit = std::clamp<std::size_t>((longer + 1) / 3, 1, 3);
        const bool prefix = !word.empty() && word.size() < c.size() &&
                            edit_distance(word, std::string_view(c).substr(0, word.size())) == 0;
        const std::size_t d = prefix ? 1 : edit_distance(word, c);
        if (d > limit) continue;
        if (!best || d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    return best;
}

}  // namespace sluice
