import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import {
  ReplayGuard,
  canonicalBaseUrl,
  gossipVerdictFor,
  helpTopic,
  ledgerTopic,
  loadTopic,
  signRecord,
  topicRecordTypes,
  validateGossip
} from '../src/index.ts'
import { newKey, validBodies } from './fixtures.ts'
import type { TestKey } from './fixtures.ts'

const TS = 1_790_000_000_000
let alice: TestKey
let bob: TestKey

before(async () => {
  alice = await newKey()
  bob = await newKey()
})

describe('validateGossip', () => {
  test('accepts a fresh record on its topic from its author, once: the copy is an Ignore (ERR_REPLAY)', async () => {
    const bytes = await signRecord(alice.key, alice.id, 'help-release', validBodies(bob.id)['help-release'], { seq: 5, ts: TS })
    const replay = new ReplayGuard()
    const ctx = { topic: helpTopic('c'), from: alice.id, now: TS, replay }
    assert.equal((await validateGossip(bytes, ctx)).verdict, 'accept')
    assert.deepEqual(await validateGossip(bytes, ctx).then(d => [d.verdict, d.verdict === 'accept' ? '' : d.code]), ['ignore', 'ERR_REPLAY'])
  })

  test('a record that is not accepted does not raise the replay bar', async () => {
    const bytes = await signRecord(alice.key, alice.id, 'load-report', validBodies(bob.id)['load-report'], { seq: 9, ts: TS })
    const replay = new ReplayGuard()
    const wrongTopic = await validateGossip(bytes, { topic: helpTopic('c'), from: alice.id, now: TS, replay })
    assert.deepEqual(wrongTopic.verdict === 'accept' ? [] : [wrongTopic.verdict, wrongTopic.code], ['reject', 'ERR_WRONG_TOPIC'])
    const stranger = await validateGossip(bytes, { topic: loadTopic('c'), from: alice.id, now: TS, replay, standing: () => 'non-member' })
    assert.deepEqual(stranger.verdict === 'accept' ? [] : [stranger.verdict, stranger.code], ['ignore', 'ERR_NOT_MEMBER'])
    assert.equal((await validateGossip(bytes, { topic: loadTopic('c'), from: alice.id, now: TS, replay })).verdict, 'accept')
  })

  test('relayed under another from: Reject ERR_WRONG_AUTHOR; an expelled author: Reject ERR_EXPELLED', async () => {
    const bytes = await signRecord(alice.key, alice.id, 'delegation', validBodies(bob.id).delegation, { seq: 1, ts: TS })
    const forged = await validateGossip(bytes, { topic: ledgerTopic('c'), from: bob.id, now: TS })
    assert.deepEqual(forged.verdict === 'accept' ? [] : [forged.verdict, forged.code], ['reject', 'ERR_WRONG_AUTHOR'])
    const expelled = await validateGossip(bytes, { topic: ledgerTopic('c'), from: alice.id, now: TS, standing: () => 'expelled' })
    assert.deepEqual(expelled.verdict === 'accept' ? [] : [expelled.verdict, expelled.code], ['reject', 'ERR_EXPELLED'])
  })

  test('clock-dependent failures and replays are Ignore, everything else Reject', () => {
    for (const c of ['ERR_EXPIRED', 'ERR_FUTURE_TIMESTAMP', 'ERR_REPLAY']) assert.equal(gossipVerdictFor(c), 'ignore')
    for (const c of ['ERR_SCHEMA', 'ERR_BAD_SIGNATURE', 'ERR_WRONG_TOPIC', 'ERR_WRONG_AUTHOR', 'ERR_UNKNOWN_VERSION', 'ERR_OVERSIZE'])
      assert.equal(gossipVerdictFor(c), 'reject')
  })
})

describe('topics and base URLs', () => {
  test('each Reef topic carries its record types; other names carry none', () => {
    assert.deepEqual(topicRecordTypes(loadTopic('reef-demo')), ['load-report'])
    assert.ok(topicRecordTypes(helpTopic('reef-demo'))?.includes('standby'))
    assert.equal(topicRecordTypes('/reef/reef-demo/help/2'), undefined)
    assert.equal(topicRecordTypes('/reef/Reef/help/1'), undefined)
  })

  test('canonicalBaseUrl gives the URL origin and refuses what is not a base URL', () => {
    assert.equal(canonicalBaseUrl('HTTP://Example.COM:80/'), 'http://example.com')
    assert.equal(canonicalBaseUrl('https://a.example:8443'), 'https://a.example:8443')
    for (const bad of ['https://a.example/x', 'https://a.example?', 'https:a.example', 'https://a.example\\x', 'ws://a.example']) {
      assert.throws(() => canonicalBaseUrl(bad), { code: 'ERR_SCHEMA' }, bad)
    }
  })
})
