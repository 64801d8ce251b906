/* ipckit command-line tool: subcommand dispatch. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct ik_cli_cmd commands[] = {
    {"ls", "list ipckit objects (segments, locks, FIFOs, sockets)", ik_cmd_ls},
    {"rm", "remove named objects", ik_cmd_rm},
    {"gc", "remove objects orphaned by dead processes", ik_cmd_gc},
    {"stat", "show every detail of named objects", ik_cmd_stat},
    {"locks", "show holders and waiters of named locks, and deadlocks", ik_cmd_locks},
    {"send", "send messages to a channel URL (unix, tcp, tls, fifo, ...)", ik_cmd_send},
    {"recv", "receive messages from a channel URL to stdout", ik_cmd_recv},
};

void ik_cli_error(const char *what, int err)
{
    fprintf(stderr, "ipckit: %s: %s\n", what, ik_strerror(err));
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ipckit <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'ipckit <command> --help' describes each command.\n"
               "\nexit status: 0 success, 1 failure, 2 usage error, 3 partial failure\n");
}

void ik_cli_signals_hold(sigset_t *old)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    sigaddset(&s, SIGHUP);
    sigaddset(&s, SIGQUIT);
    sigaddset(&s, SIGTSTP);
    sigaddset(&s, SIGPIPE);
    sigprocmask(SIG_BLOCK, &s, old);
}

void ik_cli_signals_release(const sigset_t *old)
{
    sigprocmask(SIG_SETMASK, old, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return IK_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return IK_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("ipckit %s\n", ik_version());
        return IK_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "ipckit: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return IK_EXIT_USAGE;
}
