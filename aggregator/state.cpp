// The state layout, layout() and attach() are header-only in
// common/ipc/aggregator_state.h (the supervisor uses them without linking the
// aggregator). This file keeps the aggregator_core library's source list stable.
#include "aggregator/state.h"
