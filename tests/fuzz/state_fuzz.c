/* libFuzzer target: the OCI state JSON the hooks read on stdin, and the
 * NFLOG packet describer the logger runs on kernel data. */
#include "config.h"

#include "hooks/hook.h"
#include "hooks/nflog.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  cleanup_error corral_error_t err = NULL;
  pid_t pid;

  if (hook_state_pid ((const char *) data, size, &pid, &err) == 0 && pid <= 0)
    abort ();
  json_free (nflog_describe_packet ("fuzz", data, size));
  return 0;
}
