package record

// spill is what Enqueue does, with a spool, when the queue is full (in
// records or in bytes): rather than drop the record, it appends everything
// queued and then the record to the spool, oldest first, one frame per
// queued batch, in groups of at most spillGroupBytes (one write and one
// fsync each), and marks the recorder as spooling, so that later batches
// follow them into the spool and reach the store after them. The queue is
// empty again afterwards, so memory stays within QueueMaxBytes plus the
// group being encoded. Records are dropped (spool_full, spool_error) only
// when the spool cannot take them.
//
// Order: spilled records come after everything spooled before them. The
// one batch the batcher may be writing to the store at that moment (its
// first attempt, bounded by SpoolAfter) is older; if that attempt fails it
// is spooled after the spilled records, the only reordering (writes are
// idempotent by id, and the gateway never records two requests under one id
// while the first is still in the recorder).
//
// The caller blocks for the spool's fsyncs (not for the store); concurrent
// callers finding the queue full wait for the spill in progress and then
// find room. It returns "" once rec is spooled (its waiter, if any, is told
// nil at once) or the reason it was dropped.
func (r *Recorder) spill(rec Record, size int64, waiter chan error) string {
	r.spoolMu.Lock()
	defer r.spoolMu.Unlock()
	r.mu.Lock()
	if reason := r.refusalLocked(size); reason == "" {
		r.pushLocked(rec, size, waiter) // another spill made room meanwhile
		return ""
	} else if reason == DropClosed {
		r.dropLocked(reason, 1)
		r.mu.Unlock()
		return reason
	}
	own := &chunk{recs: []Record{rec}, bytes: size}
	r.seq++
	own.lastSeq = r.seq
	r.depth++
	r.stats.Enqueued++
	r.stats.Spilled++
	taken := append(r.chunks, own)
	r.chunks = nil
	r.spilling = taken // Lookup finds them until they are in the spool's index
	r.mu.Unlock()

	var err error
	for len(taken) > 0 {
		n, groupBytes := 1, taken[0].bytes
		for n < len(taken) && groupBytes+taken[n].bytes <= r.spillGroupBytes() {
			groupBytes += taken[n].bytes
			n++
		}
		group := taken[:n]
		taken = taken[n:]
		batches := make([][]Record, len(group))
		for i, c := range group {
			batches[i] = c.recs
			if c != own {
				r.mu.Lock()
				r.stats.Spilled += uint64(len(c.recs))
				r.mu.Unlock()
			}
		}
		err = r.spoolLocked(batches)
		r.settleSpilled(group, own, err)
	}
	if err != nil {
		return err.(*DropError).Reason
	}
	if waiter != nil {
		waiter <- nil
	}
	return ""
}

// spillGroupBytes bounds, as estimated by Record.SizeHint, the records a
// spill encodes and appends at once: one batch's worth, so a spill holds no
// more encoded bytes than a store write does (1,000 rejected 1 MiB bodies:
// RSS +111 MB with one batch, +153 to +172 MB with four).
func (r *Recorder) spillGroupBytes() int64 { return r.opts.BatchMaxBytes }

// settleSpilled updates the books once a spilled group's append returned
// err (nil: spooled; else a *DropError, the records counted as dropped) and
// tells the group's waiters, except own's (spill's caller is answered by
// its return value).
func (r *Recorder) settleSpilled(group []*chunk, own *chunk, err error) {
	var waiters []chan error
	r.mu.Lock()
	last := group[len(group)-1].lastSeq
	for _, c := range group {
		if c != own {
			r.bytes -= c.bytes
			waiters = append(waiters, c.waiters...)
		}
	}
	r.spilling = r.spilling[len(group):]
	if len(r.spilling) == 0 {
		r.spilling = nil
	}
	// DurableSeq: every spilled record is durable or dropped now, but the
	// batch the batcher may still be writing is older than them.
	r.spilledSeq = last
	if c := r.current; c == nil || c.lastSeq > last {
		r.stats.DurableSeq = max(r.stats.DurableSeq, last)
	}
	for _, c := range group {
		if c == own {
			continue
		}
		clear(c.recs)
		c.recs, c.bytes, c.waiters = c.recs[:0], 0, nil
		if len(r.spare) < maxSpareChunks && cap(c.recs) <= r.opts.BatchSize {
			r.spare = append(r.spare, c)
		}
	}
	r.mu.Unlock()
	for _, w := range waiters {
		w <- err
	}
}
