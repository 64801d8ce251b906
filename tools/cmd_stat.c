/* ipckit stat: every detail of named objects. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

struct stat_state {
    bool json;
    int count;
};

static int stat_one(const ik_obj_info *o, void *arg)
{
    struct stat_state *st = arg;
    if (st->json) {
        fputs(st->count == 0 ? "[\n  " : ",\n  ", stdout);
        ik_cli_obj_json(stdout, o);
        st->count++;
        return 0;
    }
    char owner[64], att[128], status[32], created[64] = "-";
    ik_cli_owner(owner, sizeof(owner), o->uid);
    ik_cli_attached(att, sizeof(att), o, true);
    ik_cli_status(status, sizeof(status), o);
    if (o->created_ns > 0) {
        time_t t = (time_t)(o->created_ns / 1000000000);
        struct tm tm;
        if (gmtime_r(&t, &tm) != NULL)
            strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    if (st->count > 0)
        putchar('\n');
    printf("name:     %s\nkind:     %s\npath:     %s\nstatus:   %s\nsize:     %" PRIu64 "\n"
           "owner:    %s (uid %ld, gid %ld)\nmode:     %04o\n",
           o->name, o->kind, o->path, status, o->size, owner, o->uid, o->gid, o->mode);
    if (o->creator_pid > 0)
        printf("creator:  %d (%s)\n", o->creator_pid, o->creator_alive > 0 ? "alive" : "dead");
    else
        printf("creator:  unknown\n");
    printf("created:  %s\nattached: %s%s\n", created, o->attached == 0 ? "none" : att,
           o->self_attached ? " (and this process)" : "");
    st->count++;
    return 0;
}

static void stat_usage(FILE *f)
{
    fprintf(f, "usage: ipckit stat [--json] [--all] NAME...\n"
               "\n"
               "Show every detail the registry knows about the named objects (every kind\n"
               "with that name): path, status, size, owner, mode, creator and whether it is\n"
               "alive, creation time, attached pids.\n"
               "\n"
               "  -j, --json  print a JSON array\n"
               "  -a, --all   include other users' objects (always for root)\n"
               "  -h, --help  show this help\n"
               "\n"
               "exit status: 0 success, 1 failure (no such object), 2 usage error,\n"
               "3 some names failed\n");
}

int ik_cmd_stat(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"all", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct stat_state st = {0};
    unsigned flags = IK_OBJ_EXACT | (geteuid() == 0 ? IK_OBJ_ALL_USERS : 0);
    int c;
    while ((c = getopt_long(argc, argv, "jah", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            st.json = true;
            break;
        case 'a':
            flags |= IK_OBJ_ALL_USERS;
            break;
        case 'h':
            stat_usage(stdout);
            return IK_EXIT_OK;
        default:
            stat_usage(stderr);
            return IK_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        stat_usage(stderr);
        return IK_EXIT_USAGE;
    }
    int failed = 0, total = argc - optind;
    for (int i = optind; i < argc; i++) {
        int rc = ik_obj_list(argv[i], flags, stat_one, &st);
        if (rc == 0)
            rc = IK_ENOENT;
        if (rc < 0) {
            char what[128];
            snprintf(what, sizeof(what), "stat %s", argv[i]);
            ik_cli_error(what, rc);
            failed++;
        }
    }
    if (st.json)
        fputs(st.count == 0 ? "[]\n" : "\n]\n", stdout);
    if (failed == 0)
        return IK_EXIT_OK;
    return failed == total ? IK_EXIT_FAIL : IK_EXIT_PARTIAL;
}
