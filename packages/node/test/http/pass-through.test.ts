/**
 * `reef start`'s pass-through (pass-through.ts): while the node loads, the front's port passes
 * requests to the origin unchanged, answers 503 with Retry-After when the origin cannot be
 * reached, and frees the port at once when the node takes over.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Agent, request } from 'undici'
import { freePort } from '../../demo/consortium.ts'
import { passThroughTarget, startPassThrough } from '../../src/http/pass-through.ts'

describe('start-up pass-through', () => {
  const origin = createServer((req, res) => {
    let body = ''
    req.on('data', d => {
      body += String(d)
    })
    req.on('end', () => {
      res.writeHead(201, { 'x-origin': 'yes', 'content-type': 'text/plain' })
      res.end(`${req.method} ${req.url} ${req.headers.host} ${body}`)
    })
  })
  let originUrl = ''
  let dir = ''
  const dispatcher = new Agent({ keepAliveTimeout: 10 })
  before(async () => {
    origin.listen(0, '127.0.0.1')
    await once(origin, 'listening')
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`
    dir = await mkdtemp(join(tmpdir(), 'reef-pass-'))
  })
  after(async () => {
    origin.close()
    await dispatcher.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('passes method, path, Host and body to the origin and its status, headers and body back; frees the port on close', async () => {
    const port = await freePort()
    const p = await startPassThrough({ host: '127.0.0.1', port }, originUrl, 5)
    try {
      const res = await request(`http://127.0.0.1:${port}/a/b?c=1`, { method: 'POST', body: 'hello', headers: { host: 'www.example.org' }, dispatcher })
      assert.equal(res.statusCode, 201)
      assert.equal(res.headers['x-origin'], 'yes')
      assert.equal(res.headers['x-reef-pass-through'], '1')
      // No connection outlives its answer: a client reusing one as the node takes over would meet a reset.
      assert.equal(res.headers.connection, 'close')
      assert.equal(await res.body.text(), 'POST /a/b?c=1 www.example.org hello')
    } finally {
      p.close()
    }
    // The node can take the port at once.
    const taker = createServer()
    taker.listen(port, '127.0.0.1')
    await once(taker, 'listening')
    taker.close()
  })

  it('answers 503 with Retry-After, at once, when the origin cannot be reached', async () => {
    const port = await freePort()
    const p = await startPassThrough({ host: '127.0.0.1', port }, `http://127.0.0.1:${await freePort()}`, 7)
    try {
      const res = await request(`http://127.0.0.1:${port}/`, { dispatcher })
      assert.equal(res.statusCode, 503)
      assert.equal(res.headers['retry-after'], '7')
      assert.equal(res.headers.connection, 'close')
      await res.body.dump()
    } finally {
      p.close()
    }
  })

  it('reads only what it needs from the config file; anything unclear means no pass-through', async () => {
    const file = join(dir, 'reef.jsonc')
    await writeFile(file, '// a node\n{ "front": { "listen": { "port": 8000 } }, "origin": { "url": "http://127.0.0.1:8080" } }')
    assert.deepEqual(await passThroughTarget(file), { listen: { host: '127.0.0.1', port: 8000 }, originUrl: 'http://127.0.0.1:8080/', retryAfterS: 5 })
    for (const bad of [
      '{ "front": { "listen": { "port": 0 } }, "origin": { "url": "http://127.0.0.1:8080" } }',
      '{ "front": { "listen": { "port": 8000 } } }',
      '{ "front": { "listen": { "port": 8000 } }, "origin": { "url": "https://x" } }',
      'not json'
    ]) {
      await writeFile(file, bad)
      assert.equal(await passThroughTarget(file), undefined, bad)
    }
    assert.equal(await passThroughTarget(join(dir, 'missing.jsonc')), undefined)
  })
})
