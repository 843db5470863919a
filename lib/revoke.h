/* revoke.h - partitions revoked from a Kafka consumer: the payload of a
 * revoke frame (kind 7), and the source partition of a data frame.
 *
 * When a rebalance of its consumer group takes a partition away,
 * rtai-kafka --replay writes one revoke frame per partition, after the
 * last record it wrote of it (rtai-record(5) "Kinds", rtai(7) "WHEN ONE
 * MACHINE IS NOT ENOUGH"). A stage that keeps keyed state drops the state
 * of the keys whose records came from it, as Kafka Streams closes the
 * tasks of revoked partitions: the partition's new owner reads those
 * records again from the group's committed offset and rebuilds it. The
 * payload is a binary record (encoding 3, rec.h):
 *   topic      string  the topic
 *   partition  int     the partition
 * Other fields are allowed and ignored.
 */
#ifndef RTAI_REVOKE_H
#define RTAI_REVOKE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "frame.h"
#include "rec.h"

/* Appends the payload of a revoke frame for topic (tlen bytes) and
 * partition to out. */
void revoke_encode(const char *topic, size_t tlen, int32_t partition, struct buf *out);

/* Decodes revoke frame f, using scratch (a record the caller owns and
 * frees) for the fields: *topic then borrows from f's payload. Returns 0,
 * or -1 with a reason in err ("revoke frame: field \"partition\": missing
 * or not an int"). */
int revoke_decode(const struct frame *f, struct rec *scratch, const char **topic, size_t *tlen,
		  int32_t *partition, char *err, size_t errlen);

/* Source partitions to small tags (1, 2, ...), in the order first seen:
 * what a stage hands win_set_tag(). Zero-initialised it is empty. */
struct srcparts {
	struct srcpart {
		char *topic;		/* owned */
		size_t tlen;
		int32_t partition;
	} *v;
	uint32_t n, cap;
	struct rec scratch;
	/* The leading bytes of the last metadata decoded, through its topic
	 * and partition: a frame whose metadata starts with the same bytes
	 * comes from the same partition, found by one memcmp. */
	uint8_t pre[128];
	size_t npre;
	uint32_t pre_tag;
};

/* The tag of data frame f's source partition (the topic and partition
 * fields of its metadata, rtai-record(5) "Source metadata"), added when
 * new; 0 when f has no metadata or it holds no topic and partition, or is
 * not a binary record. Allocates only for a new partition. */
uint32_t srcparts_tag(struct srcparts *s, const struct frame *f);

/* The tag of topic (tlen bytes) and partition, or 0 when never seen. */
uint32_t srcparts_find(const struct srcparts *s, const char *topic, size_t tlen,
		       int32_t partition);

/* Frees everything; s is empty after. */
void srcparts_free(struct srcparts *s);

#endif
