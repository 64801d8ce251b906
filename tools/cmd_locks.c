/* ipckit locks (not implemented yet). */
#include "cli.h"

int ik_cmd_locks(int argc, char **argv)
{
    ik_cli_error("locks", IK_ENOSYS);
    return IK_EXIT_FAIL;
}
