/* xml: the libxml2 wrapper. A safe reader (no DTD, no entities, no network, capped size)
 * and a writer that handles CDATA correctly. */
#ifndef SG_XML_H
#define SG_XML_H

#include <stddef.h>

typedef struct _xmlDoc sg_xml_doc;
typedef struct _xmlNode sg_xml_node;
typedef struct sg_xml_writer sg_xml_writer;

#define SG_XML_MAX_SIZE ((size_t)16 * 1024 * 1024)

/* Parses a document. Any DOCTYPE (and so any entity declaration) is refused, as is anything
 * over max_size bytes (0: SG_XML_MAX_SIZE) or not well-formed; the message says what and where.
 * *out is the caller's, freed with sg_xml_free(). Thread-safe. */
int sg_xml_parse(const char *buf, size_t len, size_t max_size, sg_xml_doc **out);
void sg_xml_free(sg_xml_doc *doc);

/* Navigation over elements only (text, comments and CDATA nodes are skipped). Borrowed. */
sg_xml_node *sg_xml_root(sg_xml_doc *doc);
sg_xml_node *sg_xml_first(sg_xml_node *node);
sg_xml_node *sg_xml_next(sg_xml_node *node);
/* The first child element named `name`, or NULL. */
sg_xml_node *sg_xml_child(sg_xml_node *node, const char *name);
const char *sg_xml_name(const sg_xml_node *node);
/* The concatenated text and CDATA content. The caller frees it with free(); never NULL. */
char *sg_xml_text(const sg_xml_node *node);
/* An attribute's value (caller frees with free()), or NULL when absent. */
char *sg_xml_attr(const sg_xml_node *node, const char *name);

/* The writer builds a UTF-8 document in memory. Every call after a failure is a no-op
 * returning the first error, so callers may check only sg_xml_writer_finish(). */
sg_xml_writer *sg_xml_writer_new(void);
/* Puts each element on its own line, unindented, as ServiceNow's exports do. */
int sg_xml_writer_newlines(sg_xml_writer *w);
int sg_xml_start(sg_xml_writer *w, const char *name);
int sg_xml_attribute(sg_xml_writer *w, const char *name, const char *value);
int sg_xml_write_text(sg_xml_writer *w, const char *text);
/* Writes text as CDATA, splitting any "]]>" across two sections so it survives intact. */
int sg_xml_write_cdata(sg_xml_writer *w, const char *text);
int sg_xml_end(sg_xml_writer *w);
/* <name>text</name>; a NULL text writes an empty element <name/>. */
int sg_xml_element(sg_xml_writer *w, const char *name, const char *text);
/* Ends the document and hands it to the caller (free() it). Frees the writer in all cases. */
int sg_xml_writer_finish(sg_xml_writer *w, char **out, size_t *len);
void sg_xml_writer_free(sg_xml_writer *w);

#endif
