/* kafka-mock - a Kafka cluster for the tests: librdkafka's mock cluster.
 *
 * Usage: kafka-mock [-n BROKERS] [TOPIC:PARTITIONS]...
 *
 * Starts rd_kafka_mock_cluster_new() with BROKERS brokers (default 3, ids
 * 1..N) listening on loopback ports the kernel chooses (so they are free),
 * creates the topics given, prints the bootstrap servers on one line of
 * standard output and then reads commands, one per line, on standard input,
 * answering each with "ok" or "error: WHY" on standard output:
 *
 *	topic NAME PARTITIONS	create a topic (replication: 3, or BROKERS)
 *	down ID			broker ID stops answering (connections closed)
 *	up ID			broker ID answers again
 *	leader TOPIC P ID	broker ID leads partition P of TOPIC
 *	produce-error CODE	the next Produce request fails with Kafka error CODE
 *	committed GROUP TOPIC PARTITIONS FILE
 *				the offsets GROUP committed for partitions 0 to
 *				PARTITIONS-1 of TOPIC, asked by a consumer of its
 *				own (rd_kafka_committed), written to FILE as lines
 *				"PARTITION OFFSET" ("PARTITION none": none committed),
 *				then the commit's metadata, if any, after a space
 *
 * It runs until standard input ends, a "quit" line, SIGINT or SIGTERM.
 * Measured on librdkafka 2.0.2: consumer groups, committed offsets and the
 * idempotent producer work on it; transactions do not (aborted messages
 * stay visible), so no test relies on them.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int create_topic(rd_kafka_mock_cluster_t *mc, const char *name, long parts, int brokers,
			char *why, size_t whylen)
{
	rd_kafka_resp_err_t err;

	if (parts < 1 || parts > 10000) {
		snprintf(why, whylen, "partitions: expected 1 to 10000, got %ld", parts);
		return -1;
	}
	err = rd_kafka_mock_topic_create(mc, name, (int)parts, brokers < 3 ? brokers : 3);
	if (err) {
		snprintf(why, whylen, "%s", rd_kafka_err2str(err));
		return -1;
	}
	return 0;
}

/* The committed command: a consumer of GROUP asks the coordinator. */
static int committed(rd_kafka_mock_cluster_t *mc, const char *group, const char *topic,
		     long parts, const char *path, char *why, size_t whylen)
{
	char errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *l;
	rd_kafka_resp_err_t err;
	rd_kafka_t *rk;
	FILE *fp;

	if (parts < 1 || parts > 10000) {
		snprintf(why, whylen, "partitions: expected 1 to 10000, got %ld", parts);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	if (rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc),
			      errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		snprintf(why, whylen, "%s", errstr);
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		snprintf(why, whylen, "rd_kafka_new: %s", errstr);
		return -1;
	}
	l = rd_kafka_topic_partition_list_new((int)parts);
	for (long p = 0; p < parts; p++)
		rd_kafka_topic_partition_list_add(l, topic, (int32_t)p);
	err = rd_kafka_committed(rk, l, 10000);
	if (err) {
		snprintf(why, whylen, "rd_kafka_committed: %s", rd_kafka_err2str(err));
	} else if ((fp = fopen(path, "w")) == NULL) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		err = RD_KAFKA_RESP_ERR__FS;
	} else {
		for (int i = 0; i < l->cnt; i++)
			if (l->elems[i].offset >= 0)
				fprintf(fp, "%d %lld%s%.*s\n", (int)l->elems[i].partition,
					(long long)l->elems[i].offset,
					l->elems[i].metadata_size > 0 ? " " : "",
					(int)l->elems[i].metadata_size,
					(const char *)l->elems[i].metadata);
			else
				fprintf(fp, "%d none\n", (int)l->elems[i].partition);
		fclose(fp);
	}
	/* The list goes before the handle, or rd_kafka_destroy() hangs. */
	rd_kafka_topic_partition_list_destroy(l);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return err ? -1 : 0;
}

/* One command line; returns 0 or -1 with why set, 1 for quit. */
static int command(rd_kafka_mock_cluster_t *mc, int brokers, char *line, char *why, size_t whylen)
{
	char a[256], b[256], c[1024];
	long x, y;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

	if (strcmp(line, "quit") == 0)
		return 1;
	if (sscanf(line, "topic %255s %ld", a, &x) == 2)
		return create_topic(mc, a, x, brokers, why, whylen);
	if (sscanf(line, "committed %255s %255s %ld %1023s", a, b, &x, c) == 4)
		return committed(mc, a, b, x, c, why, whylen);
	if (sscanf(line, "down %ld", &x) == 1)
		err = rd_kafka_mock_broker_set_down(mc, (int32_t)x);
	else if (sscanf(line, "up %ld", &x) == 1)
		err = rd_kafka_mock_broker_set_up(mc, (int32_t)x);
	else if (sscanf(line, "leader %255s %ld %ld", b, &x, &y) == 3)
		err = rd_kafka_mock_partition_set_leader(mc, b, (int32_t)x, (int32_t)y);
	else if (sscanf(line, "produce-error %ld", &x) == 1)
		/* The next Produce request fails with error code x (e.g. 10,
		 * MESSAGE_TOO_LARGE): its messages are refused. */
		rd_kafka_mock_push_request_errors(mc, 0 /* Produce */, 1, (rd_kafka_resp_err_t)x);
	else {
		snprintf(why, whylen, "unknown command '%s'", line);
		return -1;
	}
	if (err) {
		snprintf(why, whylen, "%s", rd_kafka_err2str(err));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char errstr[512], line[1024], why[1200];
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	struct sigaction sa;
	int brokers = 3, i = 1, status = 0;

	if (argc > 2 && strcmp(argv[1], "-n") == 0) {
		char *end;

		brokers = (int)strtol(argv[2], &end, 10);
		if (*end != '\0' || end == argv[2])
			brokers = 0;
		i = 3;
	}
	if (brokers < 1 || brokers > 16) {
		fprintf(stderr, "kafka-mock: -n: expected 1 to 16 brokers\n");
		return 2;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);	/* no SA_RESTART: fgets() returns */
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL) {
		fprintf(stderr, "kafka-mock: rd_kafka_new: %s\n", errstr);
		return 1;
	}
	mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (mc == NULL) {
		fprintf(stderr, "kafka-mock: could not start the mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	for (; i < argc; i++) {
		char *colon = strrchr(argv[i], ':');
		char *end;
		long parts;

		if (colon == NULL) {
			fprintf(stderr, "kafka-mock: '%s': expected TOPIC:PARTITIONS\n", argv[i]);
			status = 2;
			goto out;
		}
		*colon = '\0';
		errno = 0;
		parts = strtol(colon + 1, &end, 10);
		if (errno != 0 || *end != '\0' || end == colon + 1 ||
		    create_topic(mc, argv[i], parts, brokers, why, sizeof(why)) < 0) {
			fprintf(stderr, "kafka-mock: topic %s: %s\n", argv[i],
				errno != 0 || *end != '\0' ? "bad partition count" : why);
			status = 2;
			goto out;
		}
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	while (!stop && fgets(line, sizeof(line), stdin) != NULL) {
		int r;

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		r = command(mc, brokers, line, why, sizeof(why));
		if (r == 1)
			break;
		if (r < 0)
			printf("error: %s\n", why);
		else
			printf("ok\n");
		fflush(stdout);
	}
out:
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return status;
}
