// nearest.hpp: "did you mean ...?" for a mistyped name (CLI subcommands today).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// Edit distance (insert, delete, substitute, swap two neighbours: 1 each; optimal string
// alignment), ASCII case-insensitive.
[[nodiscard]] std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `word`, if it is close enough to be a plausible typo: within a third of
// the longer word's length, rounded (at least 1, at most 3 edits), or `word` is a prefix of it
// ("serv"). Ties go to the earlier candidate.
[[nodiscard]] std::optional<std::string> nearest(std::string_view word,
                                                 const std::vector<std::string>& candidates);

}  // namespace sluice
