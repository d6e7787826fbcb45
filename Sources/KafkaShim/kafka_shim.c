#include "kafka_shim.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CW_LOG_RING 256
#define CW_MAX_TOPICS 256

typedef struct cw_ring {
    cw_log_entry entries[CW_LOG_RING];
    size_t head; /* index of the oldest entry */
    size_t len;
} cw_ring;

struct cw_client {
    rd_kafka_t *rk;
    rd_kafka_queue_t *consumer_queue; /* consumers only */
    cw_client_kind kind;
    int closing;

    pthread_mutex_t lock; /* guards everything below */
    cw_delivery_report *reports;
    size_t reports_len, reports_cap;
    cw_ring errors;
    cw_ring logs;
    uint64_t dropped;

    rd_kafka_topic_t *topics[CW_MAX_TOPICS]; /* fixed: producers read it without the lock */
    size_t topics_len;

    /* Set by the rebalance callback, applied by cw_rebalance_complete. Touched only by the
     * polling thread. */
    cw_rebalance_kind rebalance;
    rd_kafka_topic_partition_list_t *rebalance_parts;
};

struct cw_batch {
    rd_kafka_message_t **messages;
    cw_message_view *views;
    size_t count, capacity;
};

static void copy_str(char *dst, size_t cap, const char *src) {
    if (!src) src = "";
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int cw_error_from_code(cw_error *err, rd_kafka_resp_err_t code, const char *context) {
    if (!err) return -1;
    memset(err, 0, sizeof(*err));
    err->code = code;
    snprintf(err->message, sizeof(err->message), "%s%s%s", context ? context : "",
             context ? ": " : "", rd_kafka_err2str(code));
    return -1;
}

/* Takes ownership of e. */
static int fill_error(cw_error *err, rd_kafka_error_t *e, const char *context) {
    if (!e) return 0;
    if (err) {
        memset(err, 0, sizeof(*err));
        err->code = rd_kafka_error_code(e);
        err->retriable = rd_kafka_error_is_retriable(e);
        err->abortable = rd_kafka_error_txn_requires_abort(e);
        err->fatal = rd_kafka_error_is_fatal(e);
        snprintf(err->message, sizeof(err->message), "%s: %s", context, rd_kafka_error_string(e));
    }
    rd_kafka_error_destroy(e);
    return -1;
}

static void ring_push(cw_client *c, cw_ring *ring, const cw_log_entry *entry) {
    if (ring->len == CW_LOG_RING) { /* keep the newest; count what was overwritten */
        ring->head = (ring->head + 1) % CW_LOG_RING;
        ring->len--;
        c->dropped++;
    }
    ring->entries[(ring->head + ring->len) % CW_LOG_RING] = *entry;
    ring->len++;
}

static size_t ring_drain(cw_client *c, cw_ring *ring, cw_log_entry *out, size_t max) {
    pthread_mutex_lock(&c->lock);
    size_t n = 0;
    while (n < max && ring->len > 0) {
        out[n++] = ring->entries[ring->head];
        ring->head = (ring->head + 1) % CW_LOG_RING;
        ring->len--;
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* ---- librdkafka callbacks: buffer and return, never call out ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    cw_client *c = opaque;
    pthread_mutex_lock(&c->lock);
    if (c->reports_len == c->reports_cap) {
        size_t cap = c->reports_cap ? c->reports_cap * 2 : 1024;
        cw_delivery_report *grown = realloc(c->reports, cap * sizeof(*grown));
        if (!grown) { /* out of memory: count the loss instead of crashing */
            c->dropped++;
            pthread_mutex_unlock(&c->lock);
            return;
        }
        c->reports = grown;
        c->reports_cap = cap;
    }
    cw_delivery_report *r = &c->reports[c->reports_len++];
    r->id = (uint64_t)(uintptr_t)m->_private;
    r->error = m->err;
    r->partition = m->partition;
    r->offset = m->offset;
    pthread_mutex_unlock(&c->lock);
}

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque) {
    cw_client *c = opaque;
    cw_log_entry e;
    memset(&e, 0, sizeof(e));
    e.level = 3;
    e.code = code;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[400];
        e.code = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        e.fatal = 1;
        snprintf(e.message, sizeof(e.message), "fatal: %s", buf);
    } else {
        copy_str(e.message, sizeof(e.message), reason);
    }
    copy_str(e.facility, sizeof(e.facility), rd_kafka_err2name(e.code));
    pthread_mutex_lock(&c->lock);
    ring_push(c, &c->errors, &e);
    pthread_mutex_unlock(&c->lock);
}

