#pragma once
// Shared by the examples: each one states what it shows with check(), and stops with exit status 1
// when a claim does not hold, so the examples run as tests too.

#include <cstdlib>
#include <iostream>
#include <string>

inline void check(bool ok, const std::string& claim) {
    if (ok) return;
    std::cerr << "FAILED: " << claim << "\n";
    std::exit(1);
}
