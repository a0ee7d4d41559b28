// The compiled-once mode's one implementation file, as a program would have it (see run.sh).
#include "s3db/implementation.hpp"
