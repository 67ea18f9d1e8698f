/* config: typed settings from defaults, an INI file, environment variables and flags, in that
 * order of precedence (later wins). Each program declares its keys in a table; every value is
 * validated when set, and a bad one is reported with where it came from. */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef enum sg_cfg_type {
    SG_CFG_STR,    /* char * (malloc'd) */
    SG_CFG_INT,    /* int64_t within [min, max] */
    SG_CFG_BOOL,   /* bool */
    SG_CFG_SIZE,   /* size_t bytes within [min, max]; accepts 64k, 1M, 1G */
    SG_CFG_ENUM,   /* char * (malloc'd), one of `choices` */
    SG_CFG_LISTEN, /* char * (malloc'd) "HOST:PORT", checked */
    SG_CFG_URL,    /* char * (malloc'd) absolute http(s) URL without credentials */
} sg_cfg_type;

typedef struct sg_cfg_key {
    const char *name; /* "section.key" or "key"; env var is PREFIX + upper(name with . -> _) */
    sg_cfg_type type;
    size_t offset;              /* offsetof the field in the program's config struct */
    const char *def;            /* default as text; NULL leaves the field zero/NULL */
    int64_t min, max;           /* for INT and SIZE */
    const char *const *choices; /* for ENUM, NULL-terminated */
    const char *help;
} sg_cfg_key;

/* Sets every key to its default. */
int sg_cfg_defaults(const sg_cfg_key *keys, void *cfg);
/* Sets one key from text. `origin` names where the value came from, for the error message
 * ("config file x.ini line 3", "SNOWGATE_LISTEN", "--listen"). Unknown keys are SG_EINVAL. */
int sg_cfg_set(const sg_cfg_key *keys, void *cfg, const char *name, const char *value,
               const char *origin);
/* Loads an INI file: "[section]" headers, "key = value" lines, '#' or ';' comments. */
int sg_cfg_load_ini(const sg_cfg_key *keys, void *cfg, const char *path);
/* Applies PREFIX_* variables from envp for known keys. Unknown PREFIX_* variables are errors,
 * so that a typo never goes unnoticed. */
int sg_cfg_load_env(const sg_cfg_key *keys, void *cfg, const char *prefix, char **envp);
/* Frees the strings the table's keys own. */
void sg_cfg_free(const sg_cfg_key *keys, void *cfg);

/* Writes an example INI file with every key once: its help, its environment variable, its
 * range or choices, and its default, commented out as ";key = default" (so the file changes
 * nothing until edited; uncommenting a line sets the default). Top-level keys come first, then
 * each [section] once, where its first key is in the table, with all its keys in table order. */
void sg_cfg_example(const sg_cfg_key *keys, const char *env_prefix, FILE *out);

#endif
