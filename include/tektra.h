/* tektra — a local AI assistant. The public API.
 *
 * This is the only header the programs include. It is the umbrella for the
 * module headers under include/tektra/, each of which states its own
 * contracts. Conventions for all of them:
 *
 *  - Functions that can fail return a tk_status and write results through
 *    out-parameters. On failure, tk_last_error() returns a message naming
 *    the problem (per thread, valid until the next failing call).
 *  - Every pointer says whether it is borrowed, owned by the caller (and
 *    freed with which function), or taken over. Freeing NULL is fine.
 *  - The library never prints to stdout and never exits; it logs through the
 *    callback set with tk_log_set().
 */
#ifndef TEKTRA_H
#define TEKTRA_H

#include "tektra/core.h"
#include "tektra/platform.h"
#include "tektra/config.h"
#include "tektra/gguf.h"
#include "tektra/modeldir.h"
#include "tektra/quant.h"
#include "tektra/model.h"
#include "tektra/tokenizer.h"
#include "tektra/hub.h"
#include "tektra/chat.h"
#include "tektra/sampling.h"
#include "tektra/grammar.h"
#include "tektra/backend.h"
#include "tektra/server.h"

#endif
