#pragma once
// The aggregator shard's shared-memory state layout lives in common/ipc: the
// supervisor creates the segment and must not link this stage to know it.
#include "common/ipc/aggregator_state.h"
