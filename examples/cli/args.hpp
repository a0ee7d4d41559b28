#pragma once
// Command-line parsing for the s3db CLI: global options anywhere on the line, a command, its
// options (`--name value`, `--name=value`, repeatable) and positional arguments. A command's spec
// says which options take a value and which are flags, so `--limit 5` and `--json` parse without
// guessing. Nothing here touches the store.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace s3db::cli {

/// Bad command line: exit code 1, with the command's usage line after the message.
class UsageError : public std::runtime_error {
public:
    explicit UsageError(const std::string& what, std::string command = {})
        : std::runtime_error(what), command_(std::move(command)) {}
    const std::string& command() const noexcept { return command_; }

private:
    std::string command_;
};

/// Options every command accepts.
inline const std::set<std::string, std::less<>> global_value_options = {"connection", "parallelism", "passphrase"};
inline const std::set<std::string, std::less<>> global_flags = {"json", "table", "costs", "no-progress", "help", "version"};

struct Args {
    std::vector<std::string> words;  // the command and its positional arguments
    std::map<std::string, std::vector<std::string>, std::less<>> values;
    std::set<std::string, std::less<>> flags;

    bool flag(std::string_view name) const { return flags.count(name) > 0; }
    std::optional<std::string> value(std::string_view name) const {
        auto it = values.find(name);
        if (it == values.end() || it->second.empty()) return std::nullopt;
        return it->second.back();
    }
    std::vector<std::string> all(std::string_view name) const {
        auto it = values.find(name);
        return it == values.end() ? std::vector<std::string>{} : it->second;
    }
};

/// Splits argv into words, options and flags. `value_options` / `flag_options` are the command's own
/// (the union over all commands, since the command is not known before the line is read; each
/// command then refuses the options it does not take, see `check_options`).
inline Args parse_args(const std::vector<std::string>& argv, const std::set<std::string, std::less<>>& value_options,
                       const std::set<std::string, std::less<>>& flag_options) {
    Args a;
    bool options_done = false;
    for (std::size_t i = 0; i < argv.size(); ++i) {
        const std::string& w = argv[i];
        if (options_done || w == "-" || w.size() < 2 || w[0] != '-') {
            a.words.push_back(w);
            continue;
        }
        if (w == "--") {
            options_done = true;
            continue;
        }
        std::string name, value;
        bool has_value = false;
        if (w == "-h") name = "help";
        else if (w == "-c") name = "connection";
        else if (w == "-o") name = "output";
        else if (w == "-n") name = "limit";
        else if (w.starts_with("--")) {
            name = w.substr(2);
            if (auto eq = name.find('='); eq != std::string::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
                has_value = true;
            }
        } else {
            throw UsageError("unknown option '" + w + "'");
        }
        const bool takes_value = global_value_options.count(name) || value_options.count(name);
        const bool is_flag = global_flags.count(name) || flag_options.count(name);
        if (takes_value) {
            if (!has_value) {
                if (i + 1 >= argv.size()) throw UsageError("option --" + name + " needs a value");
                value = argv[++i];
            }
            a.values[name].push_back(value);
        } else if (is_flag) {
            if (has_value) throw UsageError("option --" + name + " takes no value");
            a.flags.insert(name);
        } else {
            throw UsageError("unknown option '--" + name + "'");
        }
    }
    return a;
}

/// Refuses options the command does not take (global ones are always accepted).
inline void check_options(const Args& a, const std::string& command, const std::set<std::string, std::less<>>& values,
                          const std::set<std::string, std::less<>>& flags) {
    for (auto& [name, _] : a.values)
        if (!global_value_options.count(name) && !values.count(name))
            throw UsageError("'" + command + "' takes no option --" + name, command);
    for (auto& name : a.flags)
        if (!global_flags.count(name) && !flags.count(name))
            throw UsageError("'" + command + "' takes no option --" + name, command);
}

/// A non-negative integer option value.
inline std::size_t parse_count(const std::string& text, const std::string& option, const std::string& command) {
    std::size_t used = 0;
    unsigned long long v = 0;
    try {
        if (text.empty() || text[0] == '-') throw std::invalid_argument(text);
        v = std::stoull(text, &used);
    } catch (const std::exception&) {
        throw UsageError("--" + option + " must be a non-negative integer, not '" + text + "'", command);
    }
    if (used != text.size()) throw UsageError("--" + option + " must be a non-negative integer, not '" + text + "'", command);
    return static_cast<std::size_t>(v);
}

/// `k=v` pairs (each option value may hold several, comma-separated) into a JSON object. A value is
/// taken as JSON when it parses as a number, true, false, null or a quoted string, else as text:
/// `age=30` is the number 30, `age='"30"'` the string "30", `plan=pro` the string "pro".
inline nlohmann::json parse_pairs(const std::vector<std::string>& items, const std::string& option,
                                  const std::string& command) {
    nlohmann::json out = nlohmann::json::object();
    for (auto& item : items) {
        std::size_t start = 0;
        while (start <= item.size()) {
            auto comma = item.find(',', start);
            std::string pair = item.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
            start = comma == std::string::npos ? item.size() + 1 : comma + 1;
            if (pair.empty()) continue;
            auto eq = pair.find('=');
            if (eq == std::string::npos || eq == 0)
                throw UsageError("--" + option + " takes field=value, not '" + pair + "'", command);
            std::string key = pair.substr(0, eq), text = pair.substr(eq + 1);
            auto parsed = nlohmann::json::parse(text, nullptr, false);
            if (parsed.is_discarded() || parsed.is_object() || parsed.is_array()) out[key] = text;
            else out[key] = std::move(parsed);
        }
    }
    return out;
}

}  // namespace s3db::cli
