/**
 * The fetch stream (FETCH_PROTOCOL, SPEC.md §Fetch stream). An accepted helper opens a stream
 * to the struck site's node (dialled by peer id: an open connection, the peer store, else a
 * lookup in the Reef DHT) and sends one request frame {session, path}; the struck node answers
 * one response head {status, headers, size, sha256} and, for status 200, the body as chunk
 * frames of 1 to FETCH_CHUNK_BYTES bytes, then closes. The requester checks the body with the
 * protocol's FetchBodyReader (length, chunk sizes, hashes). The struck node answers from
 * its cache and otherwise fetches from its origin (one fetch per object at a time, through the
 * origin gate); it serves only accepted helpers of its current session and only shareable objects.
 *
 * A helper answers the same stream for a session it serves, to the other helpers of that
 * session (mirror-fill.ts): from its cache, or by fetching the object from the struck site.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import type { Libp2p, Stream, Connection } from '@libp2p/interface'
import {
  FETCH_CHUNK_BYTES,
  FETCH_PROTOCOL,
  FetchBodyReader,
  MAX_FETCH_FRAME_BYTES,
  decodeFetchRequest,
  decodeFetchResponseHead,
  encodeFetchRequest,
  encodeFetchResponseHead,
  isProtocolError
} from '@reef/protocol'
import type { FetchResponseHead, ManifestEntry } from '@reef/protocol'
import type { Logger } from 'pino'
import type { CachedObject } from '../origin/content-cache.ts'
import { FetchInterruptedError, FetchRefusedError, IntegrityError, TooLargeError } from '../errors.ts'
import { FETCH_TIMEOUT_MS } from '../constants.ts'

export { FETCH_CHUNK_BYTES }

export interface FetchServerDeps {
  log: Logger
  isAcceptedHelper: (session: string, peer: string) => boolean
  /**
   * The object for a path of the local site, from cache or origin, asked by an accepted helper of
   * `session`; a FetchRefusedError says why not.
   */
  load: (path: string, session: string) => Promise<CachedObject>
  /**
   * As a helper: the object for `path` of the site that `session` helps, when `peer` is another
   * accepted helper of it (undefined: it is not, 403).
   */
  forHelper?: (session: string, peer: string, path: string) => Promise<CachedObject> | undefined
  /** Told of the bytes each answer puts on the uplink (they count against it like the front's). */
  onSent?: (bytes: number) => void
  /** Told of a body about to be sent (+size) and of its end (−size): bytes helpers are waiting for. */
  onPending?: (bytes: number) => void
}

export async function registerFetchServer(libp2p: Libp2p, deps: FetchServerDeps): Promise<void> {
  await libp2p.handle(
    FETCH_PROTOCOL,
    async (stream: Stream, connection: Connection) => {
      const signal = AbortSignal.timeout(FETCH_TIMEOUT_MS)
      const lp = lpStream(stream, { maxDataLength: MAX_FETCH_FRAME_BYTES })
      const t0 = performance.now()
      let tLoaded = 0
      try {
        const req = decodeFetchRequest((await lp.read({ signal })).subarray())
        const tRead = performance.now()
        const peer = connection.remotePeer.toString()
        let head: FetchResponseHead
        let body: Buffer | undefined
        const pending = deps.isAcceptedHelper(req.session, peer) ? deps.load(req.path, req.session) : deps.forHelper?.(req.session, peer, req.path)
        if (pending === undefined) {
          head = { v: 1, status: 403, headers: {}, size: 0 }
        } else {
          try {
            const obj = await pending
            head = { v: 1, status: 200, headers: { ...obj.headers }, size: obj.body.byteLength, sha256: obj.sha256 }
            body = obj.body
          } catch (err) {
            const status = err instanceof FetchRefusedError ? err.status : 502
            head = { v: 1, status, headers: {}, size: 0 }
          }
        }
        tLoaded = performance.now()
        const headBytes = encodeFetchResponseHead(head)
        await lp.write(headBytes, { signal })
        deps.onSent?.(headBytes.byteLength)
        if (body !== undefined) {
          const chunks: Uint8Array[] = []
          for (let off = 0; off < body.byteLength; off += FETCH_CHUNK_BYTES) chunks.push(body.subarray(off, off + FETCH_CHUNK_BYTES))
          deps.onPending?.(body.byteLength)
          try {
            if (chunks.length > 0) await lp.writeV(chunks, { signal })
          } finally {
            deps.onPending?.(-body.byteLength)
          }
          deps.onSent?.(body.byteLength)
        }
        await stream.close({ signal })
        const t1 = performance.now()
        if (t1 - t0 > 1_000)
          deps.log.debug(
            {
              path: req.path,
              status: head.status,
              size: head.size,
              readMs: Math.round(tRead - t0),
              loadMs: Math.round(tLoaded - tRead),
              sendMs: Math.round(t1 - tLoaded)
            },
            'slow fetch stream served'
          )
      } catch (err) {
        deps.log.debug({ err, code: isProtocolError(err) ? err.code : undefined }, 'fetch stream failed')
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      }
    },
    { maxInboundStreams: 256 }
  )
}

