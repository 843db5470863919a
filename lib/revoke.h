/* revoke.h - partitions revoked from and assigned to a Kafka consumer: the
 * payloads of revoke (kind 7) and assign (kind 8) frames, and the source
 * partition of a data frame.
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
 * When a partition is assigned from a commit that --replay made, an assign
 * frame, before its first record, carries the same two fields and
 *   horizon    time    the commit's horizon: the windows of the partition
 *                      that start before it closed in its last owner,
 *                      which wrote them whole (win_set_floor)
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

/* Appends the payload of an assign frame: topic (tlen bytes), partition,
 * and the horizon in ns since the epoch (not INT64_MIN, which stands for
 * none). */
void assign_encode(const char *topic, size_t tlen, int32_t partition, int64_t horizon_ns,
		   struct buf *out);

/* Decodes revoke or assign frame f, using scratch (a record the caller
 * owns and frees) for the fields: *topic then borrows from f's payload;
 * *horizon_ns is the horizon, or INT64_MIN when f has none (a revoke
 * frame). Returns 0, or -1 with a reason in err ("revoke frame: field
 * \"partition\": missing or not a partition"; an assign frame needs a
 * horizon of type time). */
int partition_frame_decode(const struct frame *f, struct rec *scratch, const char **topic,
			   size_t *tlen, int32_t *partition, int64_t *horizon_ns, char *err,
			   size_t errlen);

/* Source partitions to small tags (1, 2, ...), in the order first seen:
 * what a stage hands win_set_tag(). Zero-initialised it is empty. */
struct srcparts {
	struct srcpart {
		char *topic;		/* owned */
		size_t tlen;
		int32_t partition;
		int64_t floor;		/* its assign frame's horizon (ns), else INT64_MIN */
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
/* The tag of topic (tlen bytes) and partition, added when new. */
uint32_t srcparts_add(struct srcparts *s, const char *topic, size_t tlen, int32_t partition);
/* The partition of tag (nonzero, from this table). */
static inline struct srcpart *srcparts_get(struct srcparts *s, uint32_t tag)
{
	return &s->v[tag - 1];
}

/* Frees everything; s is empty after. */
void srcparts_free(struct srcparts *s);

#endif
