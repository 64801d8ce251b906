/* Object names: [A-Za-z0-9._-], 1..IK_NAME_MAX characters, no leading '.'. */
#include "internal.h"

int ik_name_check(const char *name)
{
    if (name == NULL || name[0] == '\0' || name[0] == '.')
        return IK_EBADNAME;
    size_t n = 0;
    for (const char *p = name; *p != '\0'; p++, n++) {
        unsigned char c = (unsigned char)*p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok || n >= IK_NAME_MAX)
            return IK_EBADNAME;
    }
    return 0;
}
