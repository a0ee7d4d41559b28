#pragma once
// Everything s3db offers, in one include.

#include "s3db/fwd.hpp"

#include "s3db/core/behaviors.hpp"
#include "s3db/core/codec.hpp"
#include "s3db/core/database.hpp"
#include "s3db/core/errors.hpp"
#include "s3db/core/ids.hpp"
#include "s3db/core/metadata.hpp"
#include "s3db/core/partitions.hpp"
#include "s3db/core/resource.hpp"
#include "s3db/core/schema.hpp"
#include "s3db/transport/any.hpp"
#include "s3db/transport/connection.hpp"
#include "s3db/transport/counting.hpp"
#include "s3db/transport/credentials.hpp"
#include "s3db/transport/faulty.hpp"
#include "s3db/transport/filesystem.hpp"
#include "s3db/transport/memory.hpp"
#include "s3db/transport/retry.hpp"
#include "s3db/transport/s3.hpp"
#include "s3db/transport/transport.hpp"
