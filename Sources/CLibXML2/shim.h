#ifndef BLOBFERRY_CLIBXML2_H
#define BLOBFERRY_CLIBXML2_H
/* libxml2's SAX2 push parser, used directly for List Blobs pages (no DOM, no copies).
 * pkg-config libxml-2.0 supplies -I/usr/include/libxml2.
 *
 * Debian builds libxml2 with ICU, and <libxml/encoding.h> then includes ICU's headers,
 * which clash with the toolchain's own copy inside Foundation (_FoundationICU): a clean
 * build fails with "UErrorCode has different definitions". blobferry never touches the
 * ICU members of libxml2's encoding handler (it only holds pointers to libxml2 structs),
 * so the ICU part of the headers is switched off here. */
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/SAX2.h>
#endif
