/* ipckit CLI: one file per subcommand, dispatched from ipckit.c. */
#ifndef IK_CLI_H
#define IK_CLI_H

#include <ipckit.h>

/* Exit codes (documented in `ipckit --help` and docs/cli.md). */
enum {
    IK_EXIT_OK = 0,      /* success */
    IK_EXIT_FAIL = 1,    /* the operation failed (message on stderr) */
    IK_EXIT_USAGE = 2,   /* bad command line */
    IK_EXIT_PARTIAL = 3, /* some of several objects failed */
};

struct ik_cli_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
};

/* Print "ipckit: <what>: <ik_strerror(err)>" to stderr. */
void ik_cli_error(const char *what, int err);

int ik_cmd_ls(int argc, char **argv);
int ik_cmd_rm(int argc, char **argv);
int ik_cmd_gc(int argc, char **argv);
int ik_cmd_locks(int argc, char **argv);

#endif
