#include <charconv>
#include <map>
#include <sstream>

#include "llama/error.h"
#include "tools/llama-bench/report.h"

namespace llama::bench {

namespace {

constexpr Arm kArmOrder[] = {Arm::Cached, Arm::PerForward, Arm::CachedControl};
constexpr const char* kArmFields[] = {"n",      "mean_ms", "median_ms",   "stddev_ms",
                                      "min_ms", "p95_ms",  "tokens_per_s"};
constexpr const char* kComparisonFields[] = {"latency_improvement_pct",
                                             "latency_ci_low_pct",
                                             "latency_ci_high_pct",
                                             "throughput_improvement_pct",
                                             "throughput_ci_low_pct",
                                             "throughput_ci_high_pct",
                                             "welch_t",
                                             "welch_df",
                                             "p_value",
                                             "p_holm",
                                             "significant"};

// Shortest text that parses back to the same double.
std::string number(double v) {
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, end);
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string quoted = "\"";
    for (char c : s) quoted += (c == '"') ? std::string("\"\"") : std::string(1, c);
    return quoted + "\"";
}

std::vector<std::string> split_csv_line(const std::string& line) {
    std::vector<std::string> fields(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
                fields.back() += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                fields.back() += c;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == ',') {
            fields.emplace_back();
        } else {
            fields.back() += c;
        }
    }
    if (quoted) throw Error("bad llama-bench CSV: unterminated quote in '" + line + "'");
    return fields;
}

void append_comparison(std::vector<std::string>& row, const std::optional<Comparison>& c) {
    if (!c) {
        row.insert(row.end(), std::size(kComparisonFields), "");
        return;
    }
    for (double v :
         {c->latency_improvement_pct, c->latency_ci_pct.low, c->latency_ci_pct.high,
          c->throughput_improvement_pct, c->throughput_ci_pct.low, c->throughput_ci_pct.high,
          c->welch.t, c->welch.df, c->welch.p, c->p_adjusted}) {
        row.push_back(number(v));
    }
    row.push_back(c->significant ? "1" : "0");
}

class Row {
  public:
    Row(const std::map<std::string, size_t>& columns, std::vector<std::string> fields)
        : columns_(columns), fields_(std::move(fields)) {}

    const std::string& text(const std::string& column) const {
        const auto it = columns_.find(column);
        if (it == columns_.end()) throw Error("bad llama-bench CSV: no column " + column);
        return fields_.at(it->second);
    }
    bool has(const std::string& column) const {
        return columns_.count(column) && !text(column).empty();
    }
    double real(const std::string& column) const {
        const std::string& s = text(column);
        double v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
            throw Error("bad llama-bench CSV: " + column + " = '" + s + "' is not a number");
        }
        return v;
    }
    int64_t integer(const std::string& column) const {
        const std::string& s = text(column);
        int64_t v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
            throw Error("bad llama-bench CSV: " + column + " = '" + s + "' is not an integer");
        }
        return v;
    }

    std::optional<Comparison> comparison(const std::string& prefix) const {
        if (!has(prefix + kComparisonFields[0])) return std::nullopt;
        Comparison c;
        c.latency_improvement_pct = real(prefix + "latency_improvement_pct");
        c.latency_ci_pct = {real(prefix + "latency_ci_low_pct"),
                            real(prefix + "latency_ci_high_pct")};
        c.throughput_improvement_pct = real(prefix + "throughput_improvement_pct");
        c.throughput_ci_pct = {real(prefix + "throughput_ci_low_pct"),
                               real(prefix + "throughput_ci_high_pct")};
        c.welch = {real(prefix + "welch_t"), real(prefix + "welch_df"), real(prefix + "p_value")};
        c.p_adjusted = real(prefix + "p_holm");
        c.significant = integer(prefix + "significant") != 0;
        return c;
    }

  private:
    const std::map<std::string, size_t>& columns_;
    std::vector<std::string> fields_;
};

}  // namespace

