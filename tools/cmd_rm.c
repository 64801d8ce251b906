/* ipckit rm (not implemented yet). */
#include "cli.h"

int ik_cmd_rm(int argc, char **argv)
{
    ik_cli_error("rm", IK_ENOSYS);
    return IK_EXIT_FAIL;
}
