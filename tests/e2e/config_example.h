/* config_example: checks an example INI file (`snowgate config example`, sg_cfg_example) against
 * the settings table it was made from. */
#ifndef SG_TEST_CONFIG_EXAMPLE_H
#define SG_TEST_CONFIG_EXAMPLE_H

#include "core/buf.h"
#include "core/config.h"

#include <stddef.h>

/* Fails the test unless `text` has each [section] once, each key of `keys` exactly once under
 * its own section (top-level keys before any section), nothing that is not in the table, and
 * above each key the environment variable sg_cfg_load_env reads for it. Then loads the text
 * with every key uncommented into a zeroed config of cfg_size bytes and fails unless each
 * value equals the key's default (an empty string stands for an unset one, as everywhere the
 * settings are read). */
void h_cfg_example_check(const char *text, const sg_cfg_key *keys, size_t cfg_size,
                         const char *env_prefix);

/* Appends `text` to out with every ";key = value" line uncommented. */
void h_cfg_example_uncomment(const char *text, sg_buf *out);

#endif
