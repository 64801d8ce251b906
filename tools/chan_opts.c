/* ipckit send/recv: the channel options both subcommands share. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

int ik_cli_chan_opt(int c, const char *arg, struct ik_cli_chan_args *a)
{
    switch (c) {
    case 'l':
        a->listen = 1;
        return 1;
    case 'r':
        a->raw = 1;
        return 1;
    case 't': {
        char *end;
        errno = 0;
        long t = strtol(arg, &end, 10);
        if (end == arg || *end != '\0' || errno != 0 || t < -1 || t > INT_MAX)
            return -1;
        a->timeout = (int)t;
        return 1;
    }
    default:
        return 0;
    }
}
