/* jflat.h - a fast path for the common JSON payload: one flat object.
 *
 * Most events are objects of plain strings, numbers, bools and nulls. jflat
 * reads those without allocating (strings are not copied: the record points
 * into the text) and hands everything else to jansson through
 * rec_from_json(), which stays the parser of record: what jflat accepts,
 * rec_from_json() accepts with the same fields, types and values; what it
 * declines (escapes, nesting, invalid JSON, duplicate keys, numbers it cannot
 * convert exactly, limits) is left to rec_from_json(), for its result or its
 * error message.
 */
#ifndef RTAI_JFLAT_H
#define RTAI_JFLAT_H

#include <stddef.h>

#include "rec.h"

/* Parses text as a flat JSON object into r, replacing its fields. Returns 0,
 * with field names and string values pointing into text (which must outlive
 * the record's use), or -1 when the text is not a simple case, with r
 * emptied: call rec_from_json() then. */
int jflat_parse(struct rec *r, const char *text, size_t n);

/* jflat_parse(), then rec_from_json() when it declines: rec_from_json()'s
 * contract, faster. */
int jflat_rec_from_json(struct rec *r, const char *text, size_t n);

#endif
