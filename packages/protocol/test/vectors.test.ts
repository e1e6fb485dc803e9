import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { checkVectors, jsonLinesClient, localImpl, makeVectors } from '../src/index.ts'
import type { ProtocolImpl } from '../src/index.ts'
import { loadVectors } from '../scripts/load-vectors.ts'

describe('test vectors', () => {
  it('the committed vectors are exactly what the code produces (run pnpm vectors:write after a wire change)', async () => {
    const committed = await loadVectors()
    const fresh = await makeVectors()
    assert.deepEqual(JSON.parse(JSON.stringify(committed)), JSON.parse(JSON.stringify(fresh)))
  })

  it('this implementation passes every vector, with an invalid example for every error code', async () => {
    const v = await loadVectors()
    const { checked, failures } = await checkVectors(localImpl, v)
    assert.deepEqual(failures, [])
    assert.ok(checked >= 40)
    const codes = new Set([
      ...v.records.invalid.map(r => r.error),
      ...v.canonical.invalid.map(c => c.error),
      ...v.records.gossip.map(g => g.code),
      ...v.frames.map(f => f.error),
      ...v.streams.map(f => f.error)
    ])
    for (const code of [
      'ERR_ENCODING',
      'ERR_OVERSIZE',
      'ERR_SCHEMA',
      'ERR_UNKNOWN_TYPE',
      'ERR_UNKNOWN_VERSION',
      'ERR_BAD_SIGNATURE',
      'ERR_WRONG_DOMAIN',
      'ERR_EXPIRED',
      'ERR_FUTURE_TIMESTAMP',
      'ERR_REPLAY',
      'ERR_WRONG_TOPIC',
      'ERR_WRONG_AUTHOR',
      'ERR_FRAMING',
      'ERR_BODY_SIZE',
      'ERR_BODY_HASH'
    ]) {
      assert.ok(codes.has(code), `no vector for ${code}`)
    }
    // Every failure a gossip validator can see has its verdict.
    const verdicts = new Map(v.records.gossip.filter(g => g.code !== undefined).map(g => [g.code, g.verdict]))
    for (const code of ['ERR_EXPIRED', 'ERR_FUTURE_TIMESTAMP', 'ERR_REPLAY', 'ERR_NOT_MEMBER']) assert.equal(verdicts.get(code), 'ignore', code)
    for (const code of [
      'ERR_WRONG_TOPIC',
      'ERR_WRONG_AUTHOR',
      'ERR_BAD_SIGNATURE',
      'ERR_SCHEMA',
      'ERR_UNKNOWN_VERSION',
      'ERR_ENCODING',
      'ERR_UNKNOWN_TYPE',
      'ERR_EXPELLED'
    ])
      assert.equal(verdicts.get(code), 'reject', code)
    for (const type of ['load-report', 'help-request', 'help-offer', 'help-accept', 'help-release']) {
      assert.ok(
        v.records.valid.some(r => r.type === type),
        `no valid vector for ${type}`
      )
    }
  })

  it('runs against another process over the JSON-lines interface', async () => {
    const adapter = fileURLToPath(new URL('../scripts/jsonl-impl.ts', import.meta.url))
    const child = spawn(process.execPath, [adapter], { stdio: ['pipe', 'pipe', 'inherit'] })
    const client = jsonLinesClient(child.stdin, child.stdout, 10_000)
    try {
      const { failures } = await checkVectors(client, await loadVectors())
      assert.deepEqual(failures, [])
    } finally {
      client.close()
      child.kill()
    }
  })

  it('catches an implementation that accepts what it must reject, or encodes differently', async () => {
    const lax: ProtocolImpl = {
      ...localImpl,
      verify: async req => {
        const r = await localImpl.verify({ ...req, now: Date.now() + 10 ** 12 })
        return r.ok ? r : { ok: true, type: 'help-release', author: '', seq: 0, ts: 0, body: {} }
      },
      canonical: async req => ({ ok: true, hex: Buffer.from(JSON.stringify(req.value)).toString('hex') })
    }
    const { failures } = await checkVectors(lax, await loadVectors())
    assert.ok(
      failures.some(f => f.vector.startsWith('reject: ')),
      'lax verification not caught'
    )
    assert.ok(
      failures.some(f => f.vector.startsWith('canonical: ')),
      'non-canonical encoding not caught'
    )
  })

  it('catches a gossip validator that rejects what it must ignore, a stream reader that skips the body checks, and a URL that is not normalised', async () => {
    const v = await loadVectors()
    const strict: ProtocolImpl = {
      ...localImpl,
      // The gap issue 14 was about: every failure answered Reject.
      gossip: async req => {
        const r = await localImpl.gossip(req)
        return r.ok && r.verdict === 'ignore' ? { ...r, verdict: 'reject' } : r
      }
    }
    const g = (await checkVectors(strict, v)).failures.map(f => f.vector)
    assert.deepEqual(
      g,
      v.records.gossip.filter(x => x.verdict === 'ignore').map(x => `gossip: ${x.description}`)
    )
    const trusting: ProtocolImpl = {
      ...localImpl,
      stream: async req => {
        const r = await localImpl.stream({ hex: req.hex })
        return r.ok || r.code !== 'ERR_BODY_HASH' ? r : { ok: true, head: {}, bodyHex: '' }
      }
    }
    const s = (await checkVectors(trusting, v)).failures.map(f => f.vector)
    assert.ok(s.includes('reject stream: a body that matches the head but not the manifest entry'), s.join('\n'))
    const verbatim: ProtocolImpl = { ...localImpl, url: async req => ({ ok: true, canonical: req.value }) }
    const u = (await checkVectors(verbatim, v)).failures.map(f => f.vector)
    assert.ok(u.includes('base URL: a trailing / is dropped') && u.includes('base URL: a path'), u.join('\n'))
  })
})
