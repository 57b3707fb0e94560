// The build facts test_util.h declares: the only test object compiled with the checkout's paths.
#include "test_util.h"

namespace kvb::test {

const char* tests_dir_path() { return KVB_TESTS_DIR; }
const char* kvbench_binary() { return KVB_BINARY; }
const char* test_tmp_path() { return KVB_TEST_TMP; }
const char* cuda_setting() { return KVB_CUDA_SETTING; }
const char* fuzz_seeds_path() { return KVB_FUZZ_SEEDS; }

}  // namespace kvb::test
