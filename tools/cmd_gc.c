/* ipckit gc (not implemented yet). */
#include "cli.h"

int ik_cmd_gc(int argc, char **argv)
{
    ik_cli_error("gc", IK_ENOSYS);
    return IK_EXIT_FAIL;
}
