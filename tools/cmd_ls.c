/* ipckit ls: list ipckit objects. Also the object formatting shared by
 * ls, stat and gc (declared in cli.h). */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void ik_cli_owner(char *buf, size_t cap, long uid)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r((uid_t)uid, &pw, tmp, sizeof(tmp), &res) == 0 && res != NULL)
        snprintf(buf, cap, "%s", res->pw_name);
    else
        snprintf(buf, cap, "%ld", uid);
}

void ik_cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20 || *p >= 0x7f)
                fprintf(f, "\\u%04x", *p); /* bytes, not UTF-8: keep it ASCII */
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static const char *tri(int v)
{
    return v > 0 ? "true" : v == 0 ? "false" : "null";
}

void ik_cli_obj_json(FILE *f, const ik_obj_info *o)
{
    char owner[64];
    ik_cli_owner(owner, sizeof(owner), o->uid);
    fputs("{\"kind\": ", f);
    ik_cli_json_str(f, o->kind);
    fputs(", \"name\": ", f);
    ik_cli_json_str(f, o->name);
    fputs(", \"path\": ", f);
    ik_cli_json_str(f, o->path);
    fprintf(f, ", \"size\": %" PRIu64 ", \"uid\": %ld, \"gid\": %ld, \"owner\": ", o->size, o->uid,
            o->gid);
    ik_cli_json_str(f, owner);
    fprintf(f, ", \"mode\": \"%04o\", \"creator_pid\": ", o->mode);
    if (o->creator_pid > 0)
        fprintf(f, "%d", o->creator_pid);
    else
        fputs("null", f);
    fprintf(f, ", \"creator_alive\": %s, \"attached\": ", tri(o->creator_alive));
    if (o->attached >= 0)
        fprintf(f, "%d", o->attached);
    else
        fputs("null", f);
    fprintf(f, ", \"attached_unknown\": %s, \"pids\": [", tri(o->attached_unknown));
    for (int i = 0; i < o->npids; i++)
        fprintf(f, "%s%d", i ? ", " : "", o->pids[i]);
    fprintf(f, "], \"listening\": %s, \"status\": ", tri(o->listening));
    ik_cli_json_str(f, o->status);
    fprintf(f, ", \"created_ns\": %" PRId64 "}", o->created_ns);
}

/* "3", "3+?" (some processes not inspectable), "-" (not scanned), or pids. */
void ik_cli_attached(char *buf, size_t cap, const ik_obj_info *o, bool pids)
{
    if (o->attached < 0) {
        snprintf(buf, cap, "-");
        return;
    }
    if (pids && o->npids > 0) {
        size_t len = 0;
        buf[0] = '\0';
        for (int i = 0; i < o->npids && len < cap; i++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? "," : "", o->pids[i]);
        if (o->attached > o->npids && len < cap)
            snprintf(buf + len, cap - len, ",...");
        return;
    }
    snprintf(buf, cap, "%d%s", o->attached, o->attached_unknown ? "+?" : "");
}

void ik_cli_status(char *buf, size_t cap, const ik_obj_info *o)
{
    if (o->listening == 1)
        snprintf(buf, cap, "%s,listening", o->status);
    else if (o->listening == 0)
        snprintf(buf, cap, "%s,stale", o->status);
    else
        snprintf(buf, cap, "%s", o->status);
}

struct ls_opts {
    bool json;
    bool pids;
    int count;
};

static int ls_row(const ik_obj_info *o, void *arg)
{
    struct ls_opts *opt = arg;
    if (opt->json) {
        fputs(opt->count == 0 ? "[\n  " : ",\n  ", stdout);
        ik_cli_obj_json(stdout, o);
    } else {
        char owner[64], creator[16], att[128], status[32];
        ik_cli_owner(owner, sizeof(owner), o->uid);
        if (o->creator_pid > 0)
            snprintf(creator, sizeof(creator), "%d", o->creator_pid);
        else
            snprintf(creator, sizeof(creator), "-");
        ik_cli_attached(att, sizeof(att), o, opt->pids);
        ik_cli_status(status, sizeof(status), o);
        printf("%-9s %-24s %12" PRIu64 " %-10s %04o %8s %-5s %-8s %s\n", o->kind, o->name, o->size,
               owner, o->mode, creator,
               o->creator_alive > 0    ? "yes"
               : o->creator_alive == 0 ? "no"
                                       : "-",
               att, status);
    }
    opt->count++;
    return 0;
}

static void ls_usage(FILE *f)
{
    fprintf(f, "usage: ipckit ls [--json] [--all] [--pids] [--no-attach] [PREFIX]\n"
               "\n"
               "List ipckit objects: segments (/dev/shm/ik.*: shm, mutex, sem, ...) and the\n"
               "FIFOs and sockets of the runtime directory. Only your own objects, unless\n"
               "--all; root always lists every user's objects.\n"
               "\n"
               "  -j, --json       print a JSON array instead of a table\n"
               "  -a, --all        include other users' objects\n"
               "  -p, --pids       show attached pids instead of a count\n"
               "  -n, --no-attach  skip the /proc attachment scan (faster)\n"
               "  -h, --help       show this help\n"
               "\n"
               "Columns: KIND NAME SIZE OWNER MODE CREATOR (pid) ALIVE (creator alive)\n"
               "ATTACHED (live processes mapping or holding it; +? = some could not be\n"
               "inspected) STATUS (ok, corrupt, creating, noaccess; sockets, fifo:// FIFOs and\n"
               "lock files: listening/stale).\n"
               "\n"
               "exit status: 0 success, 1 failure, 2 usage error\n");
}

int ik_cmd_ls(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, {"all", no_argument, NULL, 'a'},
        {"pids", no_argument, NULL, 'p'}, {"no-attach", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    struct ls_opts opt = {0};
    unsigned flags = geteuid() == 0 ? IK_OBJ_ALL_USERS : 0; /* root lists everyone's */
    int c;
    while ((c = getopt_long(argc, argv, "japnh", longopts, NULL)) != -1) {
        switch (c) {
        case 'j':
            opt.json = true;
            break;
        case 'a':
            flags |= IK_OBJ_ALL_USERS;
            break;
        case 'p':
            opt.pids = true;
            break;
        case 'n':
            flags |= IK_OBJ_NO_ATTACH;
            break;
        case 'h':
            ls_usage(stdout);
            return IK_EXIT_OK;
        default:
            ls_usage(stderr);
            return IK_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        ls_usage(stderr);
        return IK_EXIT_USAGE;
    }
    const char *prefix = optind < argc ? argv[optind] : NULL;
    if (!opt.json)
        printf("%-9s %-24s %12s %-10s %-4s %8s %-5s %-8s %s\n", "KIND", "NAME", "SIZE", "OWNER",
               "MODE", "CREATOR", "ALIVE", "ATTACHED", "STATUS");
    int rc = ik_obj_list(prefix, flags, ls_row, &opt);
    if (opt.json)
        fputs(opt.count == 0 ? "[]\n" : "\n]\n", stdout);
    if (rc < 0) {
        ik_cli_error("ls", rc);
        return IK_EXIT_FAIL;
    }
    return fflush(stdout) == 0 ? IK_EXIT_OK : IK_EXIT_FAIL;
}
