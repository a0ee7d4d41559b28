#pragma once
// The Prometheus text exposition format (version 0.0.4): metric families, samples with escaped
// label values, and numbers as Prometheus reads them (NaN, +Inf, -Inf). Metrics::prometheus()
// writes its exposition with these.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "s3db/detail/config.hpp"

namespace s3db::detail {

S3DB_DECL void prometheus_label_value(std::string& out, std::string_view v);

S3DB_DECL void prometheus_number(std::string& out, double v);

S3DB_DECL void prometheus_family(std::string& out, std::string_view name, std::string_view type, std::string_view help);

/// One sample: name{labels…} value. `labels` are (name, value) pairs; values are escaped here.
S3DB_DECL void prometheus_sample(std::string& out, std::string_view name,
                                 std::initializer_list<std::pair<std::string_view, std::string_view>> labels, double v);

}  // namespace s3db::detail

#if S3DB_DEFINE_BODIES
#include <charconv>
#include <cmath>

namespace s3db::detail {

S3DB_DECL void prometheus_label_value(std::string& out, std::string_view v) {
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
}

S3DB_DECL void prometheus_number(std::string& out, double v) {
    if (std::isnan(v)) out += "NaN";
    else if (std::isinf(v)) out += v > 0 ? "+Inf" : "-Inf";
    else {
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        out.append(buf, r.ptr);
    }
}

S3DB_DECL void prometheus_family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

S3DB_DECL void prometheus_sample(std::string& out, std::string_view name,
                                 std::initializer_list<std::pair<std::string_view, std::string_view>> labels, double v) {
    out.append(name);
    if (labels.size()) {
        out += '{';
        bool first = true;
        for (auto& [k, val] : labels) {
            if (!first) out += ',';
            first = false;
            out.append(k).append("=\"");
            prometheus_label_value(out, val);
            out += '"';
        }
        out += '}';
    }
    out += ' ';
    prometheus_number(out, v);
    out += '\n';
}

}  // namespace s3db::detail
#endif  // S3DB_DEFINE_BODIES
