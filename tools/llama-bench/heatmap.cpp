#include "tools/llama-bench/heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "llama/error.h"

namespace llama::bench {

namespace {

constexpr int kCellW = 78, kCellH = 40;
constexpr int kLeft = 80, kTop = 70, kPanelGap = 60;

std::string fmt(const char* format, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

// Diverging colour: t in [-1, 1]; -1 red (cached slower), 0 white, +1 blue (cached faster).
std::string colour(double t) {
    t = std::clamp(t, -1.0, 1.0);
    const double white[3] = {247, 247, 247};
    const double blue[3] = {33, 102, 172};
    const double red[3] = {178, 24, 43};
    const double* end = t >= 0 ? blue : red;
    const double a = std::abs(t);
    char buf[16];
    std::snprintf(buf, sizeof buf, "#%02x%02x%02x",
                  static_cast<int>(std::lround(white[0] + a * (end[0] - white[0]))),
                  static_cast<int>(std::lround(white[1] + a * (end[1] - white[1]))),
                  static_cast<int>(std::lround(white[2] + a * (end[2] - white[2]))));
    return buf;
}

// A round colour-scale limit at or above the largest |improvement|, at least 1%.
double scale_limit(double max_abs) {
    for (double limit : {1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0}) {
        if (max_abs <= limit) return limit;
    }
    return std::ceil(max_abs / 100.0) * 100.0;
}

}  // namespace

std::string heatmap_svg(const Report& report) {
    std::set<TestKind> kinds;
    std::set<int64_t> batches, seqs;
    double max_abs = 0;
    for (const ConfigResult& r : report.configs) {
        kinds.insert(r.key.kind);
        batches.insert(r.key.batch);
        seqs.insert(r.key.seq);
        if (r.caching) max_abs = std::max(max_abs, std::abs(r.caching->latency_improvement_pct));
    }
    bool any = false;
    for (const ConfigResult& r : report.configs) any |= r.caching.has_value();
    if (!any) throw Error("--plot needs --split-mode ab results (no comparison was measured)");
    const double limit = scale_limit(max_abs);

    const int panel_w = kCellW * static_cast<int>(seqs.size());
    const int panel_h = kCellH * static_cast<int>(batches.size());
    const int n_panels = static_cast<int>(kinds.size());
    const int legend_x = kLeft + n_panels * panel_w + (n_panels - 1) * kPanelGap + 50;
    const int width = legend_x + 330;
    const int height = std::max(kTop + panel_h + 70, kTop + 330);

    std::ostringstream svg;
    svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
        << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
        << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        << "<text x=\"" << kLeft << "\" y=\"22\" font-size=\"16\" font-weight=\"bold\">"
        << "Latency improvement from caching the QKV split sizes (%)</text>\n"
        << "<text x=\"" << kLeft << "\" y=\"42\" fill=\"#444\">"
        << escape(report.meta.model + ", " + std::to_string(report.meta.layers) + " layers, " +
                  report.meta.dtype + ", " + std::to_string(report.meta.threads) + " threads, " +
                  std::to_string(report.meta.reps) + " reps/arm, " + report.meta.cpu + ", " +
                  report.meta.date)
        << "</text>\n";

    int panel = 0;
    for (TestKind kind : kinds) {
        const int x0 = kLeft + panel * (panel_w + kPanelGap);
        svg << "<text x=\"" << x0 + panel_w / 2 << "\" y=\"" << kTop - 8
            << "\" text-anchor=\"middle\" font-weight=\"bold\">"
            << (kind == TestKind::PromptProcessing ? "prompt processing (pp)"
                                                   : "token generation (tg)")
            << "</text>\n";
        std::ostringstream borders;
        int col = 0;
        for (int64_t seq : seqs) {
            svg << "<text x=\"" << x0 + col * kCellW + kCellW / 2 << "\" y=\""
                << kTop + panel_h + 18 << "\" text-anchor=\"middle\">" << seq << "</text>\n";
            ++col;
        }
        svg << "<text x=\"" << x0 + panel_w / 2 << "\" y=\"" << kTop + panel_h + 38
            << "\" text-anchor=\"middle\">sequence length</text>\n";
        int row = 0;
        for (int64_t batch : batches) {
            const int y = kTop + row * kCellH;
            if (panel == 0) {
                svg << "<text x=\"" << x0 - 8 << "\" y=\"" << y + kCellH / 2 + 4
                    << "\" text-anchor=\"end\">" << batch << "</text>\n";
            }
            col = 0;
            for (int64_t seq : seqs) {
                const int x = x0 + col * kCellW;
                const ConfigResult* cell = nullptr;
                for (const ConfigResult& r : report.configs) {
                    if (r.key.kind == kind && r.key.batch == batch && r.key.seq == seq) cell = &r;
                }
                if (!cell || !cell->caching) {
                    svg << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << kCellW
                        << "\" height=\"" << kCellH
                        << "\" fill=\"#d9d9d9\" stroke=\"white\"/>\n<text x=\"" << x + kCellW / 2
                        << "\" y=\"" << y + kCellH / 2 + 4
                        << "\" text-anchor=\"middle\" fill=\"#777\">n/a</text>\n";
                } else {
                    const Comparison& c = *cell->caching;
                    if (c.latency_ci_pct.excludes_zero()) {
                        // Drawn after every cell so neighbours cannot paint over the border.
                        borders << "<rect x=\"" << x + 1.5 << "\" y=\"" << y + 1.5 << "\" width=\""
                                << kCellW - 3 << "\" height=\"" << kCellH - 3
                                << "\" fill=\"none\" stroke=\"black\" stroke-width=\"3\"/>\n";
                    }
                    svg << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << kCellW
                        << "\" height=\"" << kCellH << "\" fill=\""
                        << colour(c.latency_improvement_pct / limit)
                        << "\" stroke=\"white\"><title>"
                        << escape(cell->key.label() + ": " +
                                  fmt("%+.2f%%", c.latency_improvement_pct) + " [" +
                                  fmt("%+.2f", c.latency_ci_pct.low) + ", " +
                                  fmt("%+.2f", c.latency_ci_pct.high) +
                                  "], p(Holm)=" + fmt("%.3g", c.p_adjusted))
                        << "</title></rect>\n"
                        << "<text x=\"" << x + kCellW / 2 << "\" y=\"" << y + kCellH / 2 + 4
                        << "\" text-anchor=\"middle\""
                        << (std::abs(c.latency_improvement_pct) > 0.6 * limit ? " fill=\"white\""
                                                                              : "")
                        << (c.significant ? " font-weight=\"bold\"" : "") << ">"
                        << fmt("%+.2f", c.latency_improvement_pct) << (c.significant ? "*" : "")
                        << "</text>\n";
                }
                ++col;
            }
            ++row;
        }
        svg << borders.str();
        ++panel;
    }
    svg << "<text x=\"" << kLeft - 50 << "\" y=\"" << kTop + panel_h / 2
        << "\" text-anchor=\"middle\" transform=\"rotate(-90 " << kLeft - 50 << " "
        << kTop + panel_h / 2 << ")\">batch</text>\n";

    // Legend: colour bar from +limit (top) to -limit (bottom), then the marker key.
    constexpr int kBarH = 200, kBarW = 18, kSteps = 40;
    for (int i = 0; i < kSteps; ++i) {
        const double t = 1.0 - 2.0 * (i + 0.5) / kSteps;
        svg << "<rect x=\"" << legend_x << "\" y=\"" << kTop + i * kBarH / kSteps << "\" width=\""
            << kBarW << "\" height=\"" << kBarH / kSteps + 1 << "\" fill=\"" << colour(t)
            << "\"/>\n";
    }
    for (double t : {1.0, 0.5, 0.0, -0.5, -1.0}) {
        const int y = kTop + static_cast<int>((1.0 - t) / 2.0 * kBarH);
        svg << "<text x=\"" << legend_x + kBarW + 6 << "\" y=\"" << y + 4 << "\">"
            << fmt("%+g%%", t * limit) << "</text>\n";
    }
    const int ly = kTop + kBarH + 30;
    svg << "<text x=\"" << legend_x << "\" y=\"" << kTop - 8 << "\">cached faster</text>\n"
        << "<text x=\"" << legend_x << "\" y=\"" << kTop + kBarH + 14 << "\">cached slower</text>\n"
        << "<rect x=\"" << legend_x << "\" y=\"" << ly << "\" width=\"18\" height=\"14\" "
        << "fill=\"white\" stroke=\"black\" stroke-width=\"3\"/>\n"
        << "<text x=\"" << legend_x + 26 << "\" y=\"" << ly + 11
        << "\">95% bootstrap interval excludes 0</text>\n"
        << "<text x=\"" << legend_x << "\" y=\"" << ly + 34 << "\" font-weight=\"bold\">*</text>\n"
        << "<text x=\"" << legend_x + 26 << "\" y=\"" << ly + 34
        << "\">significant after Holm-Bonferroni (alpha " << fmt("%g", report.meta.alpha)
        << ")</text>\n"
        << "<rect x=\"" << legend_x << "\" y=\"" << ly + 46
        << "\" width=\"18\" height=\"14\" fill=\"#d9d9d9\"/>\n"
        << "<text x=\"" << legend_x + 26 << "\" y=\"" << ly + 57 << "\">not measured</text>\n"
        << "<text x=\"" << legend_x << "\" y=\"" << ly + 80 << "\">improvement = 100 * (1 - "
        << "cached / per-forward)</text>\n";
    if (report.summary) {
        svg << "<text x=\"" << legend_x << "\" y=\"" << ly + 100 << "\">A/A noise: mean |change| "
            << fmt("%.2f", report.summary->control_mean_abs_change_pct) << "%, max "
            << fmt("%.2f", report.summary->control_max_abs_change_pct) << "%</text>\n";
    }
    svg << "</svg>\n";
    return svg.str();
}

}  // namespace llama::bench
