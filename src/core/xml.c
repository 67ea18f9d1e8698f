/* xml: libxml2 behind a safe reader and a small writer. */
#include "core/xml.h"

#include "core/err.h"
#include "core/mem.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlwriter.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

static void silent_error(void *ctx, const xmlError *err)
{
    (void)ctx;
    (void)err;
}

typedef struct parse_state {
    bool saw_dtd;
} parse_state;

static void deny_subset(void *ctx, const xmlChar *name, const xmlChar *ext_id,
                        const xmlChar *sys_id)
{
    (void)name;
    (void)ext_id;
    (void)sys_id;
    xmlParserCtxtPtr ctxt = ctx;
    ((parse_state *)ctxt->_private)->saw_dtd = true;
    xmlStopParser(ctxt);
}

static void deny_entity(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                        const xmlChar *system_id, xmlChar *content)
{
    (void)name;
    (void)type;
    (void)public_id;
    (void)system_id;
    (void)content;
    xmlParserCtxtPtr ctxt = ctx;
    ((parse_state *)ctxt->_private)->saw_dtd = true;
    xmlStopParser(ctxt);
}

int sg_xml_parse(const char *buf, size_t len, size_t max_size, sg_xml_doc **out)
{
    int rc = SG_OK;
    xmlParserCtxtPtr ctxt = NULL;
    parse_state st = {false};
    *out = NULL;
    if (!max_size)
        max_size = SG_XML_MAX_SIZE;
    if (len > max_size)
        return sg_err_set(SG_ETOOBIG, "XML document is %zu bytes; the limit is %zu", len, max_size);
    if (len == 0)
        return sg_err_set(SG_EINVAL, "XML document is empty");
    pthread_once(&xml_once, xml_init);
    xmlSetStructuredErrorFunc(NULL, (xmlStructuredErrorFunc)silent_error);

    ctxt = xmlCreateMemoryParserCtxt(buf, (int)len);
    if (!ctxt)
        return sg_err_set(SG_EINTERNAL, "XML parser could not start");
    ctxt->_private = &st;
    ctxt->sax->internalSubset = deny_subset;
    ctxt->sax->externalSubset = deny_subset;
    ctxt->sax->entityDecl = deny_entity;
    ctxt->sax->resolveEntity = NULL;
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);

    xmlParseDocument(ctxt);
    if (st.saw_dtd) {
        rc = sg_err_set(SG_EINVAL, "XML with a DOCTYPE or entity declarations is not accepted");
        goto cleanup;
    }
    if (!ctxt->wellFormed || !ctxt->myDoc) {
        const xmlError *e = &ctxt->lastError;
        char msg[256] = "not well-formed";
        if (e->message) {
            size_t n = strlen(e->message);
            while (n && (e->message[n - 1] == '\n'))
                n--;
            snprintf(msg, sizeof(msg), "%.*s", (int)n, e->message);
        }
        rc = sg_err_set(SG_EINVAL, "invalid XML at line %d: %s", e->line, msg);
        goto cleanup;
    }
    *out = ctxt->myDoc;
    ctxt->myDoc = NULL;
cleanup:
    if (ctxt->myDoc)
        xmlFreeDoc(ctxt->myDoc);
    xmlFreeParserCtxt(ctxt);
    return rc;
}

void sg_xml_free(sg_xml_doc *doc)
{
    if (doc)
        xmlFreeDoc(doc);
}

