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

/* Hold SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP and SIGPIPE around a gc,
 * which renames objects aside before deciding: a Ctrl-C, Ctrl-Z or a closed
 * pipe takes effect after it put everything back. */
#include <signal.h>
void ik_cli_signals_hold(sigset_t *old);
void ik_cli_signals_release(const sigset_t *old);

int ik_cmd_ls(int argc, char **argv);
int ik_cmd_rm(int argc, char **argv);
int ik_cmd_gc(int argc, char **argv);
int ik_cmd_locks(int argc, char **argv);
int ik_cmd_send(int argc, char **argv);
int ik_cmd_recv(int argc, char **argv);
int ik_cmd_stat(int argc, char **argv);

/* Object formatting shared by ls, stat and gc (tools/cmd_ls.c). */
#include <stdbool.h>
#include <stdio.h>
void ik_cli_owner(char *buf, size_t cap, long uid);
void ik_cli_json_str(FILE *f, const char *s);
void ik_cli_obj_json(FILE *f, const ik_obj_info *o);
void ik_cli_attached(char *buf, size_t cap, const ik_obj_info *o, bool pids);
void ik_cli_status(char *buf, size_t cap, const ik_obj_info *o);

/* Channel options shared by send and recv (tools/chan_opts.c). */
struct ik_cli_chan_args {
    int listen;  /* -l, --listen */
    int raw;     /* -r, --raw */
    int timeout; /* -t, --timeout MS: -1..INT_MAX */
};
/* Apply getopt option c (argument arg) to a if it is -l, -r or -t: 1 when
 * applied, 0 when c is none of them, -1 for a bad --timeout value. */
int ik_cli_chan_opt(int c, const char *arg, struct ik_cli_chan_args *a);

#endif
