#pragma once
// Everything s3db offers, in one include.

#include "s3db/fwd.hpp"

#include "s3db/core/errors.hpp"
#include "s3db/transport/memory.hpp"
#include "s3db/transport/transport.hpp"
