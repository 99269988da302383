import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets the old generation grow past its live size before the next full collection:
 * to 3× (1 + 200 %). Set when the process starts, before any session.
 *
 * V8's own factor follows how fast the old generation grows, and the gateway's barely does:
 * a bulk transfer allocates short-lived buffers (socket reads, SSH packets, recorded chunks) at
 * hundreds of MiB/s, all of which die young. A full collection that happens during a transfer
 * therefore sets the next limit only a few MiB above the live heap; those young buffers'
 * external bytes then cross it at every scavenge, and V8 starts a futile full marking every
 * 50 ms or so. Measured (Docker exec stdout, 1 GiB, compose audit): once trapped, 146 full
 * collections per 2 GiB, the gateway's CPU per GiB 4.6–5.0 s and 250–275 MiB/s; with this
 * factor 4–6 collections, 1.9–2.0 s per GiB and 447–468 MiB/s. The cost is memory that waits
 * longer to be reclaimed: at most twice the live heap more, which V8 still caps at its maximum.
 */
export const HEAP_GROWING_PERCENT = 200;

setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