export interface FetchedObject {
  headers: Record<string, string>
  body: Buffer
  sha256: string
}

/** Pull one object from a struck site's node (or a fellow helper); verifies size and hash before returning. */
export async function fetchFromPeer(
  libp2p: Libp2p,
  peer: string,
  session: string,
  path: string,
  maxObjectBytes: number,
  expected?: ManifestEntry,
  timeoutMs = FETCH_TIMEOUT_MS
): Promise<FetchedObject> {
  const signal = AbortSignal.timeout(timeoutMs)
  const stream = await libp2p.dialProtocol(peerIdFromString(peer), FETCH_PROTOCOL, { signal })
  try {
    const lp = lpStream(stream, { maxDataLength: Math.max(FETCH_CHUNK_BYTES, MAX_FETCH_FRAME_BYTES) })
    await lp.write(encodeFetchRequest({ v: 1, session, path }), { signal })
    const head = decodeFetchResponseHead((await lp.read({ signal })).subarray())
    if (head.status !== 200) throw new FetchRefusedError(head.status, `peer answered ${head.status} for ${path}`)
    if (head.size > maxObjectBytes) throw new TooLargeError(`object ${path} of ${head.size} bytes exceeds the limit of ${maxObjectBytes}`)
    let reader: FetchBodyReader
    try {
      reader = new FetchBodyReader(head, expected)
      // Read chunk frames until the stream ends: a body that ends short of `size` fails at
      // reader.end(), and any frame after `size` bytes (even an empty one) is a violation.
      for (;;) {
        const chunk = await lp.read({ signal }).catch((err: Error) => {
          if (err.name !== 'UnexpectedEOFError') throw err
          // The end of the body. The sender ended it (the stream is still open here: a body short
          // of its size is the sender's violation), or the stream was cut under us (reset, or
          // the connection closed: a helper stopped or killed), which says nothing of a body not
          // yet whole. A whole body cut just after its last byte is still checked and kept.
          if (stream.status !== 'open' && !reader.complete)
            throw new FetchInterruptedError(`object ${path}: the fetch stream was ${stream.status} before the body ended`)
          return undefined
        })
        if (chunk === undefined) break
        reader.push(reader.complete ? new Uint8Array(Math.max(1, chunk.byteLength)) : chunk.subarray())
      }
    } catch (err) {
      throw integrity(err, path)
    }
    let checked: { body: Buffer; sha256: string }
    try {
      checked = reader.end()
    } catch (err) {
      throw integrity(err, path)
    }
    await stream.close({ signal }).catch(() => {})
    return { headers: head.headers, body: checked.body, sha256: checked.sha256 }
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  }
}

/** A body that breaks the fetch stream's rules (ERR_FRAMING, ERR_BODY_SIZE, ERR_BODY_HASH) is an IntegrityError to the node. */
function integrity(err: unknown, path: string): unknown {
  if (isProtocolError(err) && ['ERR_FRAMING', 'ERR_BODY_SIZE', 'ERR_BODY_HASH', 'ERR_OVERSIZE'].includes(err.code)) {
    return new IntegrityError(`object ${path}: ${err.message} (${err.code})`)
  }
  return err
}
