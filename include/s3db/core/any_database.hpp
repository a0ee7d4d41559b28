#pragma once
// Database<Plugins...>: a BasicDatabase on the store a connection string picks (Any). A program that
// names its store (BasicDatabase<Memory>, BasicDatabase<S3>) includes core/database.hpp instead and
// compiles none of the other stores.

#include "s3db/core/database.hpp"
#include "s3db/fwd.hpp"
#include "s3db/transport/any.hpp"
