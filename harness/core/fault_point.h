// Named points where a test may have the process killed: with KVB_FAULT_POINT=NAME in the environment,
// fault_point("NAME") sends SIGKILL to the process itself (a real, uncatchable kill; only its moment is
// chosen). Unset, each call is one comparison. Used by tests/test_storage_faults.cpp to kill `kvbench
// merge` inside its transaction and `kvbench report` halfway through writing (docs/reliability.md).
#pragma once

namespace kvb {

void fault_point(const char* name);

}  // namespace kvb
