/* cli: getopt_long driven by a flag table, then layered config loading. */
#include "core/cli.h"

#include "core/err.h"
#include "core/mem.h"
#include "core/proc.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CLI_MAX_FLAGS 32

void sg_cli_usage(const sg_cli_spec *spec, FILE *out)
{
    fprintf(out, "Usage: %s %s [options]%s%s\n\n%s\n\nOptions:\n", spec->prog, spec->command,
            spec->args ? " " : "", spec->args ? spec->args : "", spec->summary);
    for (const sg_cli_flag *f = spec->flags; f->name; f++) {
        char left[64];
        snprintf(left, sizeof(left), "--%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        const char *def = NULL;
        for (const sg_cfg_key *k = spec->keys; k && f->cfg_key && k->name; k++)
            if (strcmp(k->name, f->cfg_key) == 0)
                def = k->def;
        fprintf(out, "  %-30s %s", left, f->help);
        if (def && f->arg)
            fprintf(out, " (default: %s)", def);
        fputc('\n', out);
    }
    fprintf(out, "  %-30s %s\n", "-h, --help", "show this help and exit");
    if (spec->keys && spec->env_prefix) {
        fprintf(out, "\nSettings (INI key, environment variable), lowest to highest precedence:\n"
                     "defaults, the --config file, the environment, then flags.\n");
        for (const sg_cfg_key *k = spec->keys; k->name; k++) {
            char env[128];
            size_t i = 0;
            for (const char *c = spec->env_prefix; *c && i < sizeof(env) - 1; c++)
                env[i++] = *c;
            for (const char *c = k->name; *c && i < sizeof(env) - 1; c++)
                env[i++] = *c == '.' ? '_' : (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
            env[i] = '\0';
            fprintf(out, "  %-24s %-34s %s\n", k->name, env, k->help);
        }
    }
}

static int usage_error(const sg_cli_spec *spec, const char *msg)
{
    fprintf(stderr, "%s %s: %s\n\n", spec->prog, spec->command, msg);
    sg_cli_usage(spec, stderr);
    return SG_EXIT_USAGE;
}

const char *sg_cli_get(const sg_cli_result *res, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < res->nextra; i++)
        if (strcmp(res->extra_names[i], name) == 0)
            v = res->extra_values[i];
    return v;
}

int sg_cli_parse(const sg_cli_spec *spec, int argc, char **argv, char **envp, void *cfg,
                 sg_cli_result *res)
{
    struct option longopts[CLI_MAX_FLAGS + 2];
    const char *flag_vals[CLI_MAX_FLAGS] = {0};
    int nflags = 0;
    memset(res, 0, sizeof(*res));
    for (const sg_cli_flag *f = spec->flags; f->name && nflags < CLI_MAX_FLAGS; f++, nflags++) {
        longopts[nflags].name = f->name;
        longopts[nflags].has_arg = f->arg ? required_argument : no_argument;
        longopts[nflags].flag = NULL;
        longopts[nflags].val = 1000 + nflags;
    }
    longopts[nflags] = (struct option){"help", no_argument, NULL, 'h'};
    memset(&longopts[nflags + 1], 0, sizeof(longopts[0]));

    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, ":h", longopts, NULL);
        if (c == -1)
            break;
        if (c == 'h') {
            sg_cli_usage(spec, stdout);
            return SG_EXIT_OK;
        }
        if (c == ':') {
            char msg[128];
            snprintf(msg, sizeof(msg), "option '--%s' needs a value",
                     optopt >= 1000 ? spec->flags[optopt - 1000].name : "?");
            return usage_error(spec, msg);
        }
        if (c == '?') {
            char msg[256];
            snprintf(msg, sizeof(msg), "unknown option '%s'", argv[optind - 1]);
            return usage_error(spec, msg);
        }
        flag_vals[c - 1000] = optarg ? optarg : "true";
    }
    res->positional = argv + optind;
    res->npositional = argc - optind;

    if (spec->keys) {
        if (sg_cfg_defaults(spec->keys, cfg) != SG_OK)
            goto config_error;
    }
    for (int i = 0; i < nflags; i++) {
        if (!flag_vals[i] || spec->flags[i].cfg_key)
            continue;
        if (res->nextra < 16) {
            res->extra_names[res->nextra] = spec->flags[i].name;
            res->extra_values[res->nextra++] = flag_vals[i];
        }
    }
    if (spec->keys) {
        const char *config_file = sg_cli_get(res, "config");
        if (config_file && sg_cfg_load_ini(spec->keys, cfg, config_file) != SG_OK)
            goto config_error;
        if (spec->env_prefix && sg_cfg_load_env(spec->keys, cfg, spec->env_prefix, envp) != SG_OK)
            goto config_error;
        for (int i = 0; i < nflags; i++) {
            const sg_cli_flag *f = &spec->flags[i];
            if (!flag_vals[i] || !f->cfg_key)
                continue;
            char origin[64];
            snprintf(origin, sizeof(origin), "--%s", f->name);
            if (sg_cfg_set(spec->keys, cfg, f->cfg_key, flag_vals[i], origin) != SG_OK)
                goto config_error;
        }
    }
    return -1;

config_error:
    fprintf(stderr, "%s %s: %s\n", spec->prog, spec->command, sg_err_msg());
    if (spec->keys)
        sg_cfg_free(spec->keys, cfg);
    return SG_EXIT_USAGE;
}