static sg_xml_node *skip_to_element(xmlNodePtr n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

sg_xml_node *sg_xml_root(sg_xml_doc *doc)
{
    return doc ? xmlDocGetRootElement(doc) : NULL;
}

sg_xml_node *sg_xml_first(sg_xml_node *node)
{
    return node ? skip_to_element(node->children) : NULL;
}

sg_xml_node *sg_xml_next(sg_xml_node *node)
{
    return node ? skip_to_element(node->next) : NULL;
}

sg_xml_node *sg_xml_child(sg_xml_node *node, const char *name)
{
    for (sg_xml_node *c = sg_xml_first(node); c; c = sg_xml_next(c))
        if (strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

const char *sg_xml_name(const sg_xml_node *node)
{
    return (const char *)node->name;
}

char *sg_xml_text(const sg_xml_node *node)
{
    xmlChar *s = xmlNodeGetContent(node);
    char *copy = sg_xstrdup(s ? (const char *)s : "");
    xmlFree(s);
    return copy;
}

char *sg_xml_attr(const sg_xml_node *node, const char *name)
{
    xmlChar *s = xmlGetProp(node, (const xmlChar *)name);
    if (!s)
        return NULL;
    char *copy = sg_xstrdup((const char *)s);
    xmlFree(s);
    return copy;
}

struct sg_xml_writer {
    xmlBufferPtr buf;
    xmlTextWriterPtr w;
    int err;
};

sg_xml_writer *sg_xml_writer_new(void)
{
    pthread_once(&xml_once, xml_init);
    sg_xml_writer *w = sg_xcalloc(1, sizeof(*w));
    w->buf = xmlBufferCreate();
    w->w = w->buf ? xmlNewTextWriterMemory(w->buf, 0) : NULL;
    if (!w->w || xmlTextWriterStartDocument(w->w, "1.0", "UTF-8", NULL) < 0)
        w->err = sg_err_set(SG_EINTERNAL, "XML writer could not start");
    return w;
}

static int wcheck(sg_xml_writer *w, int r, const char *what);

int sg_xml_writer_newlines(sg_xml_writer *w)
{
    if (w->err)
        return w->err;
    if (xmlTextWriterSetIndent(w->w, 1) < 0 ||
        xmlTextWriterSetIndentString(w->w, (const xmlChar *)"") < 0)
        return wcheck(w, -1, "indent");
    return SG_OK;
}

static int wcheck(sg_xml_writer *w, int r, const char *what)
{
    if (r < 0 && !w->err)
        w->err = sg_err_set(SG_EINTERNAL, "XML writer failed at %s", what);
    return w->err;
}

int sg_xml_start(sg_xml_writer *w, const char *name)
{
    if (w->err)
        return w->err;
    return wcheck(w, xmlTextWriterStartElement(w->w, (const xmlChar *)name), name);
}

int sg_xml_attribute(sg_xml_writer *w, const char *name, const char *value)
{
    if (w->err)
        return w->err;
    return wcheck(w,
                  xmlTextWriterWriteAttribute(w->w, (const xmlChar *)name,
                                              (const xmlChar *)(value ? value : "")),
                  name);
}

int sg_xml_write_text(sg_xml_writer *w, const char *text)
{
    if (w->err)
        return w->err;
    return wcheck(w, xmlTextWriterWriteString(w->w, (const xmlChar *)(text ? text : "")), "text");
}

int sg_xml_write_cdata(sg_xml_writer *w, const char *text)
{
    if (w->err)
        return w->err;
    const char *p = text ? text : "";
    /* "]]>" cannot appear inside CDATA: end the section after "]]" and start a new one at ">". */
    for (;;) {
        const char *hit = strstr(p, "]]>");
        size_t n = hit ? (size_t)(hit - p) + 2 : strlen(p);
        char *part = sg_xstrndup(p, n);
        int r = xmlTextWriterWriteCDATA(w->w, (const xmlChar *)part);
        free(part);
        if (wcheck(w, r, "CDATA"))
            return w->err;
        if (!hit)
            break;
        p = hit + 2;
    }
    return SG_OK;
}

int sg_xml_end(sg_xml_writer *w)
{
    if (w->err)
        return w->err;
    return wcheck(w, xmlTextWriterEndElement(w->w), "end");
}

int sg_xml_element(sg_xml_writer *w, const char *name, const char *text)
{
    if (w->err)
        return w->err;
    if (!text) {
        sg_xml_start(w, name);
        return sg_xml_end(w);
    }
    return wcheck(w, xmlTextWriterWriteElement(w->w, (const xmlChar *)name, (const xmlChar *)text),
                  name);
}

int sg_xml_writer_finish(sg_xml_writer *w, char **out, size_t *len)
{
    int rc = w->err;
    *out = NULL;
    if (!rc)
        rc = wcheck(w, xmlTextWriterEndDocument(w->w), "document end");
    if (!rc) {
        xmlFreeTextWriter(w->w); /* flushes into the buffer */
        w->w = NULL;
        size_t n = (size_t)xmlBufferLength(w->buf);
        *out = sg_xstrndup((const char *)xmlBufferContent(w->buf), n);
        if (len)
            *len = n;
    }
    sg_xml_writer_free(w);
    return rc;
}

void sg_xml_writer_free(sg_xml_writer *w)
{
    if (!w)
        return;
    if (w->w)
        xmlFreeTextWriter(w->w);
    if (w->buf)
        xmlBufferFree(w->buf);
    free(w);
}
