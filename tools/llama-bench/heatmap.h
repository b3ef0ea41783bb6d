#pragma once

#include <string>

#include "tools/llama-bench/report.h"

namespace llama::bench {

// SVG heatmap of the latency improvement from caching over batch (rows) x seq (columns), one panel
// per test kind. Blue = cached faster, red = cached slower, white = no change; cells whose 95%
// interval excludes zero get a bold border, cells significant after Holm-Bonferroni an asterisk.
// Grid points without a comparison are grey. Throws llama::Error if the report has no comparison.
std::string heatmap_svg(const Report& report);

}  // namespace llama::bench
