// Package gateway is the transport-free prediction service: it routes one
// validated input through the live deployment and hands its record to the
// recorder. The HTTP front end (package api) and the Open Inference Protocol
// v2 front end (package api/oip) are thin layers over it: they decode,
// call a Gateway method, and encode.
//
// # The deployment
//
// A Deployment is one immutable value: the rendezvous router over the live
// members, the input schema, the label words. The Gateway holds the current
// one behind a single atomic pointer (Swap replaces it). A request uses the
// deployment it started with from its first step to its record: a swap never
// changes the members, roles or labels of a request already in flight.
//
// # What a caller is promised
//
//   - Predict returns as soon as the rendezvous policy decides (production
//     in time, else the first fallback in time, else nothing by the overall
//     deadline). It never waits for a shadow, for the recorder or for the
//     store. A non-nil error wraps rendezvous.ErrNoAnswer (the front ends
//     answer 503) or is the caller's context error.
//   - Every call of Predict produces exactly one record, and so does every
//     instance of PredictBatch and every call of Reject. The record of a
//     routed input is built once every member has answered or been cut off
//     (so a late answer is part of it, with status late), on a goroutine of
//     the router's, and handed to the Recorder without blocking. It holds
//     the request (id, time, endpoint, entity, validated input), every
//     member's result (role, version, artifact, features, prediction,
//     label, probability, latency, status, error) and the decision (who
//     served, why, the deadline, the latency). Recording on or off makes no
//     difference to this code path: with no Recorder the record is built
//     and discarded, so the metrics observe the same results.
//   - Reject archives a request refused before any model ran (status
//     rejected): the raw body as received, up to Params.MaxRecordedBody
//     bytes, and every problem found. It never blocks.
//
// # What each failure does
//
//   - Production fails (error, panic, in-flight cap, deadline): the policy
//     falls back; the failure is in production's result, never an error to
//     the caller.
//   - A fallback or shadow fails: recorded in its result; the caller never
//     sees it.
//   - Nothing qualifies: Predict returns an error wrapping
//     rendezvous.ErrNoAnswer; the record is still written, with status
//     unavailable and every member's result.
//   - The recorder's queue is full: the record is dropped and counted by the
//     recorder; the answer is unaffected.
//   - The store is down: Record (read your writes) returns its error; the
//     prediction path is unaffected.
//
// Wait blocks until every record of every request started so far has been
// handed to the recorder (shutdown: stop the front ends, Wait, close the
// recorder, close the store).
package gateway
