// nearest.cpp: edit distance and the nearest candidate (see nearest.hpp).
#include "common/nearest.hpp"

#include <algorithm>
#include <cctype>

namespace sluice {
namespace {

char fold(char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Optimal string alignment: names are short, a full O(|a|*|b|) table is nothing.
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = fold(a[i - 1]) == fold(b[j - 1]) ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            // Two neighbours swapped ("lsit") is one slip of the fingers, not two.
            if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
                fold(a[i - 2]) == fold(b[j - 1]))
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
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
