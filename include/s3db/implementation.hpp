#pragma once
// The one translation unit that compiles s3db's non-template code when the program is built with
// S3DB_SEPARATE_COMPILATION (see detail/config.hpp). Include it first, in one source file:
//
//     // s3db.cpp
//     #include <s3db/implementation.hpp>

#if !defined(S3DB_SEPARATE_COMPILATION)
#error "define S3DB_SEPARATE_COMPILATION for the whole program to compile s3db once (see s3db/detail/config.hpp)"
#endif
#if defined(S3DB_DEFINE_BODIES)
#error "s3db/implementation.hpp must be the first include of its source file"
#endif
#define S3DB_IMPLEMENTATION

#include "s3db/s3db.hpp"
// Headers the umbrella leaves out (they cost every user of it to parse) whose bodies are compiled once too.
#include "s3db/core/lease.hpp"
