/**
 * The JSON-lines conformance interface. An implementation under test reads one request per
 * line on stdin and writes one response per line on stdout:
 *
 *   → {"id":1,"op":"verify","recordHex":"7b…","now":1790000000000}
 *   ← {"id":1,"ok":true,"type":"help-release","author":"12D3…","seq":7,"ts":…,"body":{…}}
 *   ← {"id":2,"ok":false,"code":"ERR_BAD_SIGNATURE"}
 *
 * Operations and their fields are those of `ProtocolImpl` (conformance.ts: sign, verify,
 * gossip, canonical, parse, frame, stream, url) and, defined by @reef/governance, of its
 * ledger and governance operations (ledger, log, evidence). `serveJsonLines` exposes any set
 * of operations this way; `jsonLinesClient` drives one. Lines end with "\n" only; U+2028 and U+2029 inside JSON are
 * written escaped so that line-splitting readers elsewhere do not break on them. A line may
 * be at most MAX_JSONL_LINE_BYTES long.
 */
import type { Readable, Writable } from 'node:stream'
import { PROTOCOL_OPS } from './conformance.ts'
import type { Outcome, ProtocolImpl } from './conformance.ts'

/** Operations by name: each takes the request object and answers an Outcome. */
export type OpHandlers = Readonly<Record<string, (req: never) => Promise<Outcome>>>

export const MAX_JSONL_LINE_BYTES = 4 * 1024 * 1024

function toLine(value: object): string {
  return (
    JSON.stringify(value)
      .replace(/\u2028/g, '\\u2028')
      .replace(/\u2029/g, '\\u2029') + '\n'
  )
}

/** Split a byte stream into "\n"-terminated lines; a longer line than the limit is reported as null. */
async function* readLines(input: Readable): AsyncGenerator<string | null> {
  let buf = ''
  let overflow = false
  input.setEncoding('utf8')
  for await (const chunk of input as AsyncIterable<string>) {
    buf += chunk
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (overflow) {
        overflow = false
        yield null
      } else yield line
    }
    if (buf.length > MAX_JSONL_LINE_BYTES) {
      overflow = true
      buf = ''
    }
  }
}

/** Answer JSON-lines requests from `input` on `output` with the operations of `impl` until input ends. */
export async function serveJsonLines(impl: OpHandlers | ProtocolImpl, input: Readable, output: Writable): Promise<void> {
  const ops = impl as unknown as Record<string, unknown>
  for await (const line of readLines(input)) {
    if (line !== null && line.trim() === '') continue
    let id: unknown = null
    let reply: object
    try {
      if (line === null) throw new Error('line too long')
      const req = JSON.parse(line) as { id?: unknown; op?: unknown }
      id = req.id ?? null
      const handler = typeof req.op === 'string' && Object.hasOwn(ops, req.op) ? ops[req.op] : undefined
      if (typeof handler !== 'function') reply = { ok: false, code: 'ERR_UNKNOWN_OP' }
      else reply = await (handler as (r: unknown) => Promise<Outcome>)(req)
    } catch {
      reply = { ok: false, code: 'ERR_BAD_REQUEST' }
    }
    output.write(toLine({ id, ...reply }))
  }
}

/**
 * A ProtocolImpl that forwards every call as a JSON line to `input`/`output` of another process;
 * `call` sends any other operation (the governance ones) the same way.
 */
export function jsonLinesClient(
  toImpl: Writable,
  fromImpl: Readable,
  timeoutMs = 10_000
): ProtocolImpl & { call(op: string, req: object): Promise<Outcome>; close(): void } {
  let next = 1
  const pending = new Map<number, (o: Outcome) => void>()
  let closed = false
  const settleAll = (): void => {
    for (const r of pending.values()) r({ ok: false, code: 'ERR_IMPL_EXITED' })
    pending.clear()
  }
  void (async () => {
    try {
      for await (const line of readLines(fromImpl)) {
        if (line === null) continue
        try {
          const { id, ...outcome } = JSON.parse(line) as { id: number } & Outcome
          const resolve = pending.get(id)
          // The id only matches answers to requests: the caller sees the outcome alone.
          if (resolve !== undefined) {
            pending.delete(id)
            resolve(outcome as Outcome)
          }
        } catch {
          /* not a response: ignore */
        }
      }
    } catch {
      /* stream failed */
    }
    closed = true
    settleAll()
  })()
  const send = async (op: string, req: object): Promise<never> =>
    new Promise(resolve => {
      const id = next++
      // An implementation that never answers must not hang the runner.
      const timer = setTimeout(() => {
        pending.delete(id)
        resolve({ ok: false, code: 'ERR_IMPL_TIMEOUT' } as never)
      }, timeoutMs)
      pending.set(id, (o: Outcome) => {
        clearTimeout(timer)
        resolve(o as never)
      })
      if (closed) {
        settleAll()
        return
      }
      toImpl.write(toLine({ id, op, ...req }))
    })
  const impl = Object.fromEntries(PROTOCOL_OPS.map(op => [op, async (req: object) => send(op, req)])) as unknown as ProtocolImpl
  return {
    ...impl,
    call: send,
    close: () => {
      toImpl.end()
    }
  }
}
