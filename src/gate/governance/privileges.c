/* privileges: read/write levels and the SQL privilege sets they stand for. */
#include "gate/governance/privileges.h"

#include "core/str.h"

#include <string.h>

static const char *const names[SG_PRIVS_MAX] = {"SELECT", "INSERT", "UPDATE", "DELETE"};

bool sg_privs_level_known(const char *level)
{
    return level && (strcmp(level, "read") == 0 || strcmp(level, "write") == 0);
}

sg_privs sg_privs_of_level(const char *level)
{
    if (!level)
        return 0;
    if (strcmp(level, "write") == 0)
        return SG_PRIV_SELECT | SG_PRIV_INSERT | SG_PRIV_UPDATE | SG_PRIV_DELETE;
    if (strcmp(level, "read") == 0)
        return SG_PRIV_SELECT;
    return 0;
}

void sg_privs_names(sg_privs set, const char *out[SG_PRIVS_MAX + 1])
{
    size_t n = 0;
    for (size_t i = 0; i < SG_PRIVS_MAX; i++)
        if (set & (1u << i))
            out[n++] = names[i];
    out[n] = NULL;
}

bool sg_privs_parse(const char *const *list, sg_privs *out)
{
    *out = 0;
    for (size_t i = 0; list && list[i]; i++) {
        size_t k = 0;
        while (k < SG_PRIVS_MAX && strcmp(names[k], list[i]) != 0)
            k++;
        if (k == SG_PRIVS_MAX)
            return false;
        *out |= 1u << k;
    }
    return true;
}

sg_json *sg_privs_json(sg_privs set)
{
    const char *list[SG_PRIVS_MAX + 1];
    sg_privs_names(set, list);
    sg_json *a = sg_json_array();
    for (size_t i = 0; list[i]; i++)
        sg_json_append(a, sg_json_string(list[i]));
    return a;
}

void sg_privs_text(sg_privs set, char out[64])
{
    const char *list[SG_PRIVS_MAX + 1];
    sg_privs_names(set, list);
    out[0] = '\0';
    for (size_t i = 0; list[i]; i++) {
        if (i)
            sg_strlcat(out, ", ", 64);
        sg_strlcat(out, list[i], 64);
    }
}