std::string to_csv(const Report& report) {
    std::ostringstream out;
    const Metadata& m = report.meta;
    // Context as comment lines, so the table stays one header plus one row per configuration.
    out << "# llama-bench " << m.date << " commit " << m.commit << "\n"
        << "# cpu: " << m.cpu << " (" << m.hardware_threads << " hardware threads), threads "
        << m.threads << "\n"
        << "# model: " << m.model << ", " << m.layers << " layers, " << m.dtype << "\n"
        << "# split mode " << m.split_mode << ", reps " << m.reps << ", warmup " << m.warmup
        << ", seed " << m.seed << ", precision " << m.precision << ", isa " << m.isa << "\n"
        << "# improvement: positive = cached faster; control (aa_) = cached-control vs cached\n";
    if (report.summary) out << "# summary: " << report.summary->conclusion << "\n";

    std::vector<Arm> arms;
    for (Arm arm : kArmOrder) {
        for (const ConfigResult& r : report.configs) {
            if (r.find_arm(arm)) {
                arms.push_back(arm);
                break;
            }
        }
    }
    bool any_caching = false, any_control = false;
    for (const ConfigResult& r : report.configs) {
        any_caching |= r.caching.has_value();
        any_control |= r.control.has_value();
    }

    std::vector<std::string> header = {"kind", "batch", "seq", "n_gen", "complete"};
    for (Arm arm : arms) {
        for (const char* f : kArmFields) header.push_back(std::string(arm_name(arm)) + "_" + f);
    }
    if (any_caching) {
        header.insert(header.end(), std::begin(kComparisonFields), std::end(kComparisonFields));
        header.push_back("verdict");
    }
    if (any_control) {
        for (const char* f : kComparisonFields) header.push_back(std::string("aa_") + f);
    }
    for (size_t i = 0; i < header.size(); ++i) out << (i ? "," : "") << header[i];
    out << "\n";

    for (const ConfigResult& r : report.configs) {
        std::vector<std::string> row = {std::string(test_kind_name(r.key.kind)),
                                        std::to_string(r.key.batch), std::to_string(r.key.seq),
                                        std::to_string(r.key.n_gen), r.complete ? "1" : "0"};
        for (Arm arm : arms) {
            const ArmResult* a = r.find_arm(arm);
            if (!a) {
                row.insert(row.end(), std::size(kArmFields), "");
                continue;
            }
            row.push_back(std::to_string(a->latency_ms.n));
            for (double v : {a->latency_ms.mean, a->latency_ms.median, a->latency_ms.stddev,
                             a->latency_ms.min, a->latency_ms.p95, a->tokens_per_s}) {
                row.push_back(number(v));
            }
        }
        if (any_caching) {
            append_comparison(row, r.caching);
            row.push_back(r.verdict ? std::string(verdict_name(*r.verdict)) : "");
        }
        if (any_control) append_comparison(row, r.control);
        for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << csv_field(row[i]);
        out << "\n";
    }
    return out.str();
}

std::vector<ConfigResult> parse_csv(const std::string& text) {
    std::istringstream in(text);
    std::string line;
    std::map<std::string, size_t> columns;
    std::vector<ConfigResult> results;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::string> fields = split_csv_line(line);
        if (columns.empty()) {
            for (size_t i = 0; i < fields.size(); ++i) columns[fields[i]] = i;
            if (!columns.count("kind") || !columns.count("batch")) {
                throw Error("bad llama-bench CSV: header lacks kind/batch columns");
            }
            continue;
        }
        if (fields.size() != columns.size()) {
            throw Error("bad llama-bench CSV: row has " + std::to_string(fields.size()) +
                        " fields, header " + std::to_string(columns.size()));
        }
        const Row row(columns, std::move(fields));
        ConfigResult r;
        const auto kind = parse_test_kind(row.text("kind"));
        if (!kind) throw Error("bad llama-bench CSV: kind '" + row.text("kind") + "'");
        r.key = {*kind, row.integer("batch"), row.integer("seq"), row.integer("n_gen")};
        r.complete = row.integer("complete") != 0;
        for (Arm arm : kArmOrder) {
            const std::string prefix = std::string(arm_name(arm)) + "_";
            if (!row.has(prefix + "n")) continue;
            ArmResult a;
            a.arm = arm;
            a.latency_ms.n = row.integer(prefix + "n");
            a.latency_ms.mean = row.real(prefix + "mean_ms");
            a.latency_ms.median = row.real(prefix + "median_ms");
            a.latency_ms.stddev = row.real(prefix + "stddev_ms");
            a.latency_ms.min = row.real(prefix + "min_ms");
            a.latency_ms.p95 = row.real(prefix + "p95_ms");
            a.tokens_per_s = row.real(prefix + "tokens_per_s");
            r.arms.push_back(std::move(a));
        }
        r.caching = row.comparison("");
        r.control = row.comparison("aa_");
        if (row.has("verdict")) {
            r.verdict = parse_verdict(row.text("verdict"));
            if (!r.verdict)
                throw Error("bad llama-bench CSV: verdict '" + row.text("verdict") + "'");
        }
        results.push_back(std::move(r));
    }
    if (columns.empty()) throw Error("bad llama-bench CSV: no header");
    return results;
}

}  // namespace llama::bench
