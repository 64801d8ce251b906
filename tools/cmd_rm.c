/* ipckit rm: remove named objects. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>

static void rm_usage(FILE *f)
{
    fprintf(f, "usage: ipckit rm [--kind KIND] [--all] NAME...\n"
               "\n"
               "Remove the named objects (every kind with that name, unless --kind), whether\n"
               "or not they are in use: processes that have them mapped or open keep them,\n"
               "new opens fail. Only your own objects; root may remove others' with --all.\n"
               "\n"
               "  -k, --kind KIND  only objects of this kind (shm, mutex, sem, fifo, socket, "
               "fifo-lock, ...)\n"
               "  -a, --all        root: also remove other users' objects\n"
               "  -h, --help       show this help\n"
               "\n"
               "exit status: 0 all removed, 1 failure (every name failed), 2 usage error,\n"
               "3 some names failed\n");
}

int ik_cmd_rm(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"kind", required_argument, NULL, 'k'},
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *kind = NULL;
    unsigned flags = 0;
    int c;
    while ((c = getopt_long(argc, argv, "k:ah", longopts, NULL)) != -1) {
        switch (c) {
        case 'k':
            kind = optarg;
            break;
        case 'a':
            flags |= IK_OBJ_ALL_USERS;
            break;
        case 'h':
            rm_usage(stdout);
            return IK_EXIT_OK;
        default:
            rm_usage(stderr);
            return IK_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        rm_usage(stderr);
        return IK_EXIT_USAGE;
    }
    int failed = 0, total = argc - optind;
    for (int i = optind; i < argc; i++) {
        int rc = ik_obj_remove(argv[i], kind, flags);
        if (rc < 0) {
            char what[128];
            snprintf(what, sizeof(what), "rm %s", argv[i]);
            ik_cli_error(what, rc);
            failed++;
        }
    }
    if (failed == 0)
        return IK_EXIT_OK;
    return failed == total ? IK_EXIT_FAIL : IK_EXIT_PARTIAL;
}
