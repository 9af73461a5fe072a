/*
 * The daemon's side of the signer (signer.h): loading the KeyTable's keys
 * into it (main thread, at start and on SIGHUP), and asking it for
 * signatures (one client per worker, on the worker's libuv loop, never
 * blocking it).
 */
#ifndef SG_DAEMON_SIGNER_CLIENT_H
#define SG_DAEMON_SIGNER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>
#include <uv.h>

#include "config.h"
#include "maps.h"
#include "signer_proto.h"

/* Not a wire status: the signer is gone (its channel closed or broke). */
#define SG_SIGNER_GONE 255

/* "no such key", ... or "signer gone". */
const char *sg_signer_status_str(int status);

/* At start, before the privileges are dropped: fork the signer (as
 * signer.h says) with a control channel and one channel per worker, and
 * load the keys of maps into it. *fds (nworkers + 1, malloc'd): [0] the
 * control channel, [1 + i] worker i's. warn: "" or the signer's start-up
 * warning (sg_signer_spawn), which the caller says, whether the keys then
 * load or not. */
int sg_signer_start(const sg_config *cfg, sg_maps *maps, unsigned nworkers, int **fds, pid_t *pid,
                    char *warn, size_t warnlen, char *err, size_t errlen);
/* Close the channels still held (-1: handed over) and reap the signer. */
void sg_signer_stop(int *fds, unsigned nworkers, pid_t pid);

/* Main thread: make the keys of maps the signer's key table (each key's
 * path is its id), and fill in each key's algorithm and bits; errors name
 * table (the KeyTable's file). With cfg, the table is also checked
 * against it (sg_maps_check_algs) before the signer takes it. Blocks at
 * most a few seconds per key. -1 with the reason in err: the signer keeps
 * serving its previous table. */
int sg_signer_load_keys(int ctl_fd, sg_maps *maps, const sg_config *cfg, const char *table,
                        char *err, size_t errlen);

typedef struct sg_signer_client sg_signer_client;

/* status SG_SP_OK: sigs[i] (siglens[i] bytes) signs the i-th digest; the
 * bytes are valid during the call only. */
typedef void (*sg_signer_cb)(int status, const uint8_t *const *sigs, const size_t *siglens,
                             size_t n, void *payload);

/* Takes fd (the worker's channel). */
int sg_signer_client_new(sg_signer_client **out, uv_loop_t *loop, int fd);
/* After the loop is closed (its poll handle is closed with the loop's). */
void sg_signer_client_free(sg_signer_client *c);

/* Ask for the signatures of items (1..SG_SP_MAX_ITEMS); cb runs later from
 * the loop, never inside this call. Returns the request's id, or 0 if the
 * signer is gone or memory ran out (no callback then). */
uint32_t sg_signer_sign(sg_signer_client *c, const sg_sp_item *items, size_t n, sg_signer_cb cb,
                        void *payload);
/* The requester is gone: its callback will not run. */
void sg_signer_cancel(sg_signer_client *c, uint32_t id);
/* How long (ms, by the loop's clock) the oldest request still waiting for
 * its answer has waited; 0 when none waits or the signer is gone (that
 * is signer_died's case). The signer answers every request it reads, so a
 * long wait means a wedged signer (worker.c publishes it for the
 * watchdog). */
uint64_t sg_signer_client_waited(const sg_signer_client *c);
/* Answers read from the signer so far (a cancelled request's included):
 * a count that moves shows the signer alive. */
uint64_t sg_signer_client_answers(const sg_signer_client *c);

#endif
