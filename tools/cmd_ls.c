/* ipckit ls (not implemented yet). */
#include "cli.h"

int ik_cmd_ls(int argc, char **argv)
{
    ik_cli_error("ls", IK_ENOSYS);
    return IK_EXIT_FAIL;
}
