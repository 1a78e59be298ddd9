#ifndef BLOBFERRY_CLIBXML2_H
#define BLOBFERRY_CLIBXML2_H
/* libxml2's SAX2 push parser, used directly for List Blobs pages (no DOM, no copies).
 * pkg-config libxml-2.0 supplies -I/usr/include/libxml2. */
#include <libxml/parser.h>
#include <libxml/SAX2.h>
#endif