/* Asynchronous offset commits report here; a failure joins the error queue (a lost commit
 * only means a longer replay, but it must not pass unseen). */
static void on_offset_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque) {
    (void)offsets;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
    char reason[256];
    snprintf(reason, sizeof(reason), "offset commit failed: %s", rd_kafka_err2str(err));
    on_error(rk, err, reason, opaque);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    cw_client *c = rd_kafka_opaque(rk);
    if (!c) return;
    cw_log_entry e;
    memset(&e, 0, sizeof(e));
    e.level = level;
    copy_str(e.facility, sizeof(e.facility), fac);
    copy_str(e.message, sizeof(e.message), buf);
    pthread_mutex_lock(&c->lock);
    ring_push(c, &c->logs, &e);
    pthread_mutex_unlock(&c->lock);
}

static int cooperative(cw_client *c) {
    return strcmp(rd_kafka_rebalance_protocol(c->rk), "COOPERATIVE") == 0;
}

static rd_kafka_error_t *apply_rebalance(cw_client *c, cw_rebalance_kind kind,
                                         rd_kafka_topic_partition_list_t *parts) {
    if (kind == CW_REBALANCE_ASSIGN) {
        if (cooperative(c)) return rd_kafka_incremental_assign(c->rk, parts);
        rd_kafka_resp_err_t e = rd_kafka_assign(c->rk, parts);
        return e ? rd_kafka_error_new(e, "assign failed") : NULL;
    }
    if (cooperative(c)) return rd_kafka_incremental_unassign(c->rk, parts);
    rd_kafka_resp_err_t e = rd_kafka_assign(c->rk, NULL);
    return e ? rd_kafka_error_new(e, "unassign failed") : NULL;
}

/* Records the change and yields so the poll returns; the caller finishes its work (commit,
 * state flush) and then calls cw_rebalance_complete. librdkafka waits for that call. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    cw_client *c = opaque;
    if (c->rebalance != CW_REBALANCE_NONE) cw_rebalance_complete(c, NULL);

    cw_rebalance_kind kind;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        kind = CW_REBALANCE_ASSIGN;
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        kind = rd_kafka_assignment_lost(rk) ? CW_REBALANCE_LOST : CW_REBALANCE_REVOKE;
    } else { /* rebalance failure: librdkafka asks for a full unassign */
        rd_kafka_assign(rk, NULL);
        cw_log_entry e;
        memset(&e, 0, sizeof(e));
        e.level = 3;
        e.code = err;
        copy_str(e.facility, sizeof(e.facility), "REBALANCE");
        copy_str(e.message, sizeof(e.message), rd_kafka_err2str(err));
        pthread_mutex_lock(&c->lock);
        ring_push(c, &c->errors, &e);
        pthread_mutex_unlock(&c->lock);
        return;
    }
    if (c->closing) { /* leaving the group: the caller already finished its work */
        rd_kafka_error_t *e = apply_rebalance(c, kind, parts);
        if (e) rd_kafka_error_destroy(e);
        return;
    }
    c->rebalance_parts = rd_kafka_topic_partition_list_copy(parts);
    c->rebalance = kind;
    rd_kafka_yield(rk);
}

/* ---- Client ---- */

cw_client *cw_client_new(cw_client_kind kind, const char *const *keys, const char *const *values,
                         size_t count, cw_error *err) {
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    cw_client *c = calloc(1, sizeof(*c));
    if (!c) {
        rd_kafka_conf_destroy(conf);
        cw_error_from_code(err, RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE, "allocating client");
        return NULL;
    }
    c->kind = kind;
    pthread_mutex_init(&c->lock, NULL);

    if (kind == CW_CONSUMER) {
        /* Defaults the caller may override: incremental rebalancing, no auto commit. */
        rd_kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", NULL, 0);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    }
    for (size_t i = 0; i < count; i++) {
        if (rd_kafka_conf_set(conf, keys[i], values[i], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
            if (err) {
                memset(err, 0, sizeof(*err));
                err->code = RD_KAFKA_RESP_ERR__INVALID_ARG;
                snprintf(err->message, sizeof(err->message), "property \"%s\": %s", keys[i],
                         errstr);
            }
            rd_kafka_conf_destroy(conf);
            pthread_mutex_destroy(&c->lock);
            free(c);
            return NULL;
        }
    }
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    if (kind == CW_PRODUCER) {
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    } else {
        rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
        rd_kafka_conf_set_offset_commit_cb(conf, on_offset_commit);
    }

    c->rk = rd_kafka_new(kind == CW_PRODUCER ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER, conf, errstr,
                         sizeof(errstr));
    if (!c->rk) { /* conf is still ours on failure */
        if (err) {
            memset(err, 0, sizeof(*err));
            err->code = RD_KAFKA_RESP_ERR__INVALID_ARG;
            copy_str(err->message, sizeof(err->message), errstr);
        }
        rd_kafka_conf_destroy(conf);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    if (kind == CW_CONSUMER) {
        rd_kafka_poll_set_consumer(c->rk); /* errors and rebalances arrive on the consumer queue */
        c->consumer_queue = rd_kafka_queue_get_consumer(c->rk);
    }
    return c;
}

rd_kafka_t *cw_client_handle(const cw_client *client) { return client->rk; }

void cw_client_destroy(cw_client *c) {
    if (!c) return;
    if (c->kind == CW_CONSUMER) cw_consumer_close(c, NULL);
    if (c->rebalance_parts) rd_kafka_topic_partition_list_destroy(c->rebalance_parts);
    for (size_t i = 0; i < c->topics_len; i++) rd_kafka_topic_destroy(c->topics[i]);
    if (c->consumer_queue) rd_kafka_queue_destroy(c->consumer_queue);
    rd_kafka_destroy(c->rk);
    free(c->reports);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* ---- Consuming ---- */

cw_batch *cw_batch_new(size_t capacity) {
    if (capacity == 0) capacity = 1;
    cw_batch *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->messages = calloc(capacity, sizeof(*b->messages));
    b->views = calloc(capacity, sizeof(*b->views));
    if (!b->messages || !b->views) {
        free(b->messages);
        free(b->views);
        free(b);
        return NULL;
    }
    b->capacity = capacity;
    return b;
}

void cw_batch_clear(cw_batch *b) {
    for (size_t i = 0; i < b->count; i++) rd_kafka_message_destroy(b->messages[i]);
    b->count = 0;
}

void cw_batch_free(cw_batch *b) {
    if (!b) return;
    cw_batch_clear(b);
    free(b->messages);
    free(b->views);
    free(b);
}

size_t cw_batch_count(const cw_batch *b) { return b->count; }
const cw_message_view *cw_batch_views(const cw_batch *b) { return b->views; }

int cw_batch_header(const cw_batch *b, size_t message, size_t index, cw_header_view *out) {
    if (message >= b->count) return -1;
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(b->messages[message], &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (rd_kafka_header_get_all(hdrs, index, &out->name, &out->value, &out->value_len) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    return 0;
}

size_t cw_consumer_poll_batch(cw_client *c, cw_batch *b, int timeout_ms) {
    cw_batch_clear(b);
    if (c->rebalance != CW_REBALANCE_NONE) return 0;
    /* rd_kafka_consume_batch_queue waits until the whole capacity is filled or the timeout ends,
     * so a batch at a modest rate would always cost the full timeout in latency. Take what is
     * queued; only when nothing is, wait for one message, then take what came with it. */
    ssize_t n = rd_kafka_consume_batch_queue(c->consumer_queue, 0, b->messages, b->capacity);
    if (n == 0 && timeout_ms != 0 && c->rebalance == CW_REBALANCE_NONE) {
        n = rd_kafka_consume_batch_queue(c->consumer_queue, timeout_ms, b->messages, 1);
        if (n == 1 && b->capacity > 1 && c->rebalance == CW_REBALANCE_NONE) {
            ssize_t more = rd_kafka_consume_batch_queue(c->consumer_queue, 0, b->messages + 1,
                                                        b->capacity - 1);
            if (more > 0) n += more;
        }
    }
    if (n <= 0) return 0;
    size_t kept = 0;
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = b->messages[i];
        if (m->err) { /* consumer errors travel with the errors, not the data */
            cw_log_entry e;
            memset(&e, 0, sizeof(e));
            e.level = 3;
            e.code = m->err;
            copy_str(e.facility, sizeof(e.facility), rd_kafka_err2name(m->err));
            snprintf(e.message, sizeof(e.message), "%s [%d]: %s",
                     m->rkt ? rd_kafka_topic_name(m->rkt) : "-", (int)m->partition,
                     rd_kafka_message_errstr(m));
            pthread_mutex_lock(&c->lock);
            ring_push(c, &c->errors, &e);
            pthread_mutex_unlock(&c->lock);
            rd_kafka_message_destroy(m);
            continue;
        }
        b->messages[kept] = m;
        cw_message_view *v = &b->views[kept];
        v->topic = rd_kafka_topic_name(m->rkt);
        v->partition = m->partition;
        v->offset = m->offset;
        rd_kafka_timestamp_type_t tstype;
        v->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
        v->key = m->key;
        v->key_len = m->key_len;
        v->value = m->payload;
        v->value_len = m->len;
        rd_kafka_headers_t *hdrs = NULL;
        v->header_count = rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR
                              ? rd_kafka_header_cnt(hdrs)
                              : 0;
        kept++;
    }
    b->count = kept;
    return kept;
}

cw_rebalance_kind cw_rebalance_pending(const cw_client *c) { return c->rebalance; }

const rd_kafka_topic_partition_list_t *cw_rebalance_partitions(const cw_client *c) {
    return c->rebalance_parts;
}

int cw_rebalance_complete(cw_client *c, cw_error *err) {
    if (c->rebalance == CW_REBALANCE_NONE) return 0;
    rd_kafka_error_t *e = apply_rebalance(c, c->rebalance, c->rebalance_parts);
    rd_kafka_topic_partition_list_destroy(c->rebalance_parts);
    c->rebalance_parts = NULL;
    c->rebalance = CW_REBALANCE_NONE;
    return fill_error(err, e, "completing rebalance");
}

int cw_consumer_close(cw_client *c, cw_error *err) {
    if (c->kind != CW_CONSUMER || c->closing) return 0;
    c->closing = 1;
    cw_rebalance_complete(c, NULL);
    rd_kafka_resp_err_t code = rd_kafka_consumer_close(c->rk);
    if (code) return cw_error_from_code(err, code, "closing consumer");
    return 0;
}

/* ---- Producing ---- */

int32_t cw_topic_id(cw_client *c, const char *topic, cw_error *err) {
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->topics_len; i++) {
        if (strcmp(rd_kafka_topic_name(c->topics[i]), topic) == 0) {
            pthread_mutex_unlock(&c->lock);
            return (int32_t)i;
        }
    }
    if (c->topics_len == CW_MAX_TOPICS) {
        pthread_mutex_unlock(&c->lock);
        return cw_error_from_code(err, RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE, "too many topics");
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, topic, NULL);
    if (!rkt) {
        pthread_mutex_unlock(&c->lock);
        return cw_error_from_code(err, rd_kafka_last_error(), topic);
    }
    c->topics[c->topics_len] = rkt;
    int32_t id = (int32_t)c->topics_len++;
    pthread_mutex_unlock(&c->lock);
    return id;
}

size_t cw_produce_batch(cw_client *c, const cw_produce_record *records, size_t count,
                        cw_error *err) {
    pthread_mutex_lock(&c->lock);
    size_t topics_len = c->topics_len; /* entries below this never change */
    pthread_mutex_unlock(&c->lock);
    rd_kafka_topic_t *const *topics = c->topics;
    for (size_t i = 0; i < count; i++) {
        const cw_produce_record *r = &records[i];
        if (r->topic_id < 0 || (size_t)r->topic_id >= topics_len) {
            cw_error_from_code(err, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC, "invalid topic id");
            return i;
        }
        rd_kafka_headers_t *hdrs = NULL;
        if (r->header_count > 0) {
            hdrs = rd_kafka_headers_new(r->header_count);
            for (size_t h = 0; h < r->header_count; h++)
                rd_kafka_header_add(hdrs, r->headers[h].name, -1, r->headers[h].value,
                                    (ssize_t)r->headers[h].value_len);
        }
        rd_kafka_resp_err_t e = rd_kafka_producev(
            c->rk, RD_KAFKA_V_RKT(topics[r->topic_id]), RD_KAFKA_V_PARTITION(r->partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY((void *)r->key, r->key_len),
            RD_KAFKA_V_VALUE((void *)r->value, r->value_len),
            RD_KAFKA_V_TIMESTAMP(r->timestamp_ms),
            RD_KAFKA_V_HEADERS(hdrs), /* owned by librdkafka on success */
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)r->id), RD_KAFKA_V_END);
        if (e) {
            if (hdrs) rd_kafka_headers_destroy(hdrs);
            cw_error_from_code(err, e, rd_kafka_topic_name(topics[r->topic_id]));
            return i;
        }
    }
    return count;
}

int cw_poll(cw_client *c, int timeout_ms) { return rd_kafka_poll(c->rk, timeout_ms); }

size_t cw_drain_delivery_reports(cw_client *c, cw_delivery_report *out, size_t max) {
    pthread_mutex_lock(&c->lock);
    size_t n = c->reports_len < max ? c->reports_len : max;
    memcpy(out, c->reports, n * sizeof(*out));
    memmove(c->reports, c->reports + n, (c->reports_len - n) * sizeof(*out));
    c->reports_len -= n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t cw_pending_delivery_reports(cw_client *c) {
    pthread_mutex_lock(&c->lock);
    size_t n = c->reports_len;
    pthread_mutex_unlock(&c->lock);
    return n;
}

size_t cw_drain_errors(cw_client *c, cw_log_entry *out, size_t max) {
    return ring_drain(c, &c->errors, out, max);
}

size_t cw_drain_logs(cw_client *c, cw_log_entry *out, size_t max) {
    return ring_drain(c, &c->logs, out, max);
}

uint64_t cw_dropped_log_entries(cw_client *c) {
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->dropped;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* ---- Transactions ---- */

int cw_txn_init(cw_client *p, int timeout_ms, cw_error *err) {
    return fill_error(err, rd_kafka_init_transactions(p->rk, timeout_ms), "init_transactions");
}

int cw_txn_begin(cw_client *p, cw_error *err) {
    return fill_error(err, rd_kafka_begin_transaction(p->rk), "begin_transaction");
}

int cw_txn_send_offsets(cw_client *p, cw_client *consumer,
                        const rd_kafka_topic_partition_list_t *offsets, int timeout_ms,
                        cw_error *err) {
    rd_kafka_consumer_group_metadata_t *meta = rd_kafka_consumer_group_metadata(consumer->rk);
    if (!meta) return cw_error_from_code(err, RD_KAFKA_RESP_ERR__STATE, "consumer group metadata");
    rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(p->rk, offsets, meta, timeout_ms);
    rd_kafka_consumer_group_metadata_destroy(meta);
    return fill_error(err, e, "send_offsets_to_transaction");
}

int cw_txn_commit(cw_client *p, int timeout_ms, cw_error *err) {
    return fill_error(err, rd_kafka_commit_transaction(p->rk, timeout_ms), "commit_transaction");
}

int cw_txn_abort(cw_client *p, int timeout_ms, cw_error *err) {
    return fill_error(err, rd_kafka_abort_transaction(p->rk, timeout_ms), "abort_transaction");
}

/* ---- Admin ---- */

int cw_admin_create_topics(cw_client *c, const cw_topic_spec *specs, size_t count, int timeout_ms,
                           cw_topic_result *results, cw_error *err) {
    char errstr[256];
    rd_kafka_NewTopic_t **topics = calloc(count ? count : 1, sizeof(*topics));
    if (!topics) return cw_error_from_code(err, RD_KAFKA_RESP_ERR__CRIT_SYS_RESOURCE, "create topics");
    int rc = -1;
    size_t made = 0;
    rd_kafka_queue_t *queue = NULL;
    rd_kafka_AdminOptions_t *options = NULL;
    rd_kafka_event_t *event = NULL;

    for (; made < count; made++) {
        const cw_topic_spec *s = &specs[made];
        topics[made] = rd_kafka_NewTopic_new(s->name, s->partitions, s->replication_factor, errstr,
                                             sizeof(errstr));
        if (!topics[made]) {
            if (err) {
                memset(err, 0, sizeof(*err));
                err->code = RD_KAFKA_RESP_ERR__INVALID_ARG;
                snprintf(err->message, sizeof(err->message), "topic %s: %s", s->name, errstr);
            }
            goto done;
        }
        for (size_t k = 0; k < s->config_count; k++) {
            rd_kafka_resp_err_t e =
                rd_kafka_NewTopic_set_config(topics[made], s->config_keys[k], s->config_values[k]);
            if (e) {
                made++;
                cw_error_from_code(err, e, s->config_keys[k]);
                goto done;
            }
        }
    }
    queue = rd_kafka_queue_new(c->rk);
    options = rd_kafka_AdminOptions_new(c->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_operation_timeout(options, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(c->rk, topics, count, options, queue);
    event = rd_kafka_queue_poll(queue, timeout_ms + 2000);
    if (!event) {
        cw_error_from_code(err, RD_KAFKA_RESP_ERR__TIMED_OUT, "create topics");
        goto done;
    }
    if (rd_kafka_event_error(event)) {
        if (err) {
            memset(err, 0, sizeof(*err));
            err->code = rd_kafka_event_error(event);
            snprintf(err->message, sizeof(err->message), "create topics: %s",
                     rd_kafka_event_error_string(event));
        }
        goto done;
    }
    const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(event);
    size_t n = 0;
    const rd_kafka_topic_result_t **tres = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < count; i++) {
        results[i].code = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        copy_str(results[i].message, sizeof(results[i].message), "no result from broker");
        for (size_t j = 0; j < n; j++) {
            if (strcmp(rd_kafka_topic_result_name(tres[j]), specs[i].name) == 0) {
                results[i].code = rd_kafka_topic_result_error(tres[j]);
                copy_str(results[i].message, sizeof(results[i].message),
                         rd_kafka_topic_result_error_string(tres[j]));
            }
        }
    }
    rc = 0;
done:
    if (event) rd_kafka_event_destroy(event);
    if (options) rd_kafka_AdminOptions_destroy(options);
    if (queue) rd_kafka_queue_destroy(queue);
    for (size_t i = 0; i < made && i < count; i++)
        if (topics[i]) rd_kafka_NewTopic_destroy(topics[i]);
    free(topics);
    return rc;
}
